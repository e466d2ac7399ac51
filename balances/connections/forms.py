"""The connection form, built from the provider registry: each provider's credential and
option fields (``balances/providers/``) become form fields named ``<kind>_<snake_name>``
(``finix_balance_ids``), grouped in one fieldset per provider; the page shows the chosen one.
Validation of the values themselves stays with the actions (one place for pages and API)."""

from __future__ import annotations

import re
from typing import Any

from django import forms

from balances.connections.actions import CREDENTIAL_MAX_LENGTH
from balances.providers.base import (
    CredentialField,
    OptionField,
    adapter_classes,
    kind_choices,
)
from services.models import ProviderConnection

SECRET_HELP = (
    "Write-only. Leave blank to keep the current secret (kept only while the provider and "
    "base URL stay the same)."
)


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.replace(",", "\n").splitlines() if part.strip()]


def field_name(kind: str, name: str) -> str:
    """``finix`` + ``balanceIds`` -> ``finix_balance_ids``."""
    return f"{kind}_{re.sub(r'(?<!^)(?=[A-Z])', '_', name).lower()}"


def _credential_field(spec: CredentialField) -> forms.CharField:
    widget: forms.Widget = (
        forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"})
        if spec.secret
        else forms.TextInput(attrs={"autocomplete": "off"})
    )
    return forms.CharField(
        label=spec.label,
        required=False,
        strip=False,
        max_length=CREDENTIAL_MAX_LENGTH,
        widget=widget,
        # Credentials are write-only, secret or not: the form never shows the stored value.
        help_text=" ".join(part for part in (spec.help, SECRET_HELP) if part),
    )


def _option_field(spec: OptionField) -> forms.Field:
    if spec.input == "checkboxes":
        return forms.MultipleChoiceField(
            label=spec.label,
            required=False,
            choices=list(spec.choices),
            widget=forms.CheckboxSelectMultiple,
            help_text=spec.help,
        )
    return forms.CharField(
        label=spec.label,
        required=False,
        max_length=spec.max_length,
        widget=forms.Textarea(attrs={"rows": 3}) if spec.input == "lines" else None,
        help_text=spec.help,
    )


def _option_initial(spec: OptionField, value: Any) -> Any:
    """A stored option as the form shows it."""
    if value is None:
        value = spec.default
    if spec.input == "checkboxes":
        return list(value or [])
    if spec.input == "lines":
        return "\n".join(value or [])
    if spec.input == "list":
        return ",".join(value or [])
    return value if value is not None else ""


def _option_value(spec: OptionField, value: Any) -> Any:
    """Form input as the option's raw value; the adapter's ``validate_options`` checks it and
    fills in the defaults."""
    if spec.input == "checkboxes":
        return list(value or [])
    if spec.input in ("lines", "list"):
        return _split(value or "")
    return (value or "").strip()


class ConnectionForm(forms.Form):
    """One form for every registered provider; each provider's fields sit in a fieldset named
    after it (:meth:`fieldsets`) and the page shows the chosen provider's set."""

    kind = forms.ChoiceField(label="Provider", choices=kind_choices)
    base_url = forms.CharField(
        label="Base URL",
        required=False,
        max_length=500,
        help_text="Leave blank for the provider's documented production host. Another host "
        "must be listed in PROVIDER_BASE_URL_ALLOWLIST; changing the URL needs the credentials "
        "again.",
    )
    create_missing_balances = forms.BooleanField(
        required=False,
        help_text="Create a balance when the provider reports a currency this service lacks.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # {kind: [(form field name, credential or option spec), ...]}, from the registry now
        # (a provider registered later is offered as soon as it is registered).
        self.provider_fields: dict[str, list[tuple[str, CredentialField | OptionField]]] = {}
        for kind, adapter in adapter_classes().items():
            specs: list[CredentialField | OptionField] = [
                *adapter.credential_fields,
                *adapter.option_fields,
            ]
            self.provider_fields[kind] = [(field_name(kind, s.name), s) for s in specs]
            for name, spec in self.provider_fields[kind]:
                self.fields[name] = (
                    _credential_field(spec)
                    if isinstance(spec, CredentialField)
                    else _option_field(spec)
                )

    @classmethod
    def initial_for(cls, connection: ProviderConnection | None) -> dict[str, Any]:
        # A new connection starts on the first provider listed.
        initial: dict[str, Any] = {"kind": next(iter(adapter_classes()), "")}
        if connection is not None:
            initial.update(
                kind=connection.kind,
                base_url=connection.base_url,
                create_missing_balances=connection.create_missing_balances,
            )
        stored = (connection.options or {}) if connection is not None else {}
        for kind, adapter in adapter_classes().items():
            options = stored if connection is not None and connection.kind == kind else {}
            for spec in adapter.option_fields:
                initial[field_name(kind, spec.name)] = _option_initial(spec, options.get(spec.name))
        return initial

    def fieldsets(self) -> list[tuple[str, str, list]]:
        labels = dict(kind_choices())
        return [
            (kind, labels.get(kind, kind), [self[name] for name, _ in fields])
            for kind, fields in self.provider_fields.items()
        ]

    def payload(self) -> dict[str, Any]:
        """What connection_save takes, for the chosen provider only."""
        d = self.cleaned_data
        kind = d["kind"]
        credentials: dict[str, str] = {}
        options: dict[str, Any] = {}
        for name, spec in self.provider_fields.get(kind, []):
            if isinstance(spec, CredentialField):
                if d[name]:
                    credentials[spec.name] = d[name]
            else:
                options[spec.name] = _option_value(spec, d[name])
        return {
            "kind": kind,
            "base_url": d["base_url"],
            "credentials": credentials,
            "options": options,
            "create_missing_balances": d["create_missing_balances"],
        }

    def field_for(self, domain_field: str | None, kind: str) -> str | None:
        """The visible field for a domain error on ``credentials``/``options``: the chosen
        provider's first credential or first option field."""
        if domain_field == "baseUrl":
            return "base_url"
        if domain_field == "kind":
            return "kind"
        fields = self.provider_fields.get(kind, [])
        wanted = {"credentials": CredentialField, "options": OptionField}.get(domain_field or "")
        for name, spec in fields:
            if wanted is not None and isinstance(spec, wanted):
                return name
        return None
