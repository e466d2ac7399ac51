"""Input and output shapes of the services API (camelCase).  The provider connection's API
lives with the connections (balances/connections/api/)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from services.actions import NAME_MAX_LENGTH
from services.models import FeeProfile, Service

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
