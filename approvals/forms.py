"""Operator input for approvals: the queue's filters, a decision, the bulk bar, a policy."""

from __future__ import annotations

import re
from typing import Any

from django import forms

from approvals.actions import BULK_MAX, COMMENT_MAX_LENGTH
from approvals.models import ApprovalRequest
from core.forms import DescribedErrorsForm
from core.money import currencies
from core.money.forms import AmountField, parse_user_amount

_ID = re.compile(r"apr_[A-Za-z0-9]{1,28}")


class QueueFilterForm(forms.Form):
    """Invalid filters are ignored (the others still apply); status defaults to pending."""

    status = forms.ChoiceField(required=False)
    kind = forms.ChoiceField(required=False)
    currency = forms.CharField(required=False, max_length=16)
    service = forms.CharField(required=False, max_length=32, label="Service id")
    requester = forms.CharField(required=False, max_length=150)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["status"].choices = [
            ("pending", "Pending"),
            ("approved", "Approved"),
            ("rejected", "Rejected"),
            ("expired", "Expired"),
            ("superseded", "Renewed"),
            ("all", "All statuses"),
        ]
        self.fields["kind"].choices = [("", "All kinds"), *ApprovalRequest.Kind.choices]

    def clean_currency(self) -> str:
        return currencies.normalise_code(self.cleaned_data.get("currency"))

    def filters(self) -> dict[str, str]:
        names = ("status", "kind", "currency", "service", "requester")
        if not self.is_bound:
            return {"status": "pending", **{k: "" for k in names[1:]}}
        self.is_valid()
        chosen = {k: str(self.cleaned_data.get(k) or "").strip() for k in names}
        chosen["status"] = chosen["status"] or "pending"
        return chosen


class DecisionForm(DescribedErrorsForm):
    comment = forms.CharField(
        required=False,
        max_length=COMMENT_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Optional; recorded with the decision.",
    )


class BulkDecisionForm(forms.Form):
    """The requests ticked on the queue (their ids); each is decided on its own."""

    decision = forms.ChoiceField(choices=[("approve", "Approve"), ("reject", "Reject")])
    comment = forms.CharField(required=False, max_length=COMMENT_MAX_LENGTH)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        raw = self.data.getlist("approval") if hasattr(self.data, "getlist") else []
        if not raw:
            raise forms.ValidationError("Tick at least one request.")
        if len(raw) > BULK_MAX:
            raise forms.ValidationError(f"Tick at most {BULK_MAX} requests at once.")
        if any(not _ID.fullmatch(str(item)) for item in raw):
            raise forms.ValidationError("The selection is not one this page sent.")
        data["approval_ids"] = list(dict.fromkeys(raw))
        return data


class PolicyForm(DescribedErrorsForm):
    manual_change_above = AmountField(
        required=False,
        label="Manual changes above",
        help_text="A manual balance change whose absolute difference exceeds this waits for "
        "approval; 0: every manual change; empty: none.",
    )
    payout_above = AmountField(
        required=False,
        label="Payouts above",
        help_text="A payout whose amount exceeds this waits for approval; 0: every payout; "
        "empty: none.",
    )
    nonzero_deletion = forms.BooleanField(
        required=False, label="Deleting a balance that is not zero needs approval"
    )

    def __init__(self, *args: Any, currency: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.currency = currency

    def _limit(self, name: str) -> Any:
        raw = (self.cleaned_data.get(name) or "").strip()
        if not raw:
            return None
        try:
            value = parse_user_amount(raw, self.currency)
        except currencies.AmountError as exc:
            raise forms.ValidationError(str(exc)) from None
        if value < 0:
            raise forms.ValidationError("A limit cannot be negative.")
        return value

    def clean_manual_change_above(self) -> Any:
        return self._limit("manual_change_above")

    def clean_payout_above(self) -> Any:
        return self._limit("payout_above")


class PolicyCurrencyForm(forms.Form):
    """Set a policy for a currency that has none yet."""

    currency = forms.ChoiceField(label="Currency")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["currency"].choices = [
            ("", "Choose a currency…"),
            *currencies.currency_choices(),
        ]
