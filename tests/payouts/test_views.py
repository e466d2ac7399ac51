"""The Payouts pages: who may see and do what, the New payout preview, filters, actions."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from balances.models import BalanceChange
from payouts import actions
from payouts.models import Payout

pytestmark = pytest.mark.django_db
D = Decimal
ROLES = ["anonymous", "nobody", "viewer", "operator", "admin"]
RANK = {role: i for i, role in enumerate(ROLES)}


def assert_access(response, role: str, minimum: str, ok: int = 200) -> None:
    """Anonymous: the login page; below ``minimum``: 403; otherwise ``ok``."""
    if role == "anonymous":
        assert response.status_code == 302, response.status_code
        assert response["Location"].startswith("/accounts/login/")
    elif RANK[role] < RANK[minimum]:
        assert response.status_code == 403, (role, response.status_code)
    else:
        assert response.status_code == ok, (role, response.status_code, response.content[:500])


@pytest.fixture
def urls(priced_service, make_payout):
    payout = make_payout()
    base = f"/services/{priced_service.public_id}/payouts/"
    return {"base": base, "payout": payout, "detail": f"{base}{payout.public_id}/"}


# --- every page for every role ------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_list_and_detail_are_for_viewers_and_above(clients, urls, role):
    assert_access(clients[role].get(urls["base"]), role, "viewer")
    assert_access(clients[role].get(urls["detail"]), role, "viewer")


@pytest.mark.parametrize("role", ROLES)
def test_new_payout_is_for_operators_and_above(clients, urls, role):
    assert_access(clients[role].get(urls["base"] + "add/"), role, "operator")
    body = {"currency": "EUR", "amount": "10.00", "destination": "x", "idempotency_key": "k"}
    assert_access(clients[role].post(urls["base"] + "add/", body), role, "operator")
    assert_access(clients[role].post(urls["base"] + "preview/", body), role, "operator")


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("verb", ["process", "pay", "fail", "cancel"])
def test_payout_actions_are_for_operators_and_above(clients, urls, role, verb):
    url = f"{urls['detail']}{verb}/"
    expected_get = 200 if verb != "pay" else 409  # a pending payout cannot be paid
    assert_access(clients[role].get(url), role, "operator", ok=expected_get)
    response = clients[role].post(url, {"version": urls["payout"].version})
    assert_access(response, role, "operator", ok=409 if verb == "pay" else 302)
    urls["payout"].refresh_from_db()
    if RANK[role] < RANK["operator"]:
        assert urls["payout"].status == "pending"


def test_unknown_payouts_and_verbs_are_404(clients, urls, priced_service):
    admin = clients["admin"]
    assert admin.get(urls["base"] + "po_missing/").status_code == 404
    assert admin.get(urls["detail"] + "refund/").status_code == 404
    assert admin.get("/services/srv_missing/payouts/").status_code == 404


def test_a_payout_is_only_shown_under_its_own_service(clients, urls):
    from tests.factories import ServiceFactory

    other = ServiceFactory()
    url = f"/services/{other.public_id}/payouts/{urls['payout'].public_id}/"
    assert clients["admin"].get(url).status_code == 404


# --- what each role is offered ------------------------------------------------------------


def test_viewers_see_payouts_but_no_buttons(clients, urls):
    page = clients["viewer"].get(urls["base"]).content.decode()
    assert urls["payout"].public_id in page and "New payout" not in page
    detail = clients["viewer"].get(urls["detail"]).content.decode()
    assert "Start processing" not in detail and "Cancel payout" not in detail


def test_operators_are_offered_the_actions_the_state_allows(clients, urls):
    detail = clients["operator"].get(urls["detail"]).content.decode()
    assert "Start processing" in detail and "Mark failed" in detail and "Cancel payout" in detail
    assert "Mark paid" not in detail
    actions.payout_process(payout=urls["payout"], actor=actions_actor())
    detail = clients["operator"].get(urls["detail"]).content.decode()
    assert "Mark paid" in detail and "Start processing" not in detail


def actions_actor():
    from core.actors import Actor

    return Actor.system("tests")


def test_balances_and_service_pages_link_to_payouts(clients, priced_service, funded):
    link = f'href="/services/{priced_service.public_id}/payouts/"'
    for url in (
        f"/services/{priced_service.public_id}/balances/",
        f"/services/{priced_service.public_id}/",
    ):
        assert link in clients["viewer"].get(url).content.decode()


def test_balance_cards_show_holds(clients, priced_service, make_payout):
    make_payout("100.00")
    page = clients["viewer"].get(f"/services/{priced_service.public_id}/balances/").content.decode()
    assert "On hold for payouts" in page and "101.75" in page and "898.25" in page


# --- New payout: preview, then confirm ----------------------------------------------------


def _form(client, url) -> dict:
    page = client.get(url).content.decode()
    key = re.search(r'name="idempotency_key" value="([^"]+)"', page).group(1)
    return {
        "currency": "EUR",
        "amount": "100.00",
        "destination": "IBAN DE89",
        "idempotency_key": key,
    }


def test_preview_shows_fee_and_total_and_creates_nothing(clients, priced_service, funded):
    url = f"/services/{priced_service.public_id}/payouts/add/"
    body = {**_form(clients["operator"], url), "preview": "1"}
    response = clients["operator"].post(url, body)
    page = response.content.decode()
    assert response.status_code == 200
    assert "1.75" in page and "101.75" in page and "Confirm payout" in page
    assert 'name="previewed" value="EUR|100.00|1.75"' in page
    assert not Payout.objects.exists()


def test_confirm_creates_the_payout_once(clients, priced_service, funded):
    url = f"/services/{priced_service.public_id}/payouts/add/"
    body = {**_form(clients["operator"], url), "confirm": "1", "previewed": "EUR|100.00|1.75"}
    first = clients["operator"].post(url, body)
    assert first.status_code == 302
    payout = Payout.objects.get()
    assert first["Location"] == f"/services/{priced_service.public_id}/payouts/{payout.public_id}/"
    assert (payout.amount, payout.fee, payout.created_by_label) == (D("100.00"), D("1.75"), "otto")
    again = clients["operator"].post(url, body)  # a double submit
    assert again.status_code == 302 and Payout.objects.count() == 1


def test_confirm_after_changing_the_amount_previews_again(clients, priced_service, funded):
    url = f"/services/{priced_service.public_id}/payouts/add/"
    body = {**_form(clients["operator"], url), "amount": "200.00"}
    response = clients["operator"].post(
        url, {**body, "confirm": "1", "previewed": "EUR|100.00|1.75"}
    )
    assert response.status_code == 200 and not Payout.objects.exists()
    assert 'value="EUR|200.00|3.25"' in response.content.decode()


def test_preview_explains_a_refusal_and_offers_no_confirm(clients, priced_service, funded):
    url = f"/services/{priced_service.public_id}/payouts/add/"
    body = {**_form(clients["operator"], url), "amount": "995.00", "preview": "1"}
    page = clients["operator"].post(url, body).content.decode()
    assert "Insufficient funds: needs 1,005.00 EUR, 1,000.00 available for payout" in page
    assert "Confirm payout" not in page
    small = clients["operator"].post(url, {**body, "amount": "1.00"}).content.decode()
    assert "Below the minimum payout of 5.00 EUR" in small


def test_a_refusal_at_confirm_time_is_shown_on_the_form(
    clients, priced_service, funded, make_payout
):
    url = f"/services/{priced_service.public_id}/payouts/add/"
    body = {**_form(clients["operator"], url), "amount": "900.00"}
    make_payout("500.00")  # someone else's payout, after the preview
    response = clients["operator"].post(
        url, {**body, "confirm": "1", "previewed": "EUR|900.00|10.00"}
    )
    assert response.status_code == 422
    assert "available for payout" in response.content.decode()
    assert Payout.objects.count() == 1


def test_too_precise_amounts_are_refused_on_the_form(clients, priced_service, funded):
    url = f"/services/{priced_service.public_id}/payouts/add/"
    body = {**_form(clients["operator"], url), "amount": "10.001", "preview": "1"}
    response = clients["operator"].post(url, body)
    assert response.status_code == 400
    assert "at most 2 decimal places" in response.content.decode()


def test_the_htmx_preview_is_a_fragment(clients, priced_service, funded):
    url = f"/services/{priced_service.public_id}/payouts/preview/"
    body = {"currency": "EUR", "amount": "100.00", "destination": "x", "idempotency_key": "k"}
    response = clients["operator"].post(url, body, HTTP_HX_REQUEST="true")
    page = response.content.decode()
    assert response.status_code == 200 and "<html" not in page and "101.75" in page


def test_a_service_without_balances_is_told_so(clients):
    from tests.factories import ServiceFactory

    service = ServiceFactory()
    page = clients["operator"].get(f"/services/{service.public_id}/payouts/add/").content.decode()
    assert "has no balance to pay out from" in page


# --- list: filters, order, pages ----------------------------------------------------------


def test_the_list_filters_by_status_and_currency_newest_first(
    clients, priced_service, funded, make_payout
):
    first, second, third = make_payout("10.00"), make_payout("20.00"), make_payout("30.00")
    actions.payout_cancel(payout=second, actor=actions_actor())
    base = f"/services/{priced_service.public_id}/payouts/"
    page = clients["viewer"].get(base).content.decode()
    assert page.index(third.public_id) < page.index(second.public_id) < page.index(first.public_id)
    canceled = clients["viewer"].get(base, {"status": "canceled"}).content.decode()
    assert second.public_id in canceled and first.public_id not in canceled
    usd = clients["viewer"].get(base, {"currency": "USD"}).content.decode()
    assert "No payout matches these filters" in usd


def test_the_list_is_paginated(clients, priced_service, funded, make_payout):
    made = [make_payout("10.00") for _ in range(27)]
    base = f"/services/{priced_service.public_id}/payouts/"
    first = clients["viewer"].get(base, {"status": "pending"}).content.decode()
    second = clients["viewer"].get(base, {"status": "pending", "page": 2}).content.decode()
    assert made[-1].public_id in first and made[0].public_id not in first
    assert made[0].public_id in second and "Page 2 of 2" in second
    assert "status=pending&amp;page=2" in first


# --- actions ------------------------------------------------------------------------------


def test_paying_through_the_pages_debits_the_balance(clients, urls, funded):
    operator = clients["operator"]
    payout = urls["payout"]
    assert operator.post(urls["detail"] + "process/", {"version": 1}).status_code == 302
    response = operator.post(urls["detail"] + "pay/", {"version": 2})
    assert response.status_code == 302
    payout.refresh_from_db()
    funded.refresh_from_db()
    assert payout.status == "paid" and funded.available == D("898.25")
    assert BalanceChange.objects.get(kind="payout").payout_public_id == payout.public_id
    detail = operator.get(urls["detail"]).content.decode()
    assert "processing → paid" in detail and "otto" in detail


def test_a_stale_action_form_is_refused(clients, urls):
    actions.payout_process(payout=urls["payout"], actor=actions_actor())
    response = clients["operator"].post(urls["detail"] + "cancel/", {"version": 1})
    assert response.status_code == 412
    urls["payout"].refresh_from_db()
    assert urls["payout"].status == "processing"


def test_failing_records_the_reason(clients, urls):
    response = clients["operator"].post(
        urls["detail"] + "fail/", {"version": 1, "reason": "Account closed"}
    )
    assert response.status_code == 302
    urls["payout"].refresh_from_db()
    assert urls["payout"].failure_reason == "Account closed"
    assert "Account closed" in clients["viewer"].get(urls["detail"]).content.decode()


def test_a_form_without_an_idempotency_key_still_works(clients, priced_service, funded):
    url = f"/services/{priced_service.public_id}/payouts/add/"
    body = {"currency": "EUR", "amount": "100.00", "destination": "x"}
    preview = clients["operator"].post(url, body)
    assert preview.status_code == 200 and "101.75" in preview.content.decode()
    assert not Payout.objects.exists()
    done = clients["operator"].post(url, {**body, "confirm": "1", "previewed": "EUR|100.00|1.75"})
    assert done.status_code == 302 and Payout.objects.get().idempotency_key is None
