from __future__ import annotations

import secrets
import string
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q

from core.money.dbfields import AmountField
from services.countries import country_name

_ALPHABET = string.ascii_lowercase + string.digits


def new_public_id(prefix: str, length: int = 14) -> str:
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length))


def new_service_id() -> str:
    return new_public_id("srv_")


class Service(models.Model):
    """A merchant account.  ``public_id`` is the only identifier that leaves the database."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        SUSPENDED = "suspended", "Suspended"
        CLOSED = "closed", "Closed"

    public_id = models.CharField(
        "service id", max_length=32, unique=True, editable=False, default=new_service_id
    )
    name = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    country = models.CharField(max_length=2, help_text="ISO 3166-1 alpha-2 code.")
    fee_profile = models.ForeignKey(
        "services.FeeProfile",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="services",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(public_id__startswith="srv_"), name="service_public_id_prefix"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["active", "suspended", "closed"]),
                name="service_status_valid",
            ),
        ]
        indexes = [models.Index(fields=["name"], name="service_name_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.public_id})"

    @property
    def country_name(self) -> str:
        return country_name(self.country)

    @property
    def provider_connection_or_none(self) -> ProviderConnection | None:
        try:
            return self.provider_connection
        except ProviderConnection.DoesNotExist:
            return None


class ProviderConnection(models.Model):
    """How a service's balances are fetched from its payment provider.

    Credentials are stored encrypted (core/crypto.py) and are write-only everywhere.
    The scheduling state (next run, failures in a row, pause) lives here too.

    ``kind`` names a provider adapter; which kinds exist is the adapters' registry's business
    (balances/providers/), checked by the connection actions, so a new provider needs no
    migration here.
    """

    service = models.OneToOneField(
        Service, on_delete=models.CASCADE, related_name="provider_connection"
    )
    kind = models.CharField(max_length=16)
    base_url = models.URLField(
        "base URL",
        max_length=500,
        blank=True,
        help_text="Leave blank for the provider's documented production host.",
    )
    credentials_encrypted = models.TextField(blank=True, editable=False)
    options = models.JSONField(default=dict, blank=True)
    create_missing_balances = models.BooleanField(default=False)

    next_sync_at = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    paused_at = models.DateTimeField(null=True, blank=True)
    paused_reason = models.TextField(blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["next_sync_at"],
                name="provider_due_idx",
                condition=Q(paused_at__isnull=True),
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} connection of {self.service.public_id}"

    def __repr__(self) -> str:
        return f"<ProviderConnection {self.kind} service={self.service_id}>"

    @property
    def is_paused(self) -> bool:
        return self.paused_at is not None


class FeeProfile(models.Model):
    """A named set of fee rules that one or more services share."""

    name = models.CharField(max_length=120, unique=True)
    description = models.TextField(blank=True)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class FeeRule(models.Model):
    """One line of a fee profile.  ``currency`` empty means "any currency"; the most specific
    rule wins.  ``percentage`` is in percent (1.75 means 1.75 %)."""

    class Operation(models.TextChoices):
        PAYIN = "payin", "Pay-in"
        PAYOUT = "payout", "Payout"
        REFUND = "refund", "Refund"

    profile = models.ForeignKey(FeeProfile, on_delete=models.CASCADE, related_name="rules")
    operation = models.CharField(max_length=16, choices=Operation.choices)
    currency = models.CharField(max_length=16, blank=True, help_text="Empty for any currency.")
    percentage = models.DecimalField(max_digits=9, decimal_places=4, default=Decimal(0))
    fixed_amount = AmountField(default=Decimal(0))
    minimum_fee = AmountField(default=Decimal(0))
    maximum_fee = AmountField(null=True, blank=True)
    minimum_payout_amount = AmountField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["operation", "currency"]
        constraints = [
            models.UniqueConstraint(
                fields=["profile", "operation", "currency"], name="fee_rule_one_per_scope"
            ),
            models.CheckConstraint(
                condition=Q(percentage__gte=0) & Q(percentage__lte=100),
                name="fee_rule_percentage_range",
            ),
            models.CheckConstraint(
                condition=Q(fixed_amount__gte=0) & Q(minimum_fee__gte=0),
                name="fee_rule_amounts_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(maximum_fee__isnull=True) | Q(maximum_fee__gte=models.F("minimum_fee")),
                name="fee_rule_max_not_below_min",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_operation_display()} {self.currency or 'any currency'}"


class ApiKey(models.Model):
    """A REST client's key.  Only a SHA-256 hash is stored (the key is 256 random bits, so a
    slow password hash adds nothing); ``prefix`` identifies it in lists."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True)
    read_only = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class AuditEntry(models.Model):
    """Append-only record of every write by a person, an API key or the system: services,
    provider connections, fee profiles and rules, balances, payouts, API keys, alert rules,
    webhooks, approvals (balance syncs are not audited per balance: the sync run is their
    record)."""

    service = models.ForeignKey(
        Service, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit"
    )
    fee_profile = models.ForeignKey(
        FeeProfile, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit"
    )
    subject = models.CharField(
        max_length=200, help_text="What changed, e.g. 'srv_x' or 'fee profile Standard'."
    )
    # The kind of object and its public id (or key), for the system-wide audit log's filters:
    # "service", "connection", "fee_profile", "fee_rule", "balance", "payout", "api_key",
    # "alert_rule", "approval", "approval_policy", "webhook", ...
    object_type = models.CharField(max_length=32, blank=True, db_index=True)
    object_id = models.CharField(max_length=64, blank=True)
    action = models.CharField(max_length=32)
    actor_label = models.CharField(max_length=150)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # "session", "key:<prefix>" (core.actors.Actor.via) or empty for the system.
    via = models.CharField(max_length=32, blank=True)
    reason = models.TextField(blank=True)
    changes = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "audit entries"
        indexes = [
            models.Index(fields=["object_type", "object_id"], name="audit_object_idx"),
            # The audit log's keyset pages, newest first (services/audit).
            models.Index(fields=["-created_at", "-id"], name="audit_created_idx"),
        ]
        # The audit log across the system (admins); view_auditentry lets viewers read one
        # service's or one fee profile's trail.
        permissions = [("view_audit_log", "Can view the audit log of the whole system")]

    def __str__(self) -> str:
        return f"{self.action} {self.subject} by {self.actor_label}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not kwargs.get("force_insert"):
            raise ValueError("Audit entries are append-only.")
        return super().save(*args, **kwargs)

    @property
    def action_label(self) -> str:
        return self.action.replace("_", " ").capitalize()

    def change_rows(self) -> list[tuple[str, object, object, bool]]:
        """(field, old, new, is_change) for display; ``[old, new]`` pairs are changes."""
        rows = []
        for key, value in self.changes.items():
            if isinstance(value, list) and len(value) == 2:
                rows.append((key, value[0], value[1], True))
            else:
                rows.append((key, None, value, False))
        return rows
