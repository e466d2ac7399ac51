"""Gauges computed when Prometheus scrapes ``/metrics`` (core/observability/exposition.py):
one cheap count each."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from balances.models import Balance
from core.observability.exposition import gauge_source
from services.models import ProviderConnection


@gauge_source(
    "backoffice_connections_paused",
    "Provider connections whose schedule is paused after failed runs in a row.",
)
def connections_paused() -> float:
    return ProviderConnection.objects.filter(paused_at__isnull=False).count()


@gauge_source(
    "backoffice_balances_stale",
    "Balances of connected services not confirmed by a sync for twice the sync interval "
    "(the balance cards' Stale).",
)
def balances_stale() -> float:
    cutoff = timezone.now() - timedelta(minutes=2 * settings.SYNC_INTERVAL_MINUTES)
    return (
        Balance.objects.filter(service__provider_connection__isnull=False)
        .filter(
            Q(last_synced_at__lt=cutoff) | Q(last_synced_at__isnull=True, created_at__lt=cutoff)
        )
        .count()
    )
