"""Sync runs as CSV rows (core/csvexport.py holds the format's rules): the columns, and the
rows of a list, read in constant memory.  Error messages are stored free of secrets (the
sync writes them so); the cells are still neutralised like every other."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from balances.models import SyncRun
from core.csvexport import iterate, seconds

SYNC_RUN_HEADER: Sequence[str] = (
    "run_id",
    "service_id",
    "service_name",
    "provider",
    "trigger",
    "requested_by",
    "status",
    "created_at",
    "started_at",
    "finished_at",
    "duration_seconds",
    "attempts",
    "updated_count",
    "unchanged_count",
    "created_count",
    "skipped_count",
    "not_reported_count",
    "error_category",
    "error_message",
)


# Read as plain tuples, the service's and the requester's columns joined in: no model
# instance per row.
_COLUMNS = (
    "public_id",
    "service__public_id",
    "service__name",
    "provider_kind",
    "trigger",
    f"requested_by__{get_user_model().USERNAME_FIELD}",
    "status",
    "created_at",
    "started_at",
    "finished_at",
    "attempts",
    "updated_count",
    "unchanged_count",
    "created_count",
    "skipped_count",
    "not_reported_count",
    "error_category",
    "error_message",
)


def sync_run_rows(runs: QuerySet[SyncRun]) -> Iterator[list[Any]]:
    """One row per run of ``runs``, in its order, in one query (lazy: read while streaming):
    the columns of ``_COLUMNS`` with the duration after the finish."""
    for row in iterate(runs.values_list(*_COLUMNS)):
        started, finished = row[8], row[9]
        duration = finished - started if started and finished else None
        yield [*row[:10], seconds(duration), *row[10:]]
