from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from django import forms

from balances.actions.balance import REASON_MAX_LENGTH
from core.filters import TEXT_MAX_LENGTH, LogFilterForm
from core.money import currencies
from core.money.forms import AmountField, parse_user_amount


def _above(limit: Decimal, code: str) -> str:
    if limit == 0:
        return f"any {code} amount"
    return f"{code} above {currencies.format_amount(limit, code)}"


class BalanceCreateForm(forms.Form):
    currency = forms.CharField(widget=forms.Select, strip=False)
    amount = AmountField(
        required=False, label="Opening amount", help_text="Optional; 0 when empty."
    )

    def __init__(self, *args, existing: set[str], limits: Mapping[str, Decimal], **kwargs):
        super().__init__(*args, **kwargs)
        self.existing = existing
        if limits:  # the currencies' manual-change limits (approvals.policy)
            each = "; ".join(_above(limit, code) for code, limit in limits.items())
            self.fields["amount"].help_text = (
                "Optional; 0 when empty. An opening amount above the approval limit waits "
                f"for a second person's approval: {each}."
            )
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

    def __init__(self, *args, currency: str, limit: Decimal | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.currency = currency
        if limit is not None:  # the currency's manual-change limit (approvals.policy)
            self.fields["amount"].help_text = (
                "Every change waits for a second person's approval."
                if limit == 0
                else f"A change of more than {currencies.format_amount(limit, currency)} "
                f"{currency} waits for a second person's approval."
            )

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


ACTOR_KIND_CHOICES = [
    ("", "Anyone"),
    ("person", "Person"),
    ("sync", "Provider sync"),
    ("payout", "Payout"),
    ("approval", "Approved request"),
    ("system", "System"),
]


class HistoryFilterForm(LogFilterForm):
    """Filters of a balance's (or a service's) history, page and API alike.  ``currency``
    only where the history spans currencies."""

    actorKind = forms.ChoiceField(required=False, choices=ACTOR_KIND_CHOICES, label="Who")
    actor = forms.CharField(required=False, max_length=150, label="Actor")
    currency = forms.CharField(required=False, max_length=16, label="Currency")
    reason = forms.CharField(required=False, max_length=TEXT_MAX_LENGTH, label="Reason")

    def __init__(self, *args, with_currency: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        if not with_currency:
            del self.fields["currency"]

    def field_order_after_dates(self) -> list[str]:
        return ["actorKind", "actor", "currency", "reason"]

    def clean_currency(self) -> str:
        raw = self.cleaned_data.get("currency") or ""
        code = currencies.normalise_code(raw)
        if code and not currencies.is_known(code):
            raise forms.ValidationError(f"{code} is not a known currency.")
        return code
