"""Operator input for alert rules and alerts.  The rules (what a threshold must be, which
fields a kind takes) live in alerts/actions.py; these forms only collect the text."""

from __future__ import annotations

from typing import Any

from django import forms

from alerts.actions import NOTE_MAX_LENGTH
from alerts.models import Alert, Kind
from core.money import currencies
from core.money.forms import AmountField, parse_user_amount

KIND_HELP = {
    Kind.AVAILABLE_BELOW: "Available below the threshold.",
    Kind.AVAILABLE_FOR_PAYOUT_BELOW: "Available minus what open payouts hold below the "
    "threshold (0 when left empty).",
    Kind.STALE: "Not confirmed by a sync for more than the minutes given (connected services).",
    Kind.SYNC_FAILING: "This many failed sync runs in a row, or the schedule paused.",
}


class AlertFilterForm(forms.Form):
    status = forms.ChoiceField(required=False)
    currency = forms.CharField(required=False, max_length=16, widget=forms.Select)
    service = forms.CharField(required=False, max_length=32, widget=forms.Select)
    kind = forms.ChoiceField(required=False)

    def __init__(
        self, *args: Any, currency_codes: list[str], services: list[tuple[str, str]], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["status"].choices = [
            ("", "All statuses"),
            ("unresolved", "Open or acknowledged"),
            *Alert.Status.choices,
        ]
        self.fields["currency"].widget.choices = [("", "All currencies")] + [
            (code, code) for code in currency_codes
        ]
        self.fields["service"].widget.choices = [("", "All services"), *services]
        self.fields["kind"].choices = [("", "All kinds"), *Kind.choices]

    def clean_currency(self) -> str:
        return currencies.normalise_code(self.cleaned_data.get("currency"))

    def filters(self) -> dict[str, str]:
        """The valid filters (an invalid one is ignored, the others still apply)."""
        names = ("status", "currency", "service", "kind")
        if not self.is_bound:
            return dict.fromkeys(names, "")
        self.is_valid()
        return {k: self.cleaned_data.get(k) or "" for k in names}


class AlertRuleForm(forms.Form):
    service = forms.ChoiceField(
        required=False,
        help_text="Leave on “All services” to watch the currency everywhere; a service's own "
        "rule of the same kind overrides it.",
    )
    currency = forms.ChoiceField()
    kind = forms.ChoiceField(choices=Kind.choices)
    threshold = AmountField(
        required=False,
        help_text="For the two “below” kinds: an amount with the currency's digits.",
    )
    stale_minutes = forms.CharField(
        label="Minutes without a confirmed sync",
        required=False,
        max_length=9,
        help_text="For “Not synchronised for”.",
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )
    failures = forms.CharField(
        label="Failed runs in a row",
        required=False,
        max_length=9,
        help_text="For “Synchronisation failing” (3 when left empty).",
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )
    emails = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Addresses mailed when an alert of this rule opens; one a line.",
    )

    def __init__(self, *args: Any, services: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["service"].choices = [("", "All services"), *services]
        self.fields["currency"].choices = [
            ("", "Choose a currency…"),
            *currencies.currency_choices(),
        ]
        self.fields["kind"].help_text = " ".join(
            f"{label}: {KIND_HELP[Kind(value)]}" for value, label in Kind.choices
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        kind = data.get("kind")
        # Values of the other kinds are ignored rather than refused: the form shows every
        # field, and the operator may have changed the kind after filling one in.
        if kind not in (Kind.AVAILABLE_BELOW, Kind.AVAILABLE_FOR_PAYOUT_BELOW):
            data["threshold"] = None
        elif data.get("threshold") and data.get("currency"):
            try:
                data["threshold"] = parse_user_amount(data["threshold"], data["currency"])
            except currencies.AmountError as exc:
                self.add_error("threshold", str(exc))
        if kind != Kind.STALE:
            data["stale_minutes"] = None
        if kind != Kind.SYNC_FAILING:
            data["failures"] = None
        return data

    def action_kwargs(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "currency": data["currency"],
            "kind": data["kind"],
            # 0 is a threshold ("available below 0": a negative balance), not a blank.
            "threshold": None if data.get("threshold") in (None, "") else data["threshold"],
            "stale_minutes": data.get("stale_minutes") or None,
            "failures": data.get("failures") or None,
            "emails": data.get("emails") or "",
        }


class AcknowledgeForm(forms.Form):
    note = forms.CharField(
        max_length=NOTE_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="What is being done about it. The alert resolves by itself when the "
        "condition no longer holds.",
    )
