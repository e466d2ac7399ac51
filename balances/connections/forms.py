from __future__ import annotations

from typing import Any

from django import forms

from services.models import ProviderConnection

SECRET_HELP = "Write-only. Leave blank to keep the current secret."


def _secret(label: str) -> forms.CharField:
    return forms.CharField(
        label=label,
        required=False,
        strip=False,
        max_length=4096,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=SECRET_HELP,
    )


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.replace(",", "\n").splitlines() if part.strip()]


class ConnectionForm(forms.Form):
    """One form for the four providers; each provider's fields sit in a fieldset named after
    it (``field_kinds``) and the page shows the chosen provider's set."""

    kind = forms.ChoiceField(label="Provider", choices=ProviderConnection.Kind.choices)
    base_url = forms.CharField(
        label="Base URL",
        required=False,
        max_length=500,
        help_text="Leave blank for the provider's documented production host.",
    )
    create_missing_balances = forms.BooleanField(
        required=False,
        help_text="Create a balance when the provider reports a currency this service lacks.",
    )
    # SyncPay
    syncpay_api_key = _secret("API key (sk_test_… or sk_live_…)")
    # Finix
    finix_username = _secret("Username")
    finix_password = _secret("Password")
    finix_balance_ids = forms.CharField(
        label="Balance ids",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One per line (or comma-separated), e.g. BLxxxxxxxx.",
    )
    finix_version = forms.CharField(label="Finix-Version", required=False, initial="2022-02-01")
    # Wise
    wise_api_token = _secret("API token")
    wise_profile_id = forms.CharField(label="Profile id", required=False, max_length=40)
    wise_types = forms.MultipleChoiceField(
        label="Balance types",
        required=False,
        choices=[("STANDARD", "STANDARD"), ("SAVINGS", "SAVINGS (jars count as reserved)")],
        widget=forms.CheckboxSelectMultiple,
        initial=["STANDARD"],
    )
    # Payop
    payop_token = _secret("Token (JWT)")
    payop_currencies = forms.CharField(
        label="Currency filter",
        required=False,
        help_text="Optional, e.g. EUR,USD. Empty for all currencies.",
    )

    field_kinds = {
        "syncpay_api_key": "syncpay",
        "finix_username": "finix",
        "finix_password": "finix",
        "finix_balance_ids": "finix",
        "finix_version": "finix",
        "wise_api_token": "wise",
        "wise_profile_id": "wise",
        "wise_types": "wise",
        "payop_token": "payop",
        "payop_currencies": "payop",
    }

    @classmethod
    def initial_for(cls, connection: ProviderConnection | None) -> dict[str, Any]:
        if connection is None:
            return {"kind": "syncpay", "finix_version": "2022-02-01", "wise_types": ["STANDARD"]}
        o = connection.options or {}
        return {
            "kind": connection.kind,
            "base_url": connection.base_url,
            "create_missing_balances": connection.create_missing_balances,
            "finix_balance_ids": "\n".join(o.get("balanceIds", [])),
            "finix_version": o.get("version", "2022-02-01"),
            "wise_profile_id": o.get("profileId", ""),
            "wise_types": o.get("types", ["STANDARD"]),
            "payop_currencies": ",".join(o.get("currencies", [])),
        }

    def fieldsets(self) -> list[tuple[str, str, list]]:
        labels = dict(ProviderConnection.Kind.choices)
        return [
            (kind, labels[kind], [self[name] for name, k in self.field_kinds.items() if k == kind])
            for kind in ProviderConnection.Kind.values
        ]

    def payload(self) -> dict[str, Any]:
        """What connection_save takes, for the chosen provider only."""
        d = self.cleaned_data
        kind = d["kind"]
        credentials: dict[str, str] = {}
        options: dict[str, Any] = {}
        if kind == "syncpay":
            credentials = {"apiKey": d["syncpay_api_key"]}
        elif kind == "finix":
            credentials = {"username": d["finix_username"], "password": d["finix_password"]}
            options = {
                "balanceIds": _split(d["finix_balance_ids"]),
                "version": d["finix_version"].strip() or "2022-02-01",
            }
        elif kind == "wise":
            credentials = {"apiToken": d["wise_api_token"]}
            options = {
                "profileId": d["wise_profile_id"].strip(),
                "types": d["wise_types"] or ["STANDARD"],
            }
        elif kind == "payop":
            credentials = {"token": d["payop_token"]}
            currencies = [c.upper() for c in _split(d["payop_currencies"])]
            options = {"currencies": currencies} if currencies else {}
        return {
            "kind": kind,
            "base_url": d["base_url"],
            "credentials": {k: v for k, v in credentials.items() if v},
            "options": options,
            "create_missing_balances": d["create_missing_balances"],
        }

    def field_for(self, domain_field: str | None, kind: str) -> str | None:
        """The visible field for a domain error on ``credentials``/``options``: the chosen
        provider's first secret or first option field."""
        if domain_field == "baseUrl":
            return "base_url"
        if domain_field == "kind":
            return "kind"
        names = [n for n, k in self.field_kinds.items() if k == kind]
        secrets = [n for n in names if isinstance(self.fields[n].widget, forms.PasswordInput)]
        others = [n for n in names if n not in secrets]
        if domain_field == "credentials" and secrets:
            return secrets[0]
        if domain_field == "options" and others:
            return others[0]
        return None
