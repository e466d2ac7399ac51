"""Balances, their append-only history and synchronisation runs.

Amounts are ``AmountField``s (core/money/dbfields.py: exact integers of 10^-8 units in the
database, ``Decimal`` in Python) next to one ``currency`` column rather than django-money
``MoneyField``s: a balance has four amounts (available, pending, reserved, and what open
payouts hold) in one currency, and a MoneyField per amount would add a currency column per
amount that could disagree.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from core.actors import ActorType
from core.money import currencies
from core.money.dbfields import AmountField
from services.models import new_public_id


class Balance(models.Model):
    """One currency's balance of one service.  ``version`` grows with every write; edits carry
    the version they were based on and are refused when it moved (optimistic concurrency)."""

    service = models.ForeignKey(
        "services.Service", on_delete=models.PROTECT, related_name="balances"
    )
    currency = models.CharField(max_length=16)
    available = AmountField(default=Decimal(0))
    pending = AmountField(default=Decimal(0))
    reserved = AmountField(default=Decimal(0))
    # Amount + fee of the payouts that have not ended.  Written only by the hold and release
    # actions (balances/actions/payout.py) under this row's lock; a sync or a manual edit of
    # the figures above leaves it alone, and it does not move ``version``.
    held = AmountField(default=Decimal(0))
    version = models.PositiveIntegerField(default=1)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by_type = models.CharField(
        max_length=16, choices=ActorType.choices, default=ActorType.USER
    )
    updated_by_label = models.CharField(max_length=150, blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Whether something above may watch this balance's amounts (an alert rule): its writers
    # tell the listeners, which skip their own query when it is False.  True for a new
    # balance and whenever a rule starts watching it (set under this row's lock, so a write
    # waiting for the lock reads the new value); False once a listener, under the lock,
    # found nothing watching.  A stale True only costs a query.
    watched = models.BooleanField(default=True, db_default=True)

    class Meta:
        ordering = ["service_id", "currency"]
        constraints = [
            models.UniqueConstraint(
                fields=["service", "currency"], name="balance_one_per_currency"
            ),
            models.CheckConstraint(condition=Q(version__gte=1), name="balance_version_positive"),
            models.CheckConstraint(condition=Q(held__gte=0), name="balance_held_not_negative"),
        ]
        permissions = [("sync_balances", "Can start a balance synchronisation")]

    def __str__(self) -> str:
        return f"{self.currency} balance of service #{self.service_id}"

    @property
    def currency_info(self) -> currencies.CurrencyInfo:
        return currencies.get(self.currency)

    @property
    def available_for_payout(self) -> Decimal:
        """What a new payout may still take: available minus what open payouts hold."""
        return self.available - self.held

    @property
    def set_by_hand(self) -> bool:
        return self.updated_by_type == ActorType.USER

    def is_stale(self, now=None) -> bool:
        """Not confirmed by a sync for more than twice the schedule interval.

        Only meaningful for a service with a provider connection; a balance that was never
        synced is stale once it is older than that.
        """
        now = now or timezone.now()
        limit = timedelta(minutes=2 * settings.SYNC_INTERVAL_MINUTES)
        seen = self.last_synced_at or self.created_at
        return seen is not None and now - seen > limit


class BalanceChange(models.Model):
    """Append-only history of a balance.  Kept after the balance is deleted (``balance`` then
    becomes NULL; ``service`` and ``currency`` still say whose it was)."""

    class Kind(models.TextChoices):
        CREATED = "created", "Created"
        UPDATED = "updated", "Updated"
        DELETED = "deleted", "Deleted"
        SYNCED = "synced", "Synchronised"
        PAYOUT = "payout", "Payout"
        # An operator's decision on a sync held for review (BalanceReview): "accept the
        # provider's value" changes the figures; "keep the manual value" records the choice.
        REVIEWED = "reviewed", "Review decided"

    service = models.ForeignKey(
        "services.Service", on_delete=models.CASCADE, related_name="balance_changes"
    )
    balance = models.ForeignKey(
        Balance, null=True, blank=True, on_delete=models.SET_NULL, related_name="changes"
    )
    currency = models.CharField(max_length=16)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    actor_type = models.CharField(max_length=16, choices=ActorType.choices)
    actor_label = models.CharField(max_length=150)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    sync_run = models.ForeignKey(
        "balances.SyncRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="changes"
    )
    payout_public_id = models.CharField(max_length=32, blank=True)
    old_available = AmountField(null=True, blank=True)
    new_available = AmountField(null=True, blank=True)
    old_pending = AmountField(null=True, blank=True)
    new_pending = AmountField(null=True, blank=True)
    old_reserved = AmountField(null=True, blank=True)
    new_reserved = AmountField(null=True, blank=True)
    version = models.PositiveIntegerField(
        null=True, blank=True, help_text="Balance version after the change."
    )
    reason = models.TextField(blank=True)
    # A change applied by approving a request (four eyes): who approved it and which request.
    # The requester is the actor above.
    approved_by_label = models.CharField(max_length=150, blank=True)
    approved_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approval_public_id = models.CharField(max_length=32, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # A balance's history newest first, ties on created_at settled by id: keyset pages
            # of any depth and "the latest change at or before T" are one range scan.
            models.Index(
                fields=["service", "currency", "-created_at", "-id"],
                name="change_service_cur_idx",
            ),
            # The same for a service's whole history (every currency).
            models.Index(fields=["service", "-created_at", "-id"], name="change_service_idx"),
            # The currencies a service ever had, and when each was created: with the index
            # above, a balance as of any moment is one index probe per currency however long
            # its history (balances/history).
            models.Index(
                fields=["service", "currency", "created_at"],
                condition=Q(kind="created"),
                name="change_created_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.currency} by {self.actor_label}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not kwargs.get("force_insert"):
            raise ValueError("Balance history is append-only.")
        return super().save(*args, **kwargs)

    def delta(self, field: str = "available") -> Decimal | None:
        old, new = getattr(self, f"old_{field}"), getattr(self, f"new_{field}")
        if old is None or new is None:
            return None
        return new - old

    def figures(self) -> list[tuple[str, Decimal | None, Decimal | None]]:
        """(figure, old, new) for the figures this entry touched."""
        rows = []
        for name in ("available", "pending", "reserved"):
            old, new = getattr(self, f"old_{name}"), getattr(self, f"new_{name}")
            if old is None or new is None:
                # Created or deleted: the available figure, and the others when not zero.
                if name == "available" or (old or new):
                    rows.append((name, old, new))
            elif old != new:
                rows.append((name, old, new))
        return rows or [("available", self.old_available, self.new_available)]


def new_sync_run_id() -> str:
    return new_public_id("run_")


def new_review_id() -> str:
    return new_public_id("rev_")


class SyncRun(models.Model):
    """One synchronisation of one service's balances with its provider."""

    class Trigger(models.TextChoices):
        BUTTON = "button", "Button"
        SCHEDULE = "schedule", "Schedule"
        API = "api", "API"
        COMMAND = "command", "Command"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    ACTIVE = (Status.QUEUED, Status.RUNNING)

    public_id = models.CharField(
        max_length=32, unique=True, default=new_sync_run_id, editable=False
    )
    service = models.ForeignKey(
        "services.Service", on_delete=models.CASCADE, related_name="sync_runs"
    )
    provider_kind = models.CharField(max_length=16)
    trigger = models.CharField(max_length=16, choices=Trigger.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    updated_count = models.PositiveIntegerField(default=0)
    unchanged_count = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    skipped_count = models.PositiveIntegerField(default=0)
    not_reported_count = models.PositiveIntegerField(default=0)
    # Currencies the run did not write because a value set by hand is protected (reviews).
    held_count = models.PositiveIntegerField(default=0)
    result = models.JSONField(default=dict, blank=True)
    error_category = models.CharField(max_length=32, blank=True)
    error_message = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # Never two syncs of one service at once, whatever the lock in Redis says.
            models.UniqueConstraint(
                fields=["service"],
                condition=Q(status__in=["queued", "running"]),
                name="sync_run_one_active_per_service",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["queued", "running", "succeeded", "failed"]),
                name="sync_run_status_valid",
            ),
        ]
        indexes = [models.Index(fields=["service", "-created_at"], name="sync_run_service_idx")]

    def __str__(self) -> str:
        return f"{self.public_id} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE

    @property
    def duration(self) -> timedelta | None:
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None

    @property
    def provider_label(self) -> str:
        from balances.providers.base import provider_label

        return provider_label(self.provider_kind)

    @property
    def error_category_label(self) -> str:
        from balances.providers.base import ErrorCategory

        try:
            return ErrorCategory(self.error_category).label
        except ValueError:
            return {
                "conflict": "Concurrent edit",
                "abandoned": "Abandoned",
                "internal": "Internal error",  # balances/sync/failures.py
            }.get(self.error_category, self.error_category.replace("_", " ").capitalize())


class BalanceReview(models.Model):
    """A sync that would have overwritten a value set by hand inside the protection window
    (``SYNC_PROTECTION_HOURS``) and was held back for an operator to decide.

    At most one open review per balance; a later sync refreshes the provider's figures of
    the open review.  ``accept_provider`` applies the provider's figures, ``keep_manual``
    keeps the hand-set value (protected until the window ends or the provider agrees);
    ``cleared`` means the question went away by itself (the provider came to agree, the
    window ended, or the balance was edited or deleted)."""

    class Status(models.TextChoices):
        OPEN = "open", "Waiting for review"
        ACCEPTED = "accept_provider", "Provider value accepted"
        KEPT = "keep_manual", "Manual value kept"
        CLEARED = "cleared", "No longer needed"

    class ClearedBecause(models.TextChoices):
        PROVIDER_AGREED = "provider_agreed", "The provider came to report the manual value"
        WINDOW_ENDED = "window_ended", "The protection window ended; the sync applied its value"
        BALANCE_CHANGED = "balance_changed", "The balance was changed after the review opened"
        BALANCE_DELETED = "balance_deleted", "The balance was deleted"

    public_id = models.CharField(max_length=32, unique=True, default=new_review_id, editable=False)
    balance = models.ForeignKey(
        Balance, null=True, blank=True, on_delete=models.SET_NULL, related_name="reviews"
    )
    service = models.ForeignKey(
        "services.Service", on_delete=models.CASCADE, related_name="balance_reviews"
    )
    currency = models.CharField(max_length=16)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    # The balance as the operator left it (version included) and what the provider reports.
    manual_available = AmountField()
    manual_version = models.PositiveIntegerField()
    manual_set_at = models.DateTimeField()
    manual_set_by_label = models.CharField(max_length=150, blank=True)
    provider_available = AmountField()
    provider_pending = AmountField(null=True, blank=True)
    provider_reserved = AmountField(null=True, blank=True)
    sync_run = models.ForeignKey(
        SyncRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="reviews"
    )
    opened_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by_label = models.CharField(max_length=150, blank=True)
    decided_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Why a ``cleared`` review went away by itself.
    cleared_because = models.CharField(max_length=24, choices=ClearedBecause.choices, blank=True)
    # The operator's note with a decision.
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["balance"],
                condition=Q(status="open"),
                name="balance_review_one_open",
            ),
        ]
        indexes = [models.Index(fields=["service", "status"], name="balance_review_svc_idx")]

    def __str__(self) -> str:
        return f"Review of {self.currency} of service #{self.service_id} ({self.status})"

    @property
    def difference(self) -> Decimal:
        """Provider's value minus the manual one."""
        return self.provider_available - self.manual_available

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.OPEN
