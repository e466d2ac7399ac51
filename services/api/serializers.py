"""Input and output shapes of the services and provider-connection API (camelCase).

Provider credentials are write-only: accepted on PUT, never returned; the output only says
which of them are set (``credentialsSet``).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from balances.connections.actions import CREDENTIAL_MAX_LENGTH, stored_credential_names
from services.actions import NAME_MAX_LENGTH
from services.models import FeeProfile, ProviderConnection, Service

# --- Services -----------------------------------------------------------------------------


@extend_schema_serializer(component_name="Service")
class ServiceOut(serializers.Serializer):
    serviceId = serializers.CharField(source="public_id")
    name = serializers.CharField()
    country = serializers.CharField(help_text="ISO 3166-1 alpha-2.")
    status = serializers.ChoiceField(choices=Service.Status.choices)
    feeProfileId = serializers.IntegerField(source="fee_profile_id", allow_null=True)
    providerKind = serializers.SerializerMethodField()
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")

    def get_providerKind(self, service: Service) -> str | None:
        connection = service.provider_connection_or_none  # joined by the queries
        return connection.kind if connection else None


@extend_schema_serializer(component_name="ServiceListItem")
class ServiceListItemOut(ServiceOut):
    """The list adds figures the list query computes in the same query."""

    balanceCount = serializers.IntegerField(source="balance_count")
    lastBalanceChangeAt = serializers.DateTimeField(source="last_balance_change", allow_null=True)
    lastSyncStatus = serializers.CharField(source="last_run_status", allow_null=True)


class ServiceListQuery(serializers.Serializer):
    search = serializers.CharField(
        required=False, allow_blank=True, max_length=200, help_text="Part of a name or id."
    )


@extend_schema_serializer(component_name="ServiceCreate")
class ServiceCreateIn(serializers.Serializer):
    name = serializers.CharField(max_length=NAME_MAX_LENGTH)
    country = serializers.CharField(max_length=2, help_text="ISO 3166-1 alpha-2, e.g. NG.")
    status = serializers.ChoiceField(choices=Service.Status.choices, required=False)


@extend_schema_serializer(component_name="ServiceUpdate")
class ServiceUpdateIn(serializers.Serializer):
    """Only the fields sent change; ``feeProfileId: null`` removes the fee profile."""

    name = serializers.CharField(max_length=NAME_MAX_LENGTH, required=False)
    country = serializers.CharField(max_length=2, required=False)
    status = serializers.ChoiceField(choices=Service.Status.choices, required=False)
    feeProfileId = serializers.IntegerField(required=False, allow_null=True, min_value=1)

    def validate_feeProfileId(self, value: int | None) -> FeeProfile | None:
        if value is None:
            return None
        profile = FeeProfile.objects.filter(pk=value).first()
        if profile is None:
            raise serializers.ValidationError(f"There is no fee profile with id {value}.")
        return profile


# --- Provider connection ------------------------------------------------------------------


@extend_schema_serializer(component_name="ProviderConnection")
class ProviderOut(serializers.Serializer):
    kind = serializers.ChoiceField(choices=ProviderConnection.Kind.choices)
    baseUrl = serializers.CharField(
        source="base_url", help_text="Empty: the provider's documented production host."
    )
    effectiveBaseUrl = serializers.CharField(source="effective_base_url")
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


@extend_schema_serializer(component_name="ProviderConnectionInput")
class ProviderIn(serializers.Serializer):
    """credentials: syncpay ``apiKey``; finix ``username``, ``password``; wise ``apiToken``;
    payop ``token``.  A credential left out (or empty) keeps the stored one.
    options: finix ``balanceIds`` (list) and ``version``; wise ``profileId`` and ``types``
    (list); payop ``currencies`` (list)."""

    kind = serializers.ChoiceField(choices=ProviderConnection.Kind.choices)
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
