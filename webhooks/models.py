"""Webhooks: subscriptions of REST clients to domain events, and their signed deliveries.

* :class:`Webhook`: a URL, the event types it wants, a signing secret (encrypted, shown once)
  and whether it is active.  A webhook whose deliveries have all failed for
  ``WEBHOOK_DISABLE_AFTER_HOURS`` is disabled with the reason (``disabled_reason``).
* :class:`WebhookEvent`: one occurrence of an event type, with the exact bytes of the body
  every delivery sends (so that a retry or a redelivery sends, and signs, the same bytes).
* :class:`WebhookDelivery`: one event to one webhook: pending until delivered or given up.
* :class:`WebhookAttempt`: one POST of a delivery, as it went (status, duration, snippet).
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from services.models import new_public_id

URL_MAX_LENGTH = 2000


def new_webhook_id() -> str:
    return new_public_id("wh_")


def new_event_id() -> str:
    return new_public_id("evt_", 24)


def new_delivery_id() -> str:
    return new_public_id("whd_", 20)


class Webhook(models.Model):
    public_id = models.CharField(max_length=32, unique=True, default=new_webhook_id, editable=False)
    url = models.CharField(max_length=URL_MAX_LENGTH)
    description = models.CharField(max_length=200, blank=True)
    events = models.JSONField(default=list)
    active = models.BooleanField(default=True)
    # Fernet token of "whsec_…" (core/crypto.py); never shown after creation or a roll.
    secret_encrypted = models.TextField()
    secret_created_at = models.DateTimeField(default=timezone.now)
    # After a roll the previous secret also signs, until this time, so that receivers can
    # switch without losing deliveries.
    previous_secret_encrypted = models.TextField(blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    # First failed attempt since the last success: the clock of the automatic disabling.
    failing_since = models.DateTimeField(null=True, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.TextField(blank=True)
    created_by_label = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["active"], name="webhook_active_idx")]

    def __str__(self) -> str:
        return f"{self.public_id} {self.url}"

    @property
    def auto_disabled(self) -> bool:
        return not self.active and bool(self.disabled_reason)


class WebhookEvent(models.Model):
    public_id = models.CharField(max_length=40, unique=True, default=new_event_id, editable=False)
    type = models.CharField(max_length=64)
    body = models.BinaryField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.public_id} {self.type}"


class WebhookDelivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    public_id = models.CharField(
        max_length=40, unique=True, default=new_delivery_id, editable=False
    )
    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries")
    redelivery_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, default=timezone.now)
    # A worker sending it holds it until then (a worker that dies frees it at that time).
    locked_until = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_duration_ms = models.PositiveIntegerField(null=True, blank=True)
    last_response = models.TextField(blank=True)
    last_error = models.TextField(blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["pending", "delivered", "failed"]),
                name="webhookdelivery_status_valid",
            ),
            # Only a pending delivery has a next attempt.
            models.CheckConstraint(
                condition=Q(status="pending") | Q(next_attempt_at__isnull=True),
                name="webhookdelivery_next_attempt_only_pending",
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="webhookdelivery_due_idx",
                condition=Q(status="pending"),
            ),
            models.Index(fields=["webhook", "-created_at"], name="webhookdelivery_webhook_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.public_id} ({self.status})"


class WebhookAttempt(models.Model):
    class Outcome(models.TextChoices):
        DELIVERED = "delivered", "Delivered"
        RETRYING = "retrying", "Failed, will retry"
        FAILED = "failed", "Failed"

    delivery = models.ForeignKey(
        WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log"
    )
    number = models.PositiveIntegerField()
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    response_snippet = models.TextField(blank=True)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["delivery_id", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["delivery", "number"], name="webhookattempt_one_per_number"
            )
        ]

    def __str__(self) -> str:
        return f"{self.delivery_id} #{self.number} {self.outcome}"
