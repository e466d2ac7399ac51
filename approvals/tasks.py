"""Thin Celery tasks.  The names are part of the contract (the beat schedule)."""

from __future__ import annotations

from celery import shared_task

from approvals.actions import approvals_expire_due


@shared_task(name="approvals.tasks.expire_due", ignore_result=True)
def expire_due() -> int:
    """Expire the requests past their time (a payout's hold is released); also refreshes the
    navigation's count of requests waiting."""
    return approvals_expire_due()
