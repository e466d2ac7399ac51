"""The operator's decision on a review page: which value, an optional note, and the review
the page showed (so that a decision never lands on a review opened after the page loaded)."""

from __future__ import annotations

from django import forms

from balances.actions.balance import REASON_MAX_LENGTH
from balances.reviews.actions import DECISIONS


class ReviewDecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[(d, d) for d in DECISIONS])
    note = forms.CharField(
        max_length=REASON_MAX_LENGTH,
        required=False,
        label="Note",
        help_text="Optional; recorded in the balance's history with your decision.",
    )
    review = forms.CharField(max_length=32, widget=forms.HiddenInput)
