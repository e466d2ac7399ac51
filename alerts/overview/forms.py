"""The overview's filters and the bulk payout form.  A filter that does not validate is
ignored (the others still apply), so a stale bookmark shows a list rather than an error."""

from __future__ import annotations

import re
from typing import Any

from django import forms

from alerts.overview import queries
from balances.models import SyncRun
from balances.providers.base import kind_choices
from core.money import currencies
from payouts.actions import ACTIONS, REASON_MAX_LENGTH
from services.countries import country_name
from services.models import Service

BULK_MAX = 100
_SELECTION = re.compile(r"(po_[a-z0-9]{1,28}):([0-9]{1,9})", re.ASCII)


class _Filters(forms.Form):
    names: tuple[str, ...] = ()

    def filters(self) -> dict[str, Any]:
        if not self.is_bound:
            return dict.fromkeys(self.names, "")
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        return {name: data.get(name) or "" for name in self.names}


def _currency_choices(codes: list[str], everything: str) -> list[tuple[str, str]]:
    return [("", everything), *((code, code) for code in codes)]


def _provider_choices() -> list[tuple[str, str]]:
    return [("", "All providers"), *kind_choices(), (queries.NO_PROVIDER, "No provider")]


class AttentionFilterForm(_Filters):
    names = queries.ATTENTION_FILTERS

    currency = forms.ChoiceField(required=False)
    provider = forms.ChoiceField(required=False)
    country = forms.ChoiceField(required=False)
    status = forms.ChoiceField(required=False, label="Service status")
    issue = forms.ChoiceField(required=False)

    def __init__(self, *args: Any, currency_codes: list[str], countries: list[str], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["currency"].choices = _currency_choices(currency_codes, "All currencies")
        self.fields["provider"].choices = _provider_choices()
        self.fields["country"].choices = [
            ("", "All countries"),
            *((code, f"{country_name(code)} ({code})") for code in countries),
        ]
        self.fields["status"].choices = [("", "All statuses"), *Service.Status.choices]
        self.fields["issue"].choices = [("", "All issues"), *queries.ISSUES.items()]

    def chosen(self) -> queries.AttentionFilters:
        return queries.AttentionFilters(**self.filters())


class BalanceFilterForm(_Filters):
    names = ("currency", "figure")

    currency = forms.ChoiceField(required=False)
    figure = forms.ChoiceField(required=False, label="Not zero")

    def __init__(self, *args: Any, currency_codes: list[str], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["currency"].choices = _currency_choices(currency_codes, "All currencies")
        self.fields["figure"].choices = [
            ("", "Any balance"),
            *((key, label) for key, label in queries.FIGURES.items() if key != "available"),
        ]


class SyncRunFilterForm(_Filters):
    names = ("status", "provider", "trigger", "date_from", "date_to")

    status = forms.ChoiceField(required=False)
    provider = forms.ChoiceField(required=False)
    trigger = forms.ChoiceField(required=False)
    date_from = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["status"].choices = [("", "All statuses"), *SyncRun.Status.choices]
        self.fields["provider"].choices = [("", "All providers"), *kind_choices()]
        self.fields["trigger"].choices = [("", "All triggers"), *SyncRun.Trigger.choices]

    def filters(self) -> dict[str, Any]:
        chosen = super().filters()
        for name in ("date_from", "date_to"):
            chosen[name] = chosen[name] or None
        return chosen


class PayoutFilterForm(_Filters):
    names = ("currency", "service")

    currency = forms.ChoiceField(required=False)
    service = forms.ChoiceField(required=False)

    def __init__(
        self,
        *args: Any,
        currency_codes: list[str],
        services: list[tuple[str, str]],
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        self.fields["currency"].choices = _currency_choices(currency_codes, "All currencies")
        self.fields["service"].choices = [
            ("", "All services"),
            *((public_id, f"{name} ({public_id})") for public_id, name in services),
        ]


VERB_LABELS = {
    "process": "Start processing",
    "pay": "Mark paid",
    "fail": "Mark failed",
    "cancel": "Cancel payout",
}


class BulkPayoutForm(forms.Form):
    """The payouts ticked on the list, each as ``<payout id>:<version seen>``: a payout that
    moved since the list was shown is refused rather than acted on blindly."""

    action = forms.ChoiceField(choices=[(verb, VERB_LABELS[verb]) for verb in ACTIONS])
    reason = forms.CharField(required=False, max_length=REASON_MAX_LENGTH)
    # Where to go back to: the list's filters (checked like the list checks them).
    currency = forms.CharField(required=False, max_length=16)
    service = forms.CharField(required=False, max_length=32)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        raw = self.data.getlist("payout") if hasattr(self.data, "getlist") else []
        if not raw:
            raise forms.ValidationError("Tick at least one payout.")
        if len(raw) > BULK_MAX:
            raise forms.ValidationError(f"Tick at most {BULK_MAX} payouts at once.")
        selections: dict[str, int] = {}
        for item in raw:
            match = _SELECTION.fullmatch(str(item))
            if match is None:
                raise forms.ValidationError("The selection is not one this page sent.")
            selections.setdefault(match.group(1), int(match.group(2)))
        data["selections"] = list(selections.items())
        return data

    def back_query(self) -> dict[str, str]:
        data = getattr(self, "cleaned_data", {})
        query = {}
        code = currencies.normalise_code(data.get("currency") or "")
        if currencies.CODE.fullmatch(code or "-"):
            query["currency"] = code
        service = data.get("service") or ""
        if re.fullmatch(r"srv_[a-z0-9]{1,28}", service):
            query["service"] = service
        return query
