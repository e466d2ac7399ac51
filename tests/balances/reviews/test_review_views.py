"""The review page and the card, through the Django test client: who sees and decides what,
the decisions, refusals (400, 404, 409) and what the history says afterwards."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.db import connection as db_connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from balances.actions import balance_update
from balances.models import BalanceChange, BalanceReview
from core.actors import Actor
from tests.balances.reviews.conftest import review_url, usd
from tests.balances.test_balance_views import assert_redirects_to_login, cards, messages_of

D = Decimal


def balances_url(service) -> str:
    return f"/services/{service.public_id}/balances/"


def test_the_card_says_what_waits_and_links_to_the_review(held, connected, clients):
    card = cards(clients["viewer"].get(balances_url(connected)))["USD"]
    assert "Waiting for review" in card
    assert "1,250.50" in card and "+150.50" in card
    assert f'href="{review_url(connected)}"' in card
    assert "Waiting for review" not in cards(clients["viewer"].get(balances_url(connected)))["NGN"]


def test_a_viewer_sees_the_review_without_the_buttons(held, connected, operator, clients):
    response = clients["viewer"].get(review_url(connected))
    assert response.status_code == 200
    html = response.content.decode()
    assert "1,100.00" in html and "1,250.50" in html and "+150.50" in html
    assert f"by {operator.username}" in html and held.sync_run.public_id in html
    assert "<caption>" in html and 'scope="row"' in html
    assert "Accept provider value" not in html and "Keep manual value" not in html


def test_an_operator_sees_both_buttons_in_a_csrf_protected_form(held, connected, clients):
    html = clients["operator"].get(review_url(connected)).content.decode()
    assert 'name="csrfmiddlewaretoken"' in html
    assert 'value="accept_provider">Accept provider value</button>' in html
    assert 'value="keep_manual">Keep manual value</button>' in html
    assert f'name="review" value="{held.public_id}"' in html


@pytest.mark.parametrize(("role", "status"), [("nobody", 403), ("viewer", 403)])
def test_who_may_not_decide_gets_403_and_nothing_changes(held, connected, clients, role, status):
    response = clients[role].post(
        review_url(connected), {"decision": "accept_provider", "review": held.public_id}
    )
    assert response.status_code == status
    assert usd(connected).available == D("1100.00")
    assert BalanceReview.objects.get().status == "open"


def test_anonymous_goes_to_the_login_page(held, connected, clients):
    assert_redirects_to_login(
        clients["anonymous"].get(review_url(connected)), review_url(connected)
    )
    post = clients["anonymous"].post(review_url(connected), {"decision": "keep_manual"})
    assert post.status_code == 302
    assert clients["nobody"].get(review_url(connected)).status_code == 403


def test_the_csrf_token_is_required(held, connected, operator):
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    response = client.post(review_url(connected), {"decision": "accept_provider"})
    assert response.status_code == 403
    assert BalanceReview.objects.get().status == "open"


def test_accepting_from_the_page(held, connected, operator, clients):
    response = clients["operator"].post(
        review_url(connected),
        {"decision": "accept_provider", "review": held.public_id, "note": "bank statement"},
        follow=True,
    )
    assert response.redirect_chain == [(balances_url(connected), 302)]
    assert "USD balance set to the provider's value, 1,250.50." in messages_of(response)
    card = cards(response)["USD"]
    assert "1,250.50" in card and "Waiting for review" not in card
    history = clients["viewer"].get(f"{balances_url(connected)}USD/history/").content.decode()
    assert "Review decided" in history and "Provider value accepted" in history
    assert "bank statement" in history


def test_keeping_from_the_page(held, connected, clients):
    response = clients["operator"].post(
        review_url(connected),
        {"decision": "keep_manual", "review": held.public_id},
        follow=True,
    )
    assert "USD balance kept at 1,100.00, the value set by hand." in messages_of(response)
    assert usd(connected).available == D("1100.00")
    assert BalanceChange.objects.get(kind="reviewed").old_available == D("1100.00")
    assert clients["operator"].get(review_url(connected)).status_code == 404


def test_nothing_waiting_is_a_404(hand_set, connected, clients):
    assert clients["viewer"].get(review_url(connected)).status_code == 404
    assert clients["viewer"].get(review_url(connected, "EUR")).status_code == 404


def test_a_bad_decision_is_a_400_and_changes_nothing(held, connected, clients):
    response = clients["operator"].post(
        review_url(connected), {"decision": "both", "review": held.public_id}
    )
    assert response.status_code == 400
    assert "Decision:" in response.content.decode()
    assert BalanceReview.objects.get().status == "open"


def test_a_too_long_note_is_tied_to_its_field(held, connected, clients):
    response = clients["operator"].post(
        review_url(connected),
        {"decision": "keep_manual", "review": held.public_id, "note": "n" * 501},
    )
    assert response.status_code == 400
    html = response.content.decode()
    textarea = re.search(r"<textarea[^>]*>", html).group(0)
    assert 'aria-describedby="id_note_helptext id_note_error"' in textarea
    assert 'aria-invalid="true"' in textarea
    assert 'id="id_note_error"' in html
    assert BalanceReview.objects.get().status == "open"


def test_a_decision_after_a_manual_edit_says_the_balance_moved(held, connected, operator, clients):
    balance_update(
        service=connected,
        currency="USD",
        amount=D("1180.00"),
        expected_version=2,
        actor=Actor.for_user(operator),
        reason="corrected again",
    )
    response = clients["operator"].post(
        review_url(connected), {"decision": "accept_provider", "review": held.public_id}
    )
    assert response.status_code == 409
    html = response.content.decode()
    assert "after this review opened" in html and "1,180.00" in html
    assert "Nothing is waiting for review" in html
    assert usd(connected).available == D("1180.00")


def test_a_decision_on_a_review_replaced_meanwhile_is_refused(held, connected, clients):
    """The page showed one review; by the time the operator decides, a newer one waits (the
    old one was decided and the question reopened with other figures)."""
    response = clients["operator"].post(
        review_url(connected), {"decision": "accept_provider", "review": "rev_older"}
    )
    assert response.status_code == 409
    assert "review the figures again" in response.content.decode()
    assert usd(connected).available == D("1100.00")


def test_the_sync_runs_pages_say_what_was_held(held, connected, clients):
    run = held.sync_run
    runs = clients["viewer"].get(f"/services/{connected.public_id}/sync-runs/").content.decode()
    assert "Held for review" in runs
    detail = clients["viewer"].get(f"/services/{connected.public_id}/sync-runs/{run.public_id}/")
    html = detail.content.decode()
    assert "set by hand by" in html and "not applied" in html
    assert f'href="{review_url(connected)}"' in html


def test_the_balances_page_costs_the_same_queries_with_or_without_reviews(held, connected, clients):
    client = clients["operator"]
    client.get(balances_url(connected))
    with CaptureQueriesContext(db_connection) as with_review:
        client.get(balances_url(connected))
    BalanceReview.objects.update(status="cleared")
    with CaptureQueriesContext(db_connection) as without:
        html = client.get(balances_url(connected)).content.decode()
    assert "Waiting for review" not in html
    assert len(with_review.captured_queries) == len(without.captured_queries)


def test_the_overview_lists_the_review_among_what_needs_attention(held, connected, clients):
    html = clients["viewer"].get("/").content.decode()
    row = re.search(r'<tr data-issue="review"[^>]*data-currency="USD"[^>]*>(.*?)</tr>', html, re.S)
    assert row is not None
    assert "Waiting for review" in row.group(1) and "1,250.50" in row.group(1)
    filtered = clients["viewer"].get("/", {"issue": "review"}).content.decode()
    assert filtered.count('data-issue="review"') == 1
    clients["operator"].post(
        review_url(connected), {"decision": "keep_manual", "review": held.public_id}
    )
    assert 'data-issue="review"' not in clients["viewer"].get("/").content.decode()
