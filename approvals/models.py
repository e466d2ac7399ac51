"""Approval policies (per currency) and approval requests (four eyes on money).

A request records what was asked against which version of the balance, so that approving
it later applies exactly that change or nothing: the kind's apply handler
(approvals.registry) refuses when the balance moved since.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from core.money.dbfields import AmountField
from services.models import new_public_id


def new_approval_id() -> str:
    return new_public_id("apr_")


class ApprovalPolicy(models.Model):
    """What needs a second person in one currency.  A stored policy overrides the platform
    default of ``APPROVAL_DEFAULTS`` for its currency; NULL limits mean "never"."""

    currency = models.CharField(max_length=16, unique=True)
    # |new - old| above this needs approval; 0: every manual change; NULL: none.
    manual_change_above = AmountField(null=True, blank=True)
    # A payout whose amount is above this needs approval; 0: every payout; NULL: none.
    payout_above = AmountField(null=True, blank=True)
    # Deleting a balance whose available amount is not zero needs approval.
    nonzero_deletion = models.BooleanField(default=False)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_by_label = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["currency"]
        verbose_name_plural = "approval policies"
        constraints = [
            models.CheckConstraint(
                condition=Q(manual_change_above__isnull=True) | Q(manual_change_above__gte=0),
                name="approval_policy_manual_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(payout_above__isnull=True) | Q(payout_above__gte=0),
                name="approval_policy_payout_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"Approval policy for {self.currency}"


class ApprovalRequest(models.Model):
    class Kind(models.TextChoices):
        BALANCE_UPDATE = "balance_update", "Balance change"
        BALANCE_DELETE = "balance_delete", "Balance deletion"
        PAYOUT = "payout", "Payout"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        EXPIRED = "expired", "Expired"
        SUPERSEDED = "superseded", "Renewed"

    BALANCE_KINDS = (Kind.BALANCE_UPDATE, Kind.BALANCE_DELETE)

    public_id = models.CharField(
        max_length=32, unique=True, default=new_approval_id, editable=False
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    service = models.ForeignKey(
        "services.Service", on_delete=models.CASCADE, related_name="approval_requests"
    )
    currency = models.CharField(max_length=16)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_by_label = models.CharField(max_length=150)
    # "session" or "key:<prefix>" (core.actors.Actor.via).
    requested_via = models.CharField(max_length=32, blank=True)
    requested_at = models.DateTimeField(default=timezone.now)
    reason = models.TextField(blank=True)
    # The balance version the request was made against (NULL for payouts).
    balance_version = models.PositiveIntegerField(null=True, blank=True)
    # Balance kinds: the available amount then and the one asked for (NULL: deletion).
    # Payouts: the payout's amount as proposed_value.
    current_value = AmountField(null=True, blank=True)
    proposed_value = AmountField(null=True, blank=True)
    payout_public_id = models.CharField(max_length=32, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_by_label = models.CharField(max_length=150, blank=True)
    decided_via = models.CharField(max_length=32, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    comment = models.TextField(blank=True)
    expires_at = models.DateTimeField()
    # The request that replaced this one (Renew).
    renewed_as = models.CharField(max_length=32, blank=True)
    # A renewal: the request it replaced (whose ``renewed_as`` is this one) and who renewed
    # it.  ``requested_by`` stays the person who first asked, through every renewal; nobody
    # who asked or renewed any request of the chain may approve it.
    renewed_from = models.CharField(max_length=32, blank=True)
    renewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    renewed_by_label = models.CharField(max_length=150, blank=True)
    renewed_via = models.CharField(max_length=32, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        permissions = [("approve", "Can approve or reject approval requests")]
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    status__in=["pending", "approved", "rejected", "expired", "superseded"]
                ),
                name="approval_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=["balance_update", "balance_delete", "payout"]),
                name="approval_kind_valid",
            ),
            # One pending question per balance: a second change asked while one waits would
            # be made against the same version, and approving one would make the other
            # stale anyway.  The second request is refused, naming the one that waits.
            models.UniqueConstraint(
                fields=["service", "currency"],
                condition=Q(status="pending", kind__in=["balance_update", "balance_delete"]),
                name="approval_one_pending_per_balance",
            ),
            models.UniqueConstraint(
                fields=["payout_public_id"],
                condition=Q(kind="payout"),
                name="approval_one_per_payout",
            ),
        ]
        indexes = [
            models.Index(
                fields=["expires_at"], condition=Q(status="pending"), name="approval_pending_idx"
            ),
            models.Index(fields=["status", "-requested_at"], name="approval_status_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.public_id} {self.kind} ({self.status})"

    @property
    def is_pending(self) -> bool:
        return self.status == self.Status.PENDING

    def is_overdue(self, now=None) -> bool:
        return self.is_pending and (now or timezone.now()) >= self.expires_at

    @property
    def is_balance_kind(self) -> bool:
        return self.kind in self.BALANCE_KINDS

    @property
    def difference(self):
        if self.current_value is None or self.proposed_value is None:
            return None
        return self.proposed_value - self.current_value
