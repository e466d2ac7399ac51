"""The open alerts, counted when Prometheus scrapes ``/metrics``
(core/observability/exposition.py)."""

from __future__ import annotations

from alerts.models import Alert
from core.observability.exposition import gauge_source


@gauge_source(
    "backoffice_alerts_open",
    "Alerts not resolved yet (open or acknowledged).",
)
def alerts_open() -> float:
    return Alert.objects.filter(status__in=Alert.UNRESOLVED).count()
