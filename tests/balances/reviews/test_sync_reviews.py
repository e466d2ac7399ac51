"""The protection of values set by hand, through real syncs against a local SyncPay server:
held for review while the other currencies are applied, refreshed, cleared when the provider
agrees or the window ends, decided (accept / keep), and the query count."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection as db_connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from balances.actions import balance_create, balance_delete, balance_update
from balances.models import Balance, BalanceChange, BalanceReview, SyncRun
from balances.providers.base import CurrencyFigures, Snapshot
from balances.reviews.actions import review_decide
from balances.sync.apply import snapshot_apply
from core.actors import Actor
from core.errors import Conflict, NotFound
from services.models import ProviderConnection
from tests.balances.reviews.conftest import usd
from tests.factories import ServiceFactory

D = Decimal


def test_a_value_set_by_hand_survives_a_sync_and_waits_for_review(
    held, connected, operator, clients
):
    run = SyncRun.objects.get(status="succeeded")
    balance = usd(connected)
    assert (balance.available, balance.version, balance.updated_by_label) == (
        D("1100.00"),
        2,
        operator.username,
    )
    assert balance.last_synced_at == run.finished_at  # seen: not stale while it waits
    ngn = Balance.objects.get(service=connected, currency="NGN")
    assert ngn.available == D("7.00")  # the other currency was applied
    assert (run.updated_count, run.held_count, run.unchanged_count) == (1, 1, 0)
    assert run.result["counts"]["heldForReview"] == 1
    [item] = run.result["heldForReview"]
    assert item == {
        "currency": "USD",
        "by": operator.username,
        "at": item["at"],
        "manual": "1100.00",
        "provider": "1250.50",
        "difference": "150.50",
        "kept": False,
        "reviewId": held.public_id,
    }
    assert (held.manual_available, held.provider_available, held.difference) == (
        D("1100.00"),
        D("1250.50"),
        D("150.50"),
    )
    assert (held.manual_version, held.manual_set_by_label, held.sync_run) == (
        2,
        operator.username,
        run,
    )
    line = BalanceChange.objects.get(service=connected, currency="USD", kind="synced")
    assert (line.old_available, line.new_available) == (D("1100.00"), D("1100.00"))
    assert f"Held for review ({held.public_id})" in line.reason
    assert "1250.50 USD" in line.reason and "+150.50" in line.reason

    page = clients["viewer"].get(f"/services/{connected.public_id}/balances/").content.decode()
    assert "Waiting for review" in page and "1,250.50" in page and "+150.50" in page
    detail = clients["viewer"].get(f"/services/{connected.public_id}/sync-runs/{run.public_id}/")
    assert "Held for review" in detail.content.decode()


def test_the_next_sync_refreshes_the_open_review_instead_of_opening_another(held, sync):
    run = sync("1300.00")
    held.refresh_from_db()
    assert held.status == "open" and held.provider_available == D("1300.00")
    assert held.sync_run == run
    assert BalanceReview.objects.count() == 1
    assert BalanceChange.objects.filter(kind="synced", currency="USD").count() == 1
    assert run.result["heldForReview"][0]["reviewId"] == held.public_id


def test_accepting_applies_the_provider_value_and_later_syncs_update_it(
    held, connected, operator, sync
):
    review_decide(
        service=connected,
        currency="USD",
        decision="accept_provider",
        note="provider statement checked",
        actor=Actor.for_user(operator),
    )
    balance = usd(connected)
    assert (balance.available, balance.version, balance.updated_by_type) == (
        D("1250.50"),
        3,
        "sync",
    )
    held.refresh_from_db()
    assert (held.status, held.decided_by_label, held.note) == (
        "accept_provider",
        operator.username,
        "provider statement checked",
    )
    change = BalanceChange.objects.get(kind="reviewed")
    assert (change.actor_label, change.old_available, change.new_available) == (
        operator.username,
        D("1100.00"),
        D("1250.50"),
    )
    assert "Provider value accepted" in change.reason
    assert "provider statement checked" in change.reason
    run = sync("1300.00")
    assert usd(connected).available == D("1300.00") and run.held_count == 0


def test_keeping_the_manual_value_holds_for_the_same_provider_value_and_reopens_on_another(
    held, connected, operator, sync
):
    review_decide(
        service=connected, currency="USD", decision="keep_manual", actor=Actor.for_user(operator)
    )
    change = BalanceChange.objects.get(kind="reviewed")
    assert change.old_available == change.new_available == D("1100.00")
    assert "Manual value kept" in change.reason

    again = sync("1250.50")
    assert usd(connected).available == D("1100.00")
    assert again.held_count == 1 and again.result["heldForReview"][0]["kept"] is True
    assert not BalanceReview.objects.filter(status="open").exists()

    other = sync("1275.00")
    assert usd(connected).available == D("1100.00")
    reopened = BalanceReview.objects.get(status="open")
    assert reopened.pk != held.pk and reopened.provider_available == D("1275.00")
    assert other.result["heldForReview"][0]["reviewId"] == reopened.public_id


def test_the_provider_agreeing_clears_the_review_and_confirms_the_balance(held, connected, sync):
    run = sync("1100.00")
    held.refresh_from_db()
    assert (held.status, held.cleared_because) == ("cleared", "provider_agreed")
    balance = usd(connected)
    assert balance.available == D("1100.00") and balance.last_synced_at == run.finished_at
    assert run.held_count == 0 and run.unchanged_count == 2  # USD and NGN


def test_outside_the_window_the_sync_overwrites_and_the_review_goes(
    held, connected, operator, sync, settings
):
    settings.SYNC_PROTECTION_HOURS = 24
    Balance.objects.filter(service=connected, currency="USD").update(
        updated_at=timezone.now() - timedelta(hours=24, minutes=1)
    )
    run = sync("1250.50")
    assert usd(connected).available == D("1250.50")
    assert run.held_count == 0
    assert run.result["replacedManualEdits"][0]["by"] == operator.username
    held.refresh_from_db()
    assert (held.status, held.cleared_because) == ("cleared", "window_ended")


def test_a_window_of_zero_overwrites_as_before(hand_set, connected, sync, settings):
    settings.SYNC_PROTECTION_HOURS = 0
    run = sync("1250.50")
    assert usd(connected).available == D("1250.50")
    assert run.held_count == 0 and not BalanceReview.objects.exists()


def test_a_balance_only_created_by_hand_is_not_protected(connected, sync):
    run = sync("1250.50")
    assert usd(connected).available == D("1250.50")
    assert run.held_count == 0 and not BalanceReview.objects.exists()


def test_the_same_figures_with_another_pending_amount_are_applied(hand_set, connected, sync):
    """Agreement is on the value set by hand (available): the provider's pending figure may
    still be written, and the value becomes the provider's."""
    run = sync("1100.00", pending="25.00")
    balance = usd(connected)
    assert (balance.available, balance.pending, balance.updated_by_type) == (
        D("1100.00"),
        D("25.00"),
        "sync",
    )
    assert run.held_count == 0


def test_a_manual_edit_clears_the_review_and_a_decision_then_says_it_moved(
    held, connected, operator, clients
):
    balance_update(
        service=connected,
        currency="USD",
        amount=D("1200.00"),
        expected_version=2,
        actor=Actor.for_user(operator),
        reason="second thoughts",
    )
    held.refresh_from_db()
    assert (held.status, held.cleared_because) == ("cleared", "balance_changed")
    page = clients["viewer"].get(f"/services/{connected.public_id}/balances/").content.decode()
    assert "Waiting for review" not in page
    with pytest.raises(Conflict) as exc:
        review_decide(
            service=connected,
            currency="USD",
            decision="accept_provider",
            actor=Actor.for_user(operator),
        )
    assert exc.value.code == "balance_moved" and "1,200.00" in exc.value.message
    assert usd(connected).available == D("1200.00")


def test_a_manual_edit_inside_the_window_is_held_again_with_a_fresh_review(
    held, connected, operator, sync
):
    balance_update(
        service=connected,
        currency="USD",
        amount=D("1200.00"),
        expected_version=2,
        actor=Actor.for_user(operator),
        reason="second thoughts",
    )
    sync("1250.50")
    fresh = BalanceReview.objects.get(status="open")
    assert (fresh.manual_available, fresh.manual_version) == (D("1200.00"), 3)


def test_deleting_the_balance_clears_its_review(held, connected, operator):
    Balance.objects.filter(pk=held.balance_id).update(pending=0, reserved=0)
    balance_delete(service=connected, currency="USD", actor=Actor.for_user(operator))
    held.refresh_from_db()
    assert (held.status, held.cleared_because, held.balance) == (
        "cleared",
        "balance_deleted",
        None,
    )
    with pytest.raises(NotFound):
        review_decide(
            service=connected,
            currency="USD",
            decision="keep_manual",
            actor=Actor.for_user(operator),
        )


def test_a_write_elsewhere_that_moved_the_balance_refuses_the_decision(held, connected, operator):
    """A write that does not clear reviews itself (a payout's debit): the version tells."""
    Balance.objects.filter(pk=held.balance_id).update(version=F("version") + 1)
    with pytest.raises(Conflict):
        review_decide(
            service=connected,
            currency="USD",
            decision="keep_manual",
            actor=Actor.for_user(operator),
        )
    assert not BalanceChange.objects.filter(kind="reviewed").exists()


def test_deciding_twice_finds_nothing_waiting(held, connected, operator):
    review_decide(
        service=connected, currency="USD", decision="keep_manual", actor=Actor.for_user(operator)
    )
    with pytest.raises(NotFound):
        review_decide(
            service=connected,
            currency="USD",
            decision="accept_provider",
            actor=Actor.for_user(operator),
        )
    assert usd(connected).available == D("1100.00")


# --- query count ------------------------------------------------------------------------------

CODES = ["AUD", "CAD", "CHF", "EUR", "GBP", "JPY", "NOK", "PLN", "SEK", "USD"]


def _held_apply_queries(operator, count: int, rounds: int) -> int:
    """Queries of the last of ``rounds`` applies of a snapshot contradicting ``count``
    values set by hand (the first round opens the reviews, the next ones refresh them)."""
    service = ServiceFactory()
    actor = Actor.for_user(operator)
    for code in CODES[:count]:
        balance_create(service=service, currency=code, amount=D(1), actor=actor)
        balance_update(
            service=service,
            currency=code,
            amount=D(2),
            expected_version=1,
            actor=actor,
            reason="by hand",
        )
    connection = ProviderConnection.objects.create(service=service, kind="syncpay")
    figures = tuple(CurrencyFigures(c, D(3), D(0), D(0), {}) for c in CODES[:count])
    snapshot = Snapshot("syncpay", datetime(2026, 11, 21, tzinfo=UTC), figures, False, {})
    for _ in range(rounds):
        run = SyncRun.objects.create(
            service=service, provider_kind="syncpay", trigger="command", status="running"
        )
        with CaptureQueriesContext(db_connection) as ctx:
            snapshot_apply(run=run, connection=connection, snapshot=snapshot)
    assert BalanceReview.objects.filter(service=service, status="open").count() == count
    return len(ctx.captured_queries)


@pytest.mark.parametrize("rounds", [1, 2], ids=["opening", "refreshing"])
def test_holding_costs_the_same_queries_for_2_or_10_currencies(db, operator, rounds):
    # lock balances, the reviews, [open | refresh] the reviews, [history of those opened],
    # finish the run, connection state (+ savepoints)
    assert _held_apply_queries(operator, 2, rounds) == _held_apply_queries(operator, 10, rounds)
