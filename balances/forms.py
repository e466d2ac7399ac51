from __future__ import annotations

import re
from decimal import Decimal

from django import forms

from balances import currencies
from balances.actions.balance import REASON_MAX_LENGTH
from balances.errors import DomainError

_GROUPED = re.compile(r"^[-+]?\d{1,3}(,\d{3})+(\.\d+)?$")


def parse_user_amount(raw: str, currency: str) -> Decimal:
    """An amount typed by an operator: spaces, a typographic minus and thousands commas
    ("12,500.75") are accepted; precision is checked, never rounded."""
    text = (raw or "").strip().replace("\u2212", "-").replace(" ", "").replace("\u00a0", "")
    if _GROUPED.match(text):
        text = text.replace(",", "")
    if "," in text:
        raise currencies.AmountError("Use a point as the decimal separator, e.g. 1250.50.")
    return currencies.parse_amount(text, currency)


def add_domain_error(form: forms.Form, exc: DomainError) -> int:
    """Show an action's error on the form: on the field it names when the form has that
    field, else above the form.  Returns the error's HTTP status for the page."""
    form.add_error(exc.field if exc.field in form.fields else None, exc.message)
    return exc.http_status


class AmountField(forms.CharField):
    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 40)
        super().__init__(**kwargs)
        self.widget.attrs.update({"inputmode": "decimal", "autocomplete": "off", "class": "mono"})


class BalanceCreateForm(forms.Form):
    currency = forms.CharField(widget=forms.Select)
    amount = AmountField(
        required=False, label="Opening amount", help_text="Optional; 0 when empty."
    )

    def __init__(self, *args, existing: set[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.existing = existing
        self.fields["currency"].widget.choices = [
            ("", "Choose a currency…"),
            *currencies.currency_choices(exclude=existing),
        ]

    def clean_currency(self) -> str:
        code = currencies.normalise_code(self.cleaned_data.get("currency"))
        if not currencies.is_known(code):
            raise forms.ValidationError(f"{code or 'That'} is not a known currency.")
        if code in self.existing:
            raise forms.ValidationError(f"This service already has a {code} balance.")
        return code

    def clean(self):
        data = super().clean()
        code = data.get("currency")
        raw = (data.get("amount") or "").strip()
        if code:
            try:
                data["amount"] = parse_user_amount(raw, code) if raw else Decimal(0)
            except currencies.AmountError as exc:
                self.add_error("amount", str(exc))
        return data


class BalanceEditForm(forms.Form):
    amount = AmountField(label="Balance")
    reason = forms.CharField(
        max_length=REASON_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Required. Recorded in the balance's history.",
    )
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)

    def __init__(self, *args, currency: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.currency = currency

    def clean_amount(self) -> Decimal:
        try:
            return parse_user_amount(self.cleaned_data["amount"], self.currency)
        except currencies.AmountError as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("Give a reason for the change.")
        return reason


class BalanceDeleteForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    reason = forms.CharField(max_length=REASON_MAX_LENGTH, required=False)
