"""Prometheus metrics: the counters and histograms the code updates as things happen.

Free of Django's database layer, so that the provider adapters can count their requests; the
gauges computed when Prometheus scrapes, and the text served, are in
:mod:`core.observability.exposition`.

Several processes (gunicorn workers, Celery workers) each count their own part: with
``PROMETHEUS_MULTIPROC_DIR`` set (the same directory for every process on a host, emptied
before they start: config/gunicorn.conf.py), prometheus-client writes each process's values
to files there and the exposition adds them up.  Without it, one process counts alone
(the embedded default, a single worker).

Labels are bounded: a view name, an HTTP status, a provider kind, a trigger, a status, an
outcome — never an amount, a secret or an id.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

HTTP_REQUESTS = Counter(
    "backoffice_http_requests",
    "HTTP requests answered, by view (URL name, not path), method and status.",
    ["view", "method", "status"],
)
HTTP_LATENCY = Histogram(
    "backoffice_http_request_duration_seconds",
    "Time to answer an HTTP request, by view and method.",
    ["view", "method"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
SYNC_RUNS = Counter(
    "backoffice_sync_runs",
    "Balance sync runs that ended, by provider, trigger and status (succeeded, failed).",
    ["provider", "trigger", "status"],
)
SYNC_DURATION = Histogram(
    "backoffice_sync_duration_seconds",
    "Time from a sync run's start to its end (retries included), by provider.",
    ["provider"],
    buckets=(0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0),
)
PROVIDER_REQUESTS = Counter(
    "backoffice_provider_requests",
    "HTTP requests to providers, by provider and outcome "
    "(ok, 4xx, 5xx, rate_limited, timeout, unreachable).",
    ["provider", "outcome"],
)
RATE_LIMIT_WAIT = Histogram(
    "backoffice_provider_rate_limit_wait_seconds",
    "Time a provider request waited for a slot of the shared rate limit, by provider.",
    ["provider"],
    buckets=(0.0, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
PAYOUTS = Counter(
    "backoffice_payouts",
    "Payouts entering a status (created ones as pending), by status.",
    ["status"],
)


# --- what the code calls -----------------------------------------------------------------


def provider_outcome(status: int | None, *, timeout: bool = False) -> str:
    """The bounded outcome label of one provider request."""
    if timeout:
        return "timeout"
    if status is None:
        return "unreachable"
    if status == 429:
        return "rate_limited"
    if 200 <= status < 300:
        return "ok"
    if status >= 500:
        return "5xx"
    if status >= 400:
        return "4xx"
    return "other"


def provider_request(provider: str, outcome: str) -> None:
    PROVIDER_REQUESTS.labels(provider=provider, outcome=outcome).inc()


def rate_limit_waited(provider: str, seconds: float) -> None:
    RATE_LIMIT_WAIT.labels(provider=provider).observe(max(0.0, seconds))


def http_request(view: str, method: str, status: int, seconds: float) -> None:
    method = method if method in HTTP_METHODS else "other"
    HTTP_REQUESTS.labels(view=view, method=method, status=str(status)).inc()
    HTTP_LATENCY.labels(view=view, method=method).observe(seconds)
