"""Log lines: one JSON object per line (``LOG_FORMAT=json``) or today's readable text.

:class:`ContextFilter` (on the handler, so that every logger's records pass it) adds the
bound context (:mod:`core.observability.context`) to each record.  :class:`JsonFormatter`
writes a fixed set of fields only — time, level, logger, message, the context fields, the
exception — never a record's other attributes, which libraries fill with whatever they have at
hand (a request object, a response).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

from core.observability import context

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class ContextFilter(logging.Filter):
    """Adds ``record.context``: the request id, caller and objects the code works on."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "context"):
            record.context = {**context.current(), **context.caller()}
        return True


class JsonFormatter(_JsonFormatter):
    """``{"time", "level", "logger", "message", "request_id", …}`` one object per line."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("json_ensure_ascii", False)
        super().__init__(*args, **kwargs)

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        log_data["time"] = datetime.fromtimestamp(record.created, tz=UTC).isoformat(
            timespec="milliseconds"
        )
        log_data["level"] = record.levelname
        log_data["logger"] = record.name
        log_data["message"] = record.message
        bound = getattr(record, "context", None)
        if bound is None:  # a handler without the filter: read the context here
            bound = {**context.current(), **context.caller()}
        log_data["request_id"] = bound.get("request_id")
        for field in context.FIELDS:
            if field != "request_id" and bound.get(field) is not None:
                log_data[field] = bound[field]
        if record.exc_info:
            log_data["exc_info"] = self.formatException(record.exc_info)
        elif record.exc_text:
            log_data["exc_info"] = record.exc_text
        if record.stack_info:
            log_data["stack_info"] = self.formatStack(record.stack_info)

    def format(self, record: logging.LogRecord) -> str:
        # The base class adds exc_info/stack_info itself after add_fields; ours are complete.
        record.message = record.getMessage()
        log_data: dict[str, Any] = {}
        self.add_fields(log_data, record, {})
        return self.serialize_log_record(self.process_log_record(log_data))


def logging_config(*, fmt: str, level: str) -> dict[str, Any]:
    """The ``LOGGING`` dict for ``fmt`` ("json" or "text")."""
    if fmt not in ("json", "text"):
        raise ValueError("LOG_FORMAT must be json or text")
    formatter = (
        {"()": "core.observability.logs.JsonFormatter"}
        if fmt == "json"
        else {"format": TEXT_FORMAT}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": "core.observability.logs.ContextFilter"}},
        "formatters": {"main": formatter},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "main",
                "filters": ["context"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # httpx logs every request line at INFO; ours are logged by providers/http.py.
            "httpx": {"level": "WARNING"},
            "httpcore": {"level": "WARNING"},
        },
    }
