"""Operator input for payouts.  The money rules live in payouts/actions.py; these forms only
turn typed text into values (amounts exactly, never rounded)."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django import forms

from core.money import currencies
from core.money.forms import AmountField, parse_user_amount
from payouts.actions import DESTINATION_MAX_LENGTH, REASON_MAX_LENGTH
from payouts.models import Payout


class PayoutFilterForm(forms.Form):
    status = forms.ChoiceField(required=False)
    # Any code may be asked for (a bookmarked filter, a balance deleted since): the list is
    # then empty rather than silently unfiltered.
    currency = forms.CharField(required=False, max_length=16, widget=forms.Select)

    def __init__(self, *args, currency_codes: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["status"].choices = [("", "All statuses"), *Payout.Status.choices]
        self.fields["currency"].widget.choices = [("", "All currencies")] + [
            (code, code) for code in currency_codes
        ]

    def clean_currency(self) -> str:
        return currencies.normalise_code(self.cleaned_data.get("currency"))

    def filters(self) -> dict[str, str]:
        """The filters that are valid (an invalid one is ignored, the others still apply)."""
        if not self.is_bound:
            return {"status": "", "currency": ""}
        self.is_valid()
        return {k: self.cleaned_data.get(k) or "" for k in ("status", "currency")}


class PayoutForm(forms.Form):
    """New payout.  ``idempotency_key`` is minted when the form is first shown, so a double
    submit (or a reload after a timeout) returns the same payout instead of a second one."""

    currency = forms.ChoiceField()
    amount = AmountField()
    destination = forms.CharField(
        max_length=DESTINATION_MAX_LENGTH,
        help_text="Reference to the beneficiary (account, IBAN, wallet address or your own id).",
    )
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=64, required=False)

    def __init__(self, *args, currency_codes: list[str], **kwargs):
        kwargs.setdefault("initial", {}).setdefault("idempotency_key", uuid.uuid4().hex)
        super().__init__(*args, **kwargs)
        self.fields["currency"].choices = [("", "Choose a balance…")] + [
            (code, f"{code} — {currencies.get(code).name}") for code in currency_codes
        ]

    def clean(self):
        data = super().clean()
        code = data.get("currency")
        raw = (self.data.get(self.add_prefix("amount")) or "").strip()
        if code and raw:
            try:
                data["amount"] = parse_user_amount(raw, code)
            except currencies.AmountError as exc:
                self.add_error("amount", str(exc))
        return data

    @property
    def amount_value(self) -> Decimal | None:
        value = self.cleaned_data.get("amount") if hasattr(self, "cleaned_data") else None
        return value if isinstance(value, Decimal) else None


class PayoutTransitionForm(forms.Form):
    reason = forms.CharField(
        max_length=REASON_MAX_LENGTH,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Recorded in the payout's timeline.",
    )
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
