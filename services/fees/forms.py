"""Operator input for fee profiles.  Figures are validated by services/fees.py
(``clean_rule``), whose errors name these fields."""

from __future__ import annotations

from django import forms

from core.money import currencies
from core.money.forms import AmountField, parse_user_amount, ungrouped
from services.fees.actions import DESCRIPTION_MAX_LENGTH, NAME_MAX_LENGTH
from services.models import FeeProfile, FeeRule, Service


class FeeProfileForm(forms.Form):
    name = forms.CharField(max_length=NAME_MAX_LENGTH)
    description = forms.CharField(
        max_length=DESCRIPTION_MAX_LENGTH,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1, required=False)


def _figure(label: str, help_text: str = "") -> forms.CharField:
    return AmountField(label=label, required=False, help_text=help_text)


class FeeRuleForm(forms.Form):
    operation = forms.ChoiceField(choices=FeeRule.Operation.choices)
    currency = forms.ChoiceField(
        required=False, help_text="The rule for a currency wins over the rule for any currency."
    )
    percentage = _figure("Percentage (%)", "Up to 4 decimal places: 1.75 means 1.75 %.")
    fixed_amount = _figure(
        "Fixed amount",
        "Added to every fee, in the payout's currency. In a rule for any currency the same "
        "number counts in each currency: 0.30 means 0.30 EUR or 0.300 KWD. The fee is rounded "
        "half-up to the currency's minor unit after it is added, so in JPY (no decimals) "
        "0.30 alone rounds to 0 JPY.",
    )
    minimum_fee = _figure("Minimum fee")
    maximum_fee = _figure("Maximum fee", "Optional; empty for no maximum.")
    minimum_payout_amount = _figure(
        "Minimum payout amount",
        "Payout rules only. Empty: the platform default (SyncPay's minimum withdrawal).",
    )
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["currency"].choices = [("", "Any currency"), *currencies.currency_choices()]

    def rule_fields(self) -> dict[str, str]:
        """The figures as typed (the action parses them exactly)."""
        data = self.cleaned_data
        return {
            "operation": data["operation"],
            "currency": data.get("currency") or "",
            "percentage": ungrouped(data.get("percentage")) or "0",
            "fixed_amount": ungrouped(data.get("fixed_amount")) or "0",
            "minimum_fee": ungrouped(data.get("minimum_fee")) or "0",
            "maximum_fee": ungrouped(data.get("maximum_fee")) or None,
            "minimum_payout_amount": ungrouped(data.get("minimum_payout_amount")) or None,
        }


class FeeQuoteForm(forms.Form):
    """The fee calculator of a profile's page."""

    INITIAL = {"operation": "payout", "amount": "100.00", "currency": "EUR"}

    operation = forms.ChoiceField(choices=FeeRule.Operation.choices)
    amount = AmountField()
    currency = forms.ChoiceField()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["currency"].choices = currencies.currency_choices()

    def clean(self):
        data = super().clean()
        code, raw = data.get("currency"), data.get("amount")
        if code and raw:
            try:
                data["amount"] = parse_user_amount(raw, code)
            except currencies.AmountError as exc:
                self.add_error("amount", str(exc))
            else:
                if data["amount"] < 0:  # as the API's quote says
                    self.add_error("amount", "The amount cannot be negative.")
        return data


class ServiceFeeProfileForm(forms.Form):
    fee_profile = forms.ModelChoiceField(
        queryset=FeeProfile.objects.order_by("name"),
        required=False,
        empty_label="No profile (platform defaults: fee 0, SyncPay minimums)",
    )


class AssignServiceForm(forms.Form):
    """On a profile's page: give one more service this profile."""

    service = forms.ModelChoiceField(
        queryset=Service.objects.none(), to_field_name="public_id", empty_label="Choose a service…"
    )

    def __init__(self, *args, profile: FeeProfile, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["service"]
        field.queryset = Service.objects.exclude(fee_profile=profile).order_by("name", "id")
        field.label_from_instance = lambda s: f"{s.name} ({s.public_id})"
