"""Input and output shapes of the webhooks API (camelCase).  Only the answer to
``POST /webhooks`` carries the secret."""

from __future__ import annotations

from rest_framework import serializers

from webhooks.actions import DESCRIPTION_MAX_LENGTH
from webhooks.models import URL_MAX_LENGTH, Webhook, WebhookAttempt, WebhookDelivery
from webhooks.payloads import EVENT_TYPES

EVENTS_HELP = "Event types to receive: " + ", ".join(EVENT_TYPES) + "."


def webhook_status(webhook: Webhook) -> str:
    if webhook.active:
        return "active"
    return "disabled" if webhook.disabled_reason else "inactive"


class WebhookOut(serializers.Serializer):
    webhookId = serializers.CharField(source="public_id")
    url = serializers.CharField()
    events = serializers.ListField(child=serializers.CharField(), help_text=EVENTS_HELP)
    description = serializers.CharField()
    active = serializers.BooleanField()
    status = serializers.SerializerMethodField(
        help_text="active; inactive (turned off); disabled (after failing for too long, see "
        "disabledReason)."
    )
    disabledReason = serializers.SerializerMethodField()
    disabledAt = serializers.DateTimeField(source="disabled_at", allow_null=True)
    failingSince = serializers.DateTimeField(
        source="failing_since",
        allow_null=True,
        help_text="First failed attempt since the last success, if any.",
    )
    secretCreatedAt = serializers.DateTimeField(source="secret_created_at")
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")

    def get_status(self, webhook: Webhook) -> str:
        return webhook_status(webhook)

    def get_disabledReason(self, webhook: Webhook) -> str | None:
        return webhook.disabled_reason or None


class WebhookCreatedOut(WebhookOut):
    secret = serializers.CharField(
        help_text="whsec_…: signs every delivery (Backoffice-Signature). Shown only in this answer."
    )


class WebhookCreateIn(serializers.Serializer):
    url = serializers.CharField(max_length=URL_MAX_LENGTH, help_text="http(s) URL; its host "
                                "must be listed in WEBHOOK_URL_ALLOWLIST.")  # fmt: skip
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=list(EVENT_TYPES)),
        allow_empty=False,
        max_length=len(EVENT_TYPES) * 2,
        help_text=EVENTS_HELP,
    )
    active = serializers.BooleanField(required=False, default=True)
    description = serializers.CharField(
        required=False, allow_blank=True, max_length=DESCRIPTION_MAX_LENGTH, default=""
    )


class WebhookUpdateIn(serializers.Serializer):
    """Only the fields sent change; ``active: true`` turns a disabled webhook on again."""

    url = serializers.CharField(required=False, max_length=URL_MAX_LENGTH)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=list(EVENT_TYPES)),
        required=False,
        allow_empty=False,
        max_length=len(EVENT_TYPES) * 2,
        help_text=EVENTS_HELP,
    )
    active = serializers.BooleanField(required=False)
    description = serializers.CharField(
        required=False, allow_blank=True, max_length=DESCRIPTION_MAX_LENGTH
    )


class AttemptOut(serializers.Serializer):
    number = serializers.IntegerField()
    outcome = serializers.ChoiceField(choices=WebhookAttempt.Outcome.choices)
    statusCode = serializers.IntegerField(source="status_code", allow_null=True)
    durationMs = serializers.IntegerField(source="duration_ms")
    responseSnippet = serializers.CharField(
        source="response_snippet", help_text="The start of the receiver's answer."
    )
    error = serializers.CharField()
    startedAt = serializers.DateTimeField(source="started_at")


class DeliveryOut(serializers.Serializer):
    deliveryId = serializers.CharField(source="public_id")
    eventId = serializers.CharField(source="event.public_id")
    eventType = serializers.CharField(source="event.type")
    status = serializers.ChoiceField(choices=WebhookDelivery.Status.choices)
    attempts = serializers.IntegerField()
    lastStatusCode = serializers.IntegerField(source="last_status_code", allow_null=True)
    lastDurationMs = serializers.IntegerField(source="last_duration_ms", allow_null=True)
    lastResponse = serializers.CharField(source="last_response")
    lastError = serializers.CharField(source="last_error")
    nextAttemptAt = serializers.DateTimeField(source="next_attempt_at", allow_null=True)
    deliveredAt = serializers.DateTimeField(source="delivered_at", allow_null=True)
    createdAt = serializers.DateTimeField(source="created_at")
    redeliveryOf = serializers.SerializerMethodField()
    attemptLog = AttemptOut(many=True, source="attempt_log.all")

    def get_redeliveryOf(self, delivery: WebhookDelivery) -> str | None:
        original = delivery.redelivery_of
        return original.public_id if original is not None else None


class DeliveryListQuery(serializers.Serializer):
    status = serializers.ChoiceField(choices=WebhookDelivery.Status.choices, required=False)
