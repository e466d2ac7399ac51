"""Reads of alert rules and alerts, shared by the pages and the API."""

from __future__ import annotations

import logging

from django.core.cache import cache
from django.db import transaction
from django.db.models import QuerySet

from alerts.models import Alert, AlertRule
from core.errors import NotFound
from services.models import Service

STATUS_FILTERS = ("open", "acknowledged", "resolved", "unresolved")
# The navigation's count of open alerts, kept in the cache (see open_alert_count).
OPEN_COUNT_KEY = "alerts:open-count"
# A write no event tells of (a service deleted with its alerts), or two recounts finishing
# out of order, is corrected within this at the latest (the periodic check recounts sooner).
OPEN_COUNT_TTL_SECONDS = 300

logger = logging.getLogger(__name__)


def rules_for_list(*, currency: str = "", service_public_id: str = "") -> QuerySet[AlertRule]:
    """Every rule with its service, by currency and kind (all-services rules first)."""
    qs = AlertRule.objects.select_related("service").order_by(
        "currency", "kind", "service__name", "id"
    )
    if currency:
        qs = qs.filter(currency=currency)
    if service_public_id:
        qs = qs.filter(service__public_id=service_public_id)
    return qs


def rule_get(public_id: str) -> AlertRule:
    rule = AlertRule.objects.select_related("service").filter(public_id=public_id).first()
    if rule is None:
        raise NotFound(f"There is no alert rule {public_id}.")
    return rule


def alerts_for_list(
    *,
    status: str = "",
    currency: str = "",
    service_public_id: str = "",
    kind: str = "",
) -> QuerySet[Alert]:
    """Newest first, with service, rule and who acknowledged joined (one query per page).
    ``status`` is one of open, acknowledged, resolved, or ``unresolved`` (open or
    acknowledged); empty filters are ignored."""
    qs = Alert.objects.select_related("service", "rule", "acknowledged_by").order_by(
        "-opened_at", "-id"
    )
    if status == "unresolved":
        qs = qs.filter(status__in=Alert.UNRESOLVED)
    elif status:
        qs = qs.filter(status=status)
    if currency:
        qs = qs.filter(currency=currency)
    if service_public_id:
        qs = qs.filter(service__public_id=service_public_id)
    if kind:
        qs = qs.filter(kind=kind)
    return qs


def alert_get(public_id: str) -> Alert:
    alert = (
        Alert.objects.select_related("service", "rule", "acknowledged_by")
        .filter(public_id=public_id)
        .first()
    )
    if alert is None:
        raise NotFound(f"There is no alert {public_id}.")
    return alert


def open_alert_count() -> int:
    """Alerts nobody has acknowledged yet, for the navigation's badge on every page: read
    from the cache, which every opening, acknowledgement and resolution refreshes once
    committed (alerts/apps.py) and the periodic check too.  Counted (and cached again) when
    the cache has no count; counted without the cache when the cache cannot be reached, so
    that pages still render and the badge stays right."""
    try:
        value = cache.get(OPEN_COUNT_KEY)
    except Exception:
        logger.warning("The open alerts count could not be read from the cache; counted.")
        return _count_open()
    return value if isinstance(value, int) else recount_open_alerts()


def _count_open() -> int:
    """One COUNT on the partial index of unresolved alerts."""
    return Alert.objects.filter(status=Alert.Status.OPEN).count()


def recount_after_commit(_event: object) -> None:
    """Subscribed (in the writer's transaction) to the events that change the count: recount
    once the transaction commits, once per transaction (and savepoint) however many alerts it
    changes (a rule created over a thousand balances); nothing if it rolls back."""
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        recount_open_alerts()
        return
    here = set(connection.savepoint_ids)
    if any(
        func is _recount_committed and sids == here
        for sids, func, _robust in connection.run_on_commit
    ):
        return
    # Robust: the change is committed; a cache that is down must not turn it into an error.
    transaction.on_commit(_recount_committed, robust=True)


def _recount_committed() -> None:
    recount_open_alerts()


def recount_open_alerts() -> int:
    """Count the open alerts into the cache the navigation reads; the count whatever the
    cache's state (a cache that cannot be written is left to the next recount)."""
    count = _count_open()
    try:
        cache.set(OPEN_COUNT_KEY, count, timeout=OPEN_COUNT_TTL_SECONDS)
    except Exception:
        logger.warning("The open alerts count could not be written to the cache.")
    return count


def service_choices() -> list[tuple[str, str]]:
    """Every service as (public id, "name (public id)"), by name, for the selects."""
    return [
        (public_id, f"{name} ({public_id})")
        for public_id, name in Service.objects.order_by("name", "id").values_list(
            "public_id", "name"
        )
    ]


def alert_currencies() -> list[str]:
    """Currencies that have had alerts (for the filter)."""
    return list(Alert.objects.order_by("currency").values_list("currency", flat=True).distinct())
