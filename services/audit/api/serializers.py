"""The audit log's output shape."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from services.audit.queries import before_after
from services.models import AuditEntry


class AuditEntryOut(serializers.Serializer):
    id = serializers.IntegerField()
    createdAt = serializers.DateTimeField(source="created_at")
    actor = serializers.CharField(source="actor_label")
    via = serializers.CharField(
        help_text='"session", "key:<prefix>" (the API key used), or empty for the system.'
    )
    action = serializers.CharField()
    objectType = serializers.CharField(source="object_type")
    objectId = serializers.CharField(source="object_id")
    subject = serializers.CharField()
    serviceId = serializers.CharField(source="service.public_id", allow_null=True, default=None)
    reason = serializers.CharField()
    before = serializers.SerializerMethodField()
    after = serializers.SerializerMethodField()

    @extend_schema_field({"type": "object", "additionalProperties": True})
    def get_before(self, entry: AuditEntry) -> dict[str, Any]:
        return before_after(entry)[0]

    @extend_schema_field({"type": "object", "additionalProperties": True})
    def get_after(self, entry: AuditEntry) -> dict[str, Any]:
        return before_after(entry)[1]
