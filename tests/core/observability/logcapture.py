"""Capture every log line as the production handler writes it (JSON formatter and context
filter of core/observability/logs.py), to parse line by line."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from core.observability.logs import ContextFilter, JsonFormatter


class JsonLines:
    def __init__(self) -> None:
        self.stream = io.StringIO()

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def records(self) -> list[dict[str, Any]]:
        """Each line parsed: every line must be one JSON object."""
        return [json.loads(line) for line in self.text.splitlines() if line.strip()]


@contextmanager
def json_log(level: int = logging.DEBUG) -> Iterator[JsonLines]:
    captured = JsonLines()
    handler = logging.StreamHandler(captured.stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(level)
    try:
        yield captured
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
