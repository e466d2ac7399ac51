"""Closing open reviews that went away by themselves.  Its own module, importing only models,
so that the manual balance actions can call it without an import cycle."""

from __future__ import annotations

from collections.abc import Iterable

from balances.models import BalanceReview


def reviews_clear(*, balance_ids: Iterable[int], because: str) -> int:
    """Mark the open reviews of these balances ``cleared`` (one statement); returns how many.
    Called inside the writer's transaction, with the balance rows locked."""
    ids = list(balance_ids)
    if not ids:
        return 0
    return BalanceReview.objects.filter(
        balance_id__in=ids, status=BalanceReview.Status.OPEN
    ).update(status=BalanceReview.Status.CLEARED, cleared_because=because)
