"""Payouts as CSV rows (core/csvexport.py holds the format's rules): the columns, and the
rows of a filtered list, read in constant memory."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from django.db.models import OuterRef, QuerySet, Subquery

from core.csvexport import iterate
from core.money.currencies import plain_amount
from payouts.models import Payout, PayoutEvent

# The idempotency key is the client's own reference for the request (the API returns it
# too), not a secret; the request fingerprint is internal and stays out.
PAYOUT_HEADER: Sequence[str] = (
    "payout_id",
    "service_id",
    "service_name",
    "status",
    "currency",
    "amount",
    "fee",
    "total",
    "destination",
    "idempotency_key",
    "failure_reason",
    "created_by",
    "created_at",
    "updated_at",
    "processing_at",
    "ended_at",
)


# Read as plain tuples, the service's two columns joined in: no model instance per row.
_COLUMNS = (
    "public_id",
    "service__public_id",
    "service__name",
    "status",
    "currency",
    "amount",
    "fee",
    "destination",
    "idempotency_key",
    "failure_reason",
    "created_by_label",
    "created_at",
    "updated_at",
    "processing_at",
    "ended_at",
)


def _for_export(payouts: QuerySet[Payout]) -> QuerySet[Any]:
    """When processing started comes from the timeline, in the same query: the export costs
    one query whatever the number of rows."""
    started = PayoutEvent.objects.filter(
        payout=OuterRef("pk"), to_status=Payout.Status.PROCESSING
    ).order_by("created_at", "id")
    return payouts.annotate(processing_at=Subquery(started.values("created_at")[:1])).values_list(
        *_COLUMNS
    )


def payout_rows(payouts: QuerySet[Payout]) -> Iterator[list[Any]]:
    """One row per payout of ``payouts``, in its order (lazy: read while streaming): the
    columns of ``_COLUMNS``, amounts with their currency's digits and the total after them."""
    for row in iterate(_for_export(payouts)):
        code, amount, fee = row[4], row[5], row[6]
        yield [
            *row[:5],
            plain_amount(amount, code),
            plain_amount(fee, code),
            plain_amount(amount + fee, code),
            *row[7:],
        ]
