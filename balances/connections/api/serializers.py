"""Input and output shapes of the provider connection API (camelCase).

Credentials are write-only: accepted on PUT, never returned; the output only says which of
them are set (``credentialsSet``).  Kinds, credential and option names come from the provider
registry.
"""

from __future__ import annotations

import textwrap
from typing import Any

from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from balances.connections.actions import CREDENTIAL_MAX_LENGTH
from balances.connections.queries import effective_base_url, stored_credential_names
from balances.providers.base import adapter_classes, kind_choices
from services.models import ProviderConnection


class ProviderKindField(serializers.ChoiceField):
    """The registered provider kinds, read when the serializer is built (the schema's
    ``ProviderKindEnum``)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=kind_choices(), **kwargs)


class EffectiveBaseUrlField(serializers.CharField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(source="*", **kwargs)

    def to_representation(self, value: ProviderConnection) -> str:
        return effective_base_url(value)


@extend_schema_serializer(component_name="ProviderConnection")
class ConnectionOut(serializers.Serializer):
    kind = ProviderKindField()
    baseUrl = serializers.CharField(
        source="base_url", help_text="Empty: the provider's documented production host."
    )
    effectiveBaseUrl = EffectiveBaseUrlField()
    credentialsSet = serializers.SerializerMethodField(
        help_text="Names of the stored credentials; their values are never returned."
    )
    options = serializers.DictField()
    createMissingBalances = serializers.BooleanField(source="create_missing_balances")
    paused = serializers.BooleanField(source="is_paused")
    pausedReason = serializers.CharField(source="paused_reason")
    consecutiveFailures = serializers.IntegerField(source="consecutive_failures")
    nextSyncAt = serializers.DateTimeField(source="next_sync_at", allow_null=True)
    lastSuccessAt = serializers.DateTimeField(source="last_success_at", allow_null=True)
    updatedAt = serializers.DateTimeField(source="updated_at")

    def get_credentialsSet(self, connection: ProviderConnection) -> list[str]:
        return stored_credential_names(connection)


def _input_description() -> str:
    """What each provider takes, from the registry (the schema's description of the input)."""
    adapters = adapter_classes().values()
    credentials = "; ".join(
        f"{a.kind} " + ", ".join(f"``{name}``" for name in a.credential_names()) for a in adapters
    )
    options = "; ".join(
        f"{a.kind} "
        + " and ".join(f"``{o.name}``" + (" (list)" if o.is_list else "") for o in a.option_fields)
        for a in adapters
        if a.option_fields
    )
    wrap = textwrap.TextWrapper(width=86, break_on_hyphens=False)
    return "\n".join(
        [
            wrap.fill(
                f"credentials: {credentials}.  A credential left out (or empty) keeps the "
                "stored one while the kind and base URL stay the same; changing either needs "
                "them all again."
            ),
            wrap.fill(f"options: {options}."),
        ]
    )


@extend_schema_serializer(component_name="ProviderConnectionInput")
class ConnectionIn(serializers.Serializer):
    kind = ProviderKindField()
    baseUrl = serializers.CharField(
        required=False, allow_blank=True, max_length=500, default="", trim_whitespace=True
    )
    credentials = serializers.DictField(
        child=serializers.CharField(
            allow_blank=True, max_length=CREDENTIAL_MAX_LENGTH, trim_whitespace=False
        ),
        required=False,
        default=dict,
    )
    options = serializers.DictField(required=False, default=dict)
    createMissingBalances = serializers.BooleanField(required=False, default=False)

    def to_action_kwargs(self) -> dict[str, Any]:
        data = self.validated_data
        return {
            "kind": data["kind"],
            "base_url": data["baseUrl"],
            "credentials": data["credentials"],
            "options": data["options"],
            "create_missing_balances": data["createMissingBalances"],
        }


ConnectionIn.__doc__ = _input_description()
