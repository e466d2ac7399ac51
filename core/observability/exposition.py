"""What ``GET /metrics`` serves: the counted metrics (:mod:`core.observability.metrics`, of
every process in multiprocess mode), the counters fed by domain events, and the gauges
computed at scrape time: the apps register cheap counting functions with
:func:`gauge_source` (core imports no app), and the Celery queue depth is read from Redis.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from django.conf import settings
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from core import events
from core import redis as core_redis
from core.observability.health import probe_client
from core.observability.metrics import PAYOUTS, SYNC_DURATION, SYNC_RUNS

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def on_sync_finished(event: events.SyncFinished) -> None:
    """A run ended (after its commit): count it, and how long it took."""
    SYNC_RUNS.labels(
        provider=event.provider_kind, trigger=event.trigger or "unknown", status=event.status
    ).inc()
    if event.duration_seconds is not None:
        SYNC_DURATION.labels(provider=event.provider_kind).observe(event.duration_seconds)


def on_payout_status_changed(event: events.PayoutStatusChanged) -> None:
    PAYOUTS.labels(status=event.to_status).inc()


def subscribe() -> None:
    """Count what the apps announce, once it is committed (CoreConfig.ready)."""
    events.subscribe(events.SyncFinished, on_sync_finished, on_commit=True)
    events.subscribe(events.PayoutStatusChanged, on_payout_status_changed, on_commit=True)


# --- scrape-time gauges --------------------------------------------------------------------


@dataclass(frozen=True)
class GaugeSource:
    name: str
    documentation: str
    count: Callable[[], float]


_sources: dict[str, GaugeSource] = {}


def gauge_source(name: str, documentation: str) -> Callable[[Callable[[], float]], Callable]:
    """Register ``fn() -> number`` as gauge ``name``, computed on each scrape (an app's
    ``AppConfig.ready`` imports the module that uses this decorator)."""

    def register(fn: Callable[[], float]) -> Callable[[], float]:
        _sources[name] = GaugeSource(name, documentation, fn)
        return fn

    return register


class ScrapeCollector(Collector):
    """The registered gauges and the Celery queue depth.  A source that fails (the database
    is down) is left out of this scrape and logged; the others are still served."""

    def collect(self) -> Iterator[Metric]:
        for source in list(_sources.values()):
            try:
                value = float(source.count())
            except Exception as exc:
                log.warning("metric %s not computed (%s)", source.name, type(exc).__name__)
                continue
            yield GaugeMetricFamily(source.name, source.documentation, value=value)
        depth = _queue_depth()
        if depth is not None:
            family = GaugeMetricFamily(
                "backoffice_celery_queue_depth",
                "Tasks waiting in the Celery queue (not yet taken by a worker).",
                labels=["queue"],
            )
            family.add_metric([QUEUE], depth)
            yield family


QUEUE = "celery"


def _queue_depth() -> float | None:
    if settings.TASKS_IN_PROCESS:
        return None  # no queue: tasks run where they are sent
    try:
        # The broker's own key: kombu puts the deployment's prefix in front of it.
        return float(probe_client().llen(core_redis.key(QUEUE)))
    except Exception as exc:
        log.warning("queue depth not read (%s)", type(exc).__name__)
        return None


def exposition() -> bytes:
    """The text Prometheus reads: every process's counters (multiprocess mode) or this
    process's, then the scrape-time gauges."""
    directory = getattr(settings, "PROMETHEUS_MULTIPROC_DIR", "")
    if directory:
        counted = CollectorRegistry()
        multiprocess.MultiProcessCollector(counted, path=directory)
    else:
        counted = REGISTRY
    scraped = CollectorRegistry(auto_describe=False)
    scraped.register(ScrapeCollector())
    return generate_latest(counted) + generate_latest(scraped)
