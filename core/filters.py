"""Filters of the logs (balance history, audit log), shared by pages and the API.

One Django form parses the query string for both doors: a page shows its errors next to
the inputs, an API view answers them as a 400 naming the parameters
(:func:`raise_for_api`).  Query parameter names are the same everywhere (``from``, ``to``,
``cursor``...), so a page's filters carry over to its CSV link and to the API.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from django import forms
from django.http import QueryDict
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework.exceptions import ValidationError as ApiValidationError

from core.forms import DescribedErrorsForm
from core.keyset import CURSOR_MAX_LENGTH

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_MOMENT = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})?", re.ASCII
)
TEXT_MAX_LENGTH = 200
MOMENT_HELP = "UTC: 2026-11-27 or 2026-11-27T18:00."


class UtcMomentField(forms.CharField):
    """A moment in UTC, typed as a date (``2026-11-27``) or a date and time
    (``2026-11-27T18:00``, seconds, fractions and an offset optional; without an offset it
    is UTC).  ``end_of_day`` makes a bare date mean the end of that day (for "to")."""

    def __init__(self, *, end_of_day: bool = False, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("max_length", 40)
        kwargs.setdefault("help_text", MOMENT_HELP)
        super().__init__(**kwargs)
        self.end_of_day = end_of_day

    def clean(self, value: Any) -> datetime | None:
        text = super().clean(value)
        if not text:
            return None
        moment: datetime | None = None
        try:
            if _DATE.fullmatch(text):
                day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
                if self.end_of_day:
                    day += timedelta(days=1) - timedelta(microseconds=1)
                moment = day
            elif _MOMENT.fullmatch(text):
                moment = parse_datetime(text)
        except (ValueError, OverflowError):
            moment = None
        if moment is None:
            raise forms.ValidationError(f"Enter a date or a date and time ({MOMENT_HELP})")
        if timezone.is_naive(moment):
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)


class LogFilterForm(DescribedErrorsForm):
    """Date range and cursor; subclasses add their own filters.  Every field optional: an
    empty form is the whole log, newest first."""

    cursor = forms.CharField(required=False, max_length=CURSOR_MAX_LENGTH, strip=False)

    def __init__(self, data: QueryDict | dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(data if data is not None else {}, **kwargs)
        # "from" is a Python keyword, so these two are added here rather than declared.
        self.fields["from"] = UtcMomentField(label="From")
        self.fields["to"] = UtcMomentField(label="To", end_of_day=True)
        self.order_fields(["from", "to", *self.field_order_after_dates()])

    def field_order_after_dates(self) -> list[str]:
        return []

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("from"), data.get("to")
        if start and end and start > end:
            self.add_error("to", "“To” must not be before “From”.")
        return data

    def active_filters(self) -> dict[str, str]:
        """The filters as typed (cursor excluded), for links that carry them."""
        return {
            name: str(self.data.get(name, "")).strip()
            for name in self.fields
            if name != "cursor" and str(self.data.get(name, "")).strip()
        }


def raise_for_api(form: forms.Form) -> None:
    """An invalid filter form as the API's 400 (details name the parameters)."""
    if not form.is_valid():
        raise ApiValidationError(
            {name: [str(message) for message in errors] for name, errors in form.errors.items()}
        )
