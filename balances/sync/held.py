"""What a sync does with the reviews of values set by hand (``BalanceReview``).

A balance set by hand (or by an approved change) less than ``SYNC_PROTECTION_HOURS`` ago is
protected: when the provider reports another available amount, the plan holds it
(``plan.HELD``) and this module opens a review, or refreshes the open one with the provider's
latest figures.  An operator's "keep the manual value" against the same provider figures
holds: it is not asked again; other figures reopen the question.  A review closes by itself
(``cleared``) when the provider comes to agree, when the window ends and the sync applies its
value, or when the balance moved since the review opened.

Reads and writes here cost a fixed number of queries whatever the number of currencies, and
none at all for a service without a balance set by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings

from balances.models import Balance, BalanceReview, SyncRun
from balances.reviews.clearing import reviews_clear
from balances.reviews.queries import reviews_for_sync
from balances.sync.plan import (
    HELD,
    NOT_REPORTED,
    CurrencyPlan,
    Figures,
    Plan,
    edited_by_hand,
)

Because = BalanceReview.ClearedBecause


def protection_start(now: datetime) -> datetime | None:
    """Values set by hand at or after this are protected; None when protection is off."""
    hours = settings.SYNC_PROTECTION_HOURS
    return now - timedelta(hours=hours) if hours > 0 else None


@dataclass
class HeldReviews:
    """The service's open reviews and standing "keep" decisions, by balance id."""

    open: dict[int, BalanceReview] = field(default_factory=dict)
    kept: dict[int, BalanceReview] = field(default_factory=dict)

    @classmethod
    def load(cls, service_id: int, locked: list[Balance]) -> HeldReviews:
        """One query, and only when a balance was last edited by hand: a review is only ever
        opened for such a balance, and any write by someone else moves it past the review."""
        found = cls()
        if not any(edited_by_hand(b) for b in locked):
            return found
        for review in reviews_for_sync(service_id):  # oldest first: the latest wins
            table = found.open if review.is_open else found.kept
            assert review.balance_id is not None
            table[review.balance_id] = review
        return found

    def kept_figures(self, locked: list[Balance]) -> dict[str, Figures]:
        """Per currency, the provider figures the manual value was kept against."""
        by_id = {b.pk: b for b in locked}
        return {
            by_id[balance_id].currency: _provider_figures(review)
            for balance_id, review in self.kept.items()
            if balance_id in by_id
        }

    def record(
        self, *, run: SyncRun, plan: Plan, locked: list[Balance], now: datetime
    ) -> tuple[dict[str, BalanceReview], dict[str, BalanceReview]]:
        """Open, refresh and clear reviews as ``plan`` says.  Returns the review of each held
        currency (opened, refreshed, or the decision to keep that still holds) and those newly
        opened (their history is written by the caller)."""
        by_currency = {b.currency: b for b in locked}
        outcome = _Outcome(run=run, now=now)
        for entry in plan.entries:
            balance = by_currency.get(entry.currency)
            if balance is not None:
                self._settle(entry, balance, outcome)
        outcome.write()
        return outcome.held, outcome.opened

    def _settle(self, entry: CurrencyPlan, balance: Balance, outcome: _Outcome) -> None:
        review = self.open.get(balance.pk)
        current = review is not None and review.manual_version == balance.version
        if review is not None and not current:
            outcome.clear(balance, Because.BALANCE_CHANGED)
        if entry.action == HELD:
            assert entry.new is not None and entry.held is not None
            if review is not None and current:
                outcome.refresh(entry.currency, review, entry.new)
            elif entry.held["kept"]:
                outcome.held[entry.currency] = self.kept[balance.pk]
            else:
                outcome.open(balance, entry.new)
        elif current and entry.action != NOT_REPORTED and entry.new is not None:
            agreed = entry.old is not None and entry.new.available == entry.old.available
            outcome.clear(balance, Because.PROVIDER_AGREED if agreed else Because.WINDOW_ENDED)


@dataclass
class _Outcome:
    """The review writes of one sync, made in a few statements at the end."""

    run: SyncRun
    now: datetime
    held: dict[str, BalanceReview] = field(default_factory=dict)
    opened: dict[str, BalanceReview] = field(default_factory=dict)
    refreshed: list[BalanceReview] = field(default_factory=list)
    cleared: dict[str, list[int]] = field(default_factory=dict)

    def clear(self, balance: Balance, because: str) -> None:
        self.cleared.setdefault(because, []).append(balance.pk)

    def refresh(self, currency: str, review: BalanceReview, new: Figures) -> None:
        review.provider_available = new.available
        review.provider_pending = new.pending
        review.provider_reserved = new.reserved
        review.last_seen_at = self.now
        review.sync_run = self.run
        self.refreshed.append(review)
        self.held[currency] = review

    def open(self, balance: Balance, new: Figures) -> None:
        review = _new_review(balance, new, self.run, self.now)
        self.opened[balance.currency] = self.held[balance.currency] = review

    def write(self) -> None:
        """Cleared first: a stale open review must go before another opens (one open review
        per balance).  At most five statements."""
        for because, ids in self.cleared.items():
            reviews_clear(balance_ids=ids, because=because)
        if self.refreshed:
            BalanceReview.objects.bulk_update(self.refreshed, _REFRESHED)
        if self.opened:
            BalanceReview.objects.bulk_create(self.opened.values())


_REFRESHED = (
    "provider_available",
    "provider_pending",
    "provider_reserved",
    "last_seen_at",
    "sync_run",
)


def _provider_figures(review: BalanceReview) -> Figures:
    zero = Decimal(0)
    return Figures(
        review.provider_available,
        zero if review.provider_pending is None else review.provider_pending,
        zero if review.provider_reserved is None else review.provider_reserved,
    )


def _new_review(balance: Balance, new: Figures, run: SyncRun, now: datetime) -> BalanceReview:
    return BalanceReview(
        balance=balance,
        service_id=balance.service_id,
        currency=balance.currency,
        manual_available=balance.available,
        manual_version=balance.version,
        manual_set_at=balance.updated_at,
        manual_set_by_label=balance.updated_by_label,
        provider_available=new.available,
        provider_pending=new.pending,
        provider_reserved=new.reserved,
        sync_run=run,
        opened_at=now,
        last_seen_at=now,
    )
