"""Operating the app in production: request ids and log context (``context``), JSON logs
(``logs``), Prometheus metrics (``metrics``), worker and scheduler heartbeats
(``heartbeats``), readiness checks (``health``), the Celery signal handlers that carry all of
this into tasks (``tasks``) and error reporting (``sentry``).

Nothing here imports an app: the apps above announce what happened through
:mod:`core.events` and register their own scrape-time gauges (:func:`metrics.gauge_source`).
"""
