"""Reads of alert rules and alerts, shared by the pages and the API."""

from __future__ import annotations

from django.db.models import QuerySet

from alerts.models import Alert, AlertRule
from core.errors import NotFound
from services.models import Service

STATUS_FILTERS = ("open", "acknowledged", "resolved", "unresolved")


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
    """Alerts nobody has acknowledged yet (one COUNT on the partial index of unresolved
    alerts)."""
    return Alert.objects.filter(status=Alert.Status.OPEN).count()


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
