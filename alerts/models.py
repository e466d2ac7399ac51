"""Alert rules and the alerts they open.

A rule watches one currency, either of one service or of every service (a per-service rule
overrides the all-services rule of the same kind and currency).  An alert is one episode of a
rule's condition holding for one balance (service + currency): opened when the condition
becomes true, resolved when it no longer holds, kept afterwards as history.  The database
allows at most one unresolved alert per rule and balance, so concurrent writes cannot open two.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from core.money.dbfields import AmountField
from services.models import new_public_id


def new_rule_id() -> str:
    return new_public_id("arl_")


def new_alert_id() -> str:
    return new_public_id("alt_")


class Kind(models.TextChoices):
    AVAILABLE_BELOW = "available_below", "Available below"
    AVAILABLE_FOR_PAYOUT_BELOW = "available_for_payout_below", "Available for payout below"
    STALE = "stale", "Not synchronised for"
    SYNC_FAILING = "sync_failing", "Synchronisation failing"


AMOUNT_KINDS = (Kind.AVAILABLE_BELOW, Kind.AVAILABLE_FOR_PAYOUT_BELOW)


class AlertRule(models.Model):
    """``threshold`` is set for the amount kinds, ``stale_minutes`` for ``stale``, ``failures``
    for ``sync_failing`` (a paused connection counts as failing whatever the count)."""

    Kind = Kind

    public_id = models.CharField(max_length=32, unique=True, default=new_rule_id, editable=False)
    service = models.ForeignKey(
        "services.Service",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="alert_rules",
        help_text="Leave empty to watch the currency of every service.",
    )
    currency = models.CharField(max_length=16)
    kind = models.CharField(max_length=32, choices=Kind.choices)
    threshold = AmountField(null=True, blank=True)
    stale_minutes = models.PositiveIntegerField(null=True, blank=True)
    failures = models.PositiveIntegerField(null=True, blank=True)
    emails = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["currency", "kind", "service_id", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["service", "currency", "kind"],
                condition=Q(service__isnull=False),
                name="alertrule_one_per_service_currency_kind",
            ),
            models.UniqueConstraint(
                fields=["currency", "kind"],
                condition=Q(service__isnull=True),
                name="alertrule_one_global_per_currency_kind",
            ),
            models.CheckConstraint(
                condition=~Q(kind__in=[k.value for k in AMOUNT_KINDS]) | Q(threshold__isnull=False),
                name="alertrule_amount_kind_has_threshold",
            ),
            models.CheckConstraint(
                condition=~Q(kind=Kind.STALE) | Q(stale_minutes__gte=1),
                name="alertrule_stale_has_minutes",
            ),
            models.CheckConstraint(
                condition=~Q(kind=Kind.SYNC_FAILING) | Q(failures__gte=1),
                name="alertrule_sync_failing_has_failures",
            ),
        ]

    def __str__(self) -> str:
        scope = self.service.public_id if self.service_id else "all services"
        return f"{self.get_kind_display()} {self.currency} ({scope})"

    @property
    def is_global(self) -> bool:
        return self.service_id is None


class Alert(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        RESOLVED = "resolved", "Resolved"

    UNRESOLVED = (Status.OPEN, Status.ACKNOWLEDGED)
    Kind = Kind

    public_id = models.CharField(max_length=32, unique=True, default=new_alert_id, editable=False)
    # SET_NULL: deleting a rule resolves its alerts first and keeps them as history.
    rule = models.ForeignKey(
        AlertRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts"
    )
    service = models.ForeignKey("services.Service", on_delete=models.CASCADE, related_name="alerts")
    currency = models.CharField(max_length=16)
    kind = models.CharField(max_length=32, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    # Values are exact strings: an amount with the currency's digits, or a number of minutes /
    # failures; "" when there is none (a resolution because the balance or the rule went away).
    threshold = models.CharField(max_length=64, blank=True)
    opened_at = models.DateTimeField(default=timezone.now)
    opened_value = models.CharField(max_length=64)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_value = models.CharField(max_length=64, blank=True)
    resolved_reason = models.CharField(max_length=200, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    acknowledged_by_label = models.CharField(max_length=150, blank=True)
    note = models.TextField(blank=True)
    # The rule's mail about this alert is owed from this moment (set in the transaction that
    # opens it; None once sent, or when nothing is owed).  A sender claims it by moving it
    # into the future; the periodic check sends what is still owed a while later, so that a
    # queue down when the alert opened delays the mail, never loses it.
    mail_due_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "service", "currency"],
                condition=Q(status__in=["open", "acknowledged"]),
                name="alert_one_unresolved_per_rule_and_balance",
            ),
            models.CheckConstraint(
                condition=Q(status="resolved", resolved_at__isnull=False)
                | (~Q(status="resolved") & Q(resolved_at__isnull=True)),
                name="alert_resolved_at_matches_status",
            ),
        ]
        indexes = [
            models.Index(
                fields=["status"],
                name="alert_unresolved_idx",
                condition=Q(status__in=["open", "acknowledged"]),
            ),
            models.Index(
                fields=["mail_due_at"],
                name="alert_mail_due_idx",
                condition=Q(mail_due_at__isnull=False),
            ),
        ]
        permissions = [("acknowledge_alert", "Can acknowledge an alert")]

    def __str__(self) -> str:
        return f"{self.public_id} {self.kind} {self.currency}"

    @property
    def is_resolved(self) -> bool:
        return self.status == self.Status.RESOLVED
