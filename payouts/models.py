"""Payouts: money leaving a service's balance.  A payout that has not ended holds
amount + fee on its balance; see payouts/actions.py for the rules."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from core.money import currencies
from core.money.dbfields import AmountField
from services.models import new_public_id


def new_payout_id() -> str:
    return new_public_id("po_")


class Payout(models.Model):
    class Status(models.TextChoices):
        # Above the currency's approval limit: holds its funds until a second person
        # approves it (-> pending) or rejects it, or it expires (-> canceled).
        AWAITING_APPROVAL = "awaiting_approval", "Awaiting approval"
        PENDING = "pending", "Pending"
        PROCESSING = "processing", "Processing"
        PAID = "paid", "Paid"
        FAILED = "failed", "Failed"
        CANCELED = "canceled", "Canceled"

    OPEN = (Status.AWAITING_APPROVAL, Status.PENDING, Status.PROCESSING)

    public_id = models.CharField(max_length=32, unique=True, default=new_payout_id, editable=False)
    service = models.ForeignKey(
        "services.Service", on_delete=models.PROTECT, related_name="payouts"
    )
    currency = models.CharField(max_length=16)
    amount = AmountField()
    fee = AmountField(default=Decimal(0))
    destination = models.CharField(max_length=255)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    # NULL, not "": the unique constraint below only covers payouts that carry a key.
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    request_fingerprint = models.CharField(max_length=64, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by_label = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)
    failure_reason = models.TextField(blank=True)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["service", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="payout_idempotency_key_per_service",
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="payout_amount_positive"),
            models.CheckConstraint(condition=Q(fee__gte=0), name="payout_fee_not_negative"),
            models.CheckConstraint(
                condition=Q(
                    status__in=[
                        "awaiting_approval",
                        "pending",
                        "processing",
                        "paid",
                        "failed",
                        "canceled",
                    ]
                ),
                name="payout_status_valid",
            ),
            # A payout holds funds exactly while it has not ended.
            models.CheckConstraint(
                condition=Q(
                    status__in=["awaiting_approval", "pending", "processing"],
                    ended_at__isnull=True,
                )
                | Q(status__in=["paid", "failed", "canceled"], ended_at__isnull=False),
                name="payout_ended_at_matches_status",
            ),
        ]
        indexes = [
            models.Index(
                fields=["service", "currency"],
                name="payout_open_idx",
                condition=Q(status__in=["awaiting_approval", "pending", "processing"]),
            ),
            models.Index(fields=["service", "-created_at"], name="payout_service_idx"),
        ]

    def __str__(self) -> str:
        amount = currencies.plain_amount(self.amount, self.currency)  # never "1E-8"
        return f"{self.public_id} {amount} {self.currency} ({self.status})"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN

    @property
    def total(self) -> Decimal:
        return self.amount + self.fee


class PayoutEvent(models.Model):
    """The payout's timeline: creation and every transition, append-only."""

    payout = models.ForeignKey(Payout, on_delete=models.CASCADE, related_name="events")
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20)
    actor_label = models.CharField(max_length=150)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.payout_id}: {self.from_status or '-'} -> {self.to_status}"
