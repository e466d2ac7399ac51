"""The "as of" fields of the pages: a ``<input type="datetime-local">`` read as UTC (the
page says so).  A link may also carry an RFC 3339 moment with its offset."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import forms

from balances.history.asof import InvalidMoment, parse_local_utc, parse_moment
from balances.history.export import CURRENT_ONLY_FIGURES


def clean_moment(raw: str) -> datetime:
    """The page's value (UTC wall time) or an RFC 3339 moment; ``ValidationError``."""
    try:
        return parse_local_utc(raw)
    except InvalidMoment as local_error:
        try:
            return parse_moment(raw)
        except InvalidMoment as exc:
            message = str(exc) if "future" in str(exc) else str(local_error)
            raise forms.ValidationError(message) from None


def _moment_input() -> forms.DateTimeInput:
    return forms.DateTimeInput(
        attrs={"type": "datetime-local", "step": "1", "aria-describedby": "id_as_of_helptext"},
        format="%Y-%m-%dT%H:%M:%S",
    )


class AsOfForm(forms.Form):
    """The balances page's picker: required once submitted."""

    as_of = forms.CharField(
        label="As of (UTC)",
        max_length=64,
        help_text="Date and time in UTC; the cards show the balances as they were then.",
        widget=_moment_input(),
    )

    def clean_as_of(self) -> datetime:
        return clean_moment(self.cleaned_data["as_of"])


class ExportForm(forms.Form):
    """The download of balances across services: optionally as of a moment."""

    as_of = forms.CharField(
        label="As of (UTC, optional)",
        required=False,
        max_length=64,
        help_text="Leave empty for the balances now.",
        widget=_moment_input(),
    )

    def __init__(self, *args: Any, figure: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.figure = figure

    def clean_as_of(self) -> datetime | None:
        raw = self.cleaned_data["as_of"]
        if not raw:
            return None
        moment = clean_moment(raw)
        if self.figure in CURRENT_ONLY_FIGURES:
            raise forms.ValidationError(
                "What payouts held is not kept in the history: clear the “Not zero” filter "
                "or leave this empty."
            )
        return moment
