"""A balance below what open payouts hold: an operator's edit there is refused (page and API);
a sync that reports less is applied (the provider is the truth) and marked for operators."""

from __future__ import annotations

from decimal import Decimal

import pytest

from balances import actions
from balances.connections.actions import connection_save
from balances.models import Balance, BalanceChange, SyncRun
from balances.sync.request import sync_request
from core.actors import Actor
from core.errors import Conflict
from payouts import actions as payout_actions
from tests.factories import BalanceFactory, PayoutFactory
from tests.provider_server import SYNCPAY_PATH, ProviderServer, syncpay_body

pytestmark = pytest.mark.django_db
D = Decimal
REFUSAL = "Open payouts hold 900.00 EUR of this balance; it cannot be set below that."


@pytest.fixture
def held(service):
    """EUR 1000 with an open payout of 900 holding 900 of it."""
    BalanceFactory(service=service, currency="EUR", available=D("1000.00"))
    payout = PayoutFactory(service=service, currency="EUR", amount=D("900.00"))
    balance = Balance.objects.get(service=service, currency="EUR")
    assert balance.held == D("900.00")
    return payout


def _eur(service) -> Balance:
    return Balance.objects.get(service=service, currency="EUR")


def _edit(service, amount: str) -> Balance:
    return actions.balance_update(
        service=service,
        currency="EUR",
        amount=amount,
        expected_version=None,
        actor=Actor.system("tests"),
        reason="Correction",
    )


def test_an_edit_below_the_holds_is_refused_and_changes_nothing(service, held):
    before = _eur(service)

    with pytest.raises(Conflict) as exc:
        _edit(service, "100")

    assert exc.value.code == "below_holds"
    assert exc.value.http_status == 409
    assert exc.value.field == "amount"
    assert exc.value.message == REFUSAL
    after = _eur(service)
    assert (after.available, after.version) == (before.available, before.version)
    assert not BalanceChange.objects.filter(kind="updated").exists()


def test_an_edit_down_to_exactly_the_holds_is_accepted(service, held):
    assert _edit(service, "900").available_for_payout == 0


def test_without_holds_an_edit_may_still_go_negative(service):
    BalanceFactory(service=service, currency="EUR", available=D("10.00"))
    assert _edit(service, "-5").available == D("-5.00")


def test_paying_after_a_refused_edit_never_leaves_the_balance_short(service, held):
    with pytest.raises(Conflict):
        _edit(service, "100")
    actor = Actor.system("tests")
    payout = payout_actions.payout_transition(payout=held, to_status="processing", actor=actor)
    payout_actions.payout_transition(payout=payout, to_status="paid", actor=actor)

    after = _eur(service)
    assert (after.available, after.held, after.available_for_payout) == (D("100.00"), 0, D("100"))


def test_the_edit_page_refuses_it_with_an_error_on_the_amount(service, held, operator_client):
    url = f"/services/{service.public_id}/balances/EUR/edit/"
    response = operator_client.post(url, {"amount": "100", "reason": "r", "version": "1"})

    assert response.status_code == 409
    form = response.context["form"]
    assert form.errors["amount"] == [REFUSAL]
    assert REFUSAL in response.content.decode()
    assert _eur(service).available == D("1000.00")


def test_the_api_refuses_it_with_409(service, held, operator_api):
    response = operator_api.patch(
        f"/api/v1/services/{service.public_id}/balances/EUR",
        data={"amount": 100, "reason": "Correction"},
        content_type="application/json",
    )

    assert response.status_code == 409
    error = response.json()["error"]
    assert (error["code"], error["message"]) == ("below_holds", REFUSAL)
    assert error["details"]["amount"] == [REFUSAL]
    assert error["details"]["held"] == 900.00
    assert _eur(service).available == D("1000.00")


# --- a sync that reports less than the holds --------------------------------------------


@pytest.fixture
def provider_below(service, allow_listed):
    with ProviderServer() as server:
        allow_listed(server.url)
        server.route(SYNCPAY_PATH, syncpay_body(("EUR", "100.00", "0.00")))
        connection_save(
            service=service,
            kind="syncpay",
            actor=Actor.system("tests"),
            base_url=server.url,
            credentials={"apiKey": "sk_test_belowholds1"},
        )
        yield server


def test_a_sync_below_the_holds_is_applied_and_marked(
    service, held, provider_below, clients, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        run = sync_request(service=service, trigger="button")
    run.refresh_from_db()

    assert run.status == SyncRun.Status.SUCCEEDED, run.error_message
    balance = _eur(service)
    assert (balance.available, balance.held) == (D("100.00"), D("900.00"))
    assert balance.available_for_payout == D("-800.00")
    assert run.result["belowHolds"] == [
        {"currency": "EUR", "held": "900.00", "available": "100.00"}
    ]
    change = BalanceChange.objects.get(sync_run=run)
    assert "below what open payouts hold (900.00 EUR)" in change.reason

    page = clients["viewer"].get(f"/services/{service.public_id}/balances/").content.decode()
    assert "Below payout holds" in page  # the card's badge
    status = clients["viewer"].get(
        f"/services/{service.public_id}/balances/sync-status/?run={run.public_id}",
        HTTP_HX_REQUEST="true",
    )
    assert "EUR: below payout holds (900.00 held)" in status.content.decode()  # the result
    detail = (
        clients["viewer"]
        .get(f"/services/{service.public_id}/sync-runs/{run.public_id}/")
        .content.decode()
    )
    assert "Below payout holds" in detail
    assert "EUR (available 100.00, held 900.00)" in detail


def test_no_badge_while_the_balance_covers_its_holds(service, held, clients):
    page = clients["viewer"].get(f"/services/{service.public_id}/balances/").content.decode()
    assert "Below payout holds" not in page
