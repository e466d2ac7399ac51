"""Reads of balance reviews, shared by the pages, the API and the sync.

An open review counts only while the balance still has the version the review was opened
against (``current_open``): a write that moved it (a payout, a change applied elsewhere) makes
the question moot even before the row is marked cleared."""

from __future__ import annotations

from django.db.models import F, OuterRef, Q, QuerySet, Subquery

from balances.models import Balance, BalanceReview
from core.errors import NotFound
from core.money import currencies
from core.money.dbfields import AmountField
from services.models import Service

Status = BalanceReview.Status


def current_open() -> QuerySet[BalanceReview]:
    """Open reviews whose balance has not moved since they were opened."""
    return BalanceReview.objects.filter(
        status=Status.OPEN, balance__isnull=False, manual_version=F("balance__version")
    )


def review_get(service: Service, currency: str) -> BalanceReview:
    """The review waiting on the service's ``currency`` balance, with its balance and run;
    ``NotFound`` when none is (no balance, nothing held, decided or cleared)."""
    code = currencies.normalise_code(currency)
    review = (
        current_open()
        .filter(service=service, currency=code)
        .select_related("balance", "sync_run")
        .first()
    )
    if review is None:
        raise NotFound(f"No review is waiting on the {code} balance of {service.public_id}.")
    review.service = service
    return review


def with_open_review(balances: QuerySet[Balance]) -> QuerySet[Balance]:
    """``balances`` annotated with their waiting review (``review_id``, the public id, and
    ``review_provider_available``; None when none waits), in the same query."""
    waiting = BalanceReview.objects.filter(
        balance=OuterRef("pk"), status=Status.OPEN, manual_version=OuterRef("version")
    )
    return balances.annotate(
        review_id=Subquery(waiting.values("public_id")[:1]),
        review_provider_available=Subquery(
            waiting.values("provider_available")[:1], output_field=AmountField()
        ),
    )


def reviews_for_sync(service_id: int) -> list[BalanceReview]:
    """What a sync of the service must know: every open review (current or not: a stale one
    is cleared before another opens) and the "keep manual value" decisions that still hold
    (taken against the balance's current version)."""
    return list(
        BalanceReview.objects.filter(service_id=service_id, balance__isnull=False)
        .filter(Q(status=Status.OPEN) | Q(status=Status.KEPT, manual_version=F("balance__version")))
        .order_by("opened_at", "id")
    )


def open_reviews(*, limit: int = 20) -> list[BalanceReview]:
    """Reviews waiting across services, oldest first, for the overview's attention list."""
    return list(current_open().select_related("service").order_by("opened_at", "id")[:limit])
