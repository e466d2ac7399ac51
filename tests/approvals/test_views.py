"""The Approvals pages through the Django test client: what waits, the queue (filters, bulk),
a request's page, the policies, and what the balances and payouts pages say."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.test import Client

from approvals import actions as approval_actions
from approvals.models import ApprovalPolicy, ApprovalRequest
from balances import actions as balance_actions
from balances.models import Balance
from core.actors import Actor
from payouts.models import Payout
from tests.factories import BalanceFactory, ServiceFactory, UserFactory
from tests.html_helpers import parse

pytestmark = pytest.mark.django_db


def ask(shop, amount: str, actor: Actor) -> ApprovalRequest:
    result = balance_actions.balance_update_or_request(
        service=shop,
        currency="EUR",
        amount=amount,
        expected_version=None,
        actor=actor,
        reason="Statement",
    )
    assert isinstance(result, ApprovalRequest)
    return result


def edit(client, shop, amount: str, version: int = 1):
    return client.post(
        f"/services/{shop.public_id}/balances/EUR/edit/",
        {"amount": amount, "reason": "Provider statement", "version": version},
    )


# --- the balances pages -----------------------------------------------------------------


def test_an_edit_under_the_limit_applies_at_once(eur_policy, shop, eur, operator_client):
    response = edit(operator_client, shop, "5900.00")
    assert response.status_code == 302
    assert Balance.objects.get(pk=eur.pk).available == Decimal("5900.00")


def test_an_edit_over_the_limit_says_waiting_for_approval(eur_policy, shop, eur, operator_client):
    response = edit(operator_client, shop, "9,000.00")
    request = ApprovalRequest.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/approvals/{request.public_id}/"
    page = operator_client.get(response["Location"]).content.decode()
    assert "Waiting for approval" in page and request.public_id in page
    assert "5,000.00" in page and "9,000.00" in page  # before and after
    assert Balance.objects.get(pk=eur.pk).available == Decimal("5000.00")

    cards = operator_client.get(f"/services/{shop.public_id}/balances/").content.decode()
    card = re.search(r'<article class="balance-card[^>]*id="balance-EUR".*?</article>', cards, re.S)
    assert "Waiting for approval" in card.group(0)
    assert f'href="/approvals/{request.public_id}/"' in card.group(0)


def test_deleting_a_non_zero_balance_waits_for_approval(eur_policy, shop, eur, operator_client):
    response = operator_client.post(
        f"/services/{shop.public_id}/balances/EUR/delete/", {"version": 1, "reason": "Closed"}
    )
    request = ApprovalRequest.objects.get(kind="balance_delete")
    assert response["Location"] == f"/approvals/{request.public_id}/"
    assert Balance.objects.filter(pk=eur.pk).exists()


def test_the_balances_page_costs_no_query_more_for_requests_waiting(operator_client, operator):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    shop = ServiceFactory()
    codes = ["EUR", "USD", "GBP"]
    for code in codes:
        BalanceFactory(service=shop, currency=code, available=Decimal("5000.00"))
    url = f"/services/{shop.public_id}/balances/"
    operator_client.get(url)
    with CaptureQueriesContext(connection) as before:
        operator_client.get(url)
    for code in codes:
        approval_actions.policy_set(
            currency=code,
            manual_change_above="0",
            payout_above=None,
            nonzero_deletion=False,
            actor=Actor.system(),
        )
        ask_in(shop, code, Actor.for_user(operator))
    with CaptureQueriesContext(connection) as after:
        response = operator_client.get(url)
    assert len(after.captured_queries) == len(before.captured_queries)
    # The requests waiting come with the balances, in the same statement.
    reads = [q["sql"] for q in after.captured_queries if "approvals_approvalrequest" in q["sql"]]
    assert len(reads) == 1 and '"balances_balance"' in reads[0]
    assert response.content.decode().count("Waiting for approval") == 3


def ask_in(shop, code: str, actor: Actor) -> None:
    result = balance_actions.balance_update_or_request(
        service=shop,
        currency=code,
        amount="5000.01",
        expected_version=None,
        actor=actor,
        reason="x",
    )
    assert isinstance(result, ApprovalRequest)


# --- the queue --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "status"),
    [("nobody", 403), ("viewer", 200), ("operator", 200), ("admin", 200)],
)
def test_the_queue_is_for_viewers_and_above(clients, role, status):
    assert clients[role].get("/approvals/").status_code == status
    assert clients[role].post("/approvals/bulk/", {"approval": "apr_x"}).status_code in (
        403,
        302,
    )


def test_anonymous_users_are_sent_to_log_in():
    response = Client().get("/approvals/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_bulk_needs_the_approve_permission(clients, eur_policy, shop, eur, operator):
    request = ask(shop, "9000.00", Actor.for_user(operator))
    for role in ("viewer", "operator"):
        assert (
            clients[role]
            .post("/approvals/bulk/", {"approval": request.public_id, "decision": "approve"})
            .status_code
            == 403
        )
    assert ApprovalRequest.objects.get().status == "pending"


def test_the_navigation_counts_the_requests_waiting(
    eur_policy, shop, eur, operator, viewer_client, django_capture_on_commit_callbacks
):
    page = viewer_client.get("/approvals/").content.decode()
    assert "data-pending-approvals" not in page
    with django_capture_on_commit_callbacks(execute=True):
        ask(shop, "9000.00", Actor.for_user(operator))
    page = viewer_client.get("/services/").content.decode()
    assert 'data-pending-approvals="1"' in page


def test_the_queue_filters_and_costs_the_same_for_more_requests(
    eur_policy, viewer_client, operator, django_assert_num_queries
):
    actor = Actor.for_user(operator)
    shops = [ServiceFactory(name=f"Shop {n}") for n in range(4)]
    for shop in shops:
        BalanceFactory(service=shop, currency="EUR", available=Decimal("5000.00"))
    ask(shops[0], "9000.00", actor)

    # 1 session, 2 user, 3 the user's permissions, own and groups', and groups (the top
    # bar): one UNION, 4 the count, 5 the page of requests with their services, 6 the open
    # alerts count, counted into the cache (the approvals count comes from the cache).
    with django_assert_num_queries(6):
        one = viewer_client.get("/approvals/")
    for shop in shops[1:]:
        ask(shop, "9000.00", actor)
    # The same, with the open alerts count read from the cache.
    with django_assert_num_queries(5):
        many = viewer_client.get("/approvals/")
    assert one.content.decode().count('data-approval="') == 1
    assert many.content.decode().count('data-approval="') == 4

    filtered = viewer_client.get(f"/approvals/?service={shops[2].public_id}").content.decode()
    assert filtered.count('data-approval="') == 1
    assert (
        viewer_client.get("/approvals/?currency=usd").content.decode().count('data-approval="') == 0
    )
    assert (
        viewer_client.get("/approvals/?requester=otto&kind=balance_update")
        .content.decode()
        .count('data-approval="')
        == 4
    )
    assert (
        viewer_client.get("/approvals/?status=approved").content.decode().count('data-approval="')
        == 0
    )
    # A filter that makes no sense is ignored, the page still answers.
    assert viewer_client.get("/approvals/?status=maybe&kind=nope").status_code == 200


def test_bulk_approval_decides_each_request_on_its_own(
    eur_policy, operator, approver, approver_client, admin
):
    operator_actor = Actor.for_user(operator)
    shops = [ServiceFactory(name=f"Bulk {n}") for n in range(3)]
    balances = [
        BalanceFactory(service=shop, currency="EUR", available=Decimal("5000.00")) for shop in shops
    ]
    requests = [ask(shop, "9000.00", operator_actor) for shop in shops]
    # The third balance moves before the decision: its request is refused, the others apply.
    balance_actions.balance_update(
        service=shops[2],
        currency="EUR",
        amount="5001.00",
        expected_version=None,
        actor=Actor.system(),
        reason="sync",
    )
    response = approver_client.post(
        "/approvals/bulk/",
        {
            "approval": [r.public_id for r in requests],
            "decision": "approve",
            "comment": "Statements checked",
            "back": "status=pending",
        },
        follow=True,
    )
    page = response.content.decode()
    assert response.redirect_chain[-1][0] == "/approvals/?status=pending"
    assert "2 requests approved" in page
    assert f"{requests[2].public_id} refused" in page and "changed since" in page
    statuses = [ApprovalRequest.objects.get(pk=r.pk).status for r in requests]
    assert statuses == ["approved", "approved", "pending"]
    amounts = [Balance.objects.get(pk=b.pk).available for b in balances]
    assert amounts == [Decimal("9000.00"), Decimal("9000.00"), Decimal("5001.00")]


def test_bulk_refuses_a_selection_it_did_not_send(approver_client):
    response = approver_client.post(
        "/approvals/bulk/", {"approval": ["apr_ok", "1; DROP"], "decision": "approve"}, follow=True
    )
    assert "not one this page sent" in response.content.decode()


# --- a request's page ---------------------------------------------------------------------


def test_an_approver_approves_on_the_request_page(eur_policy, shop, eur, operator, approver_client):
    request = ask(shop, "9000.00", Actor.for_user(operator))
    url = f"/approvals/{request.public_id}/"
    page = approver_client.get(url).content.decode()
    assert 'value="approve"' in page and 'value="reject"' in page
    assert "Recent history" in page
    response = approver_client.post(url, {"decision": "approve", "comment": "Checked"})
    assert response.status_code == 302
    assert Balance.objects.get(pk=eur.pk).available == Decimal("9000.00")
    page = approver_client.get(url).content.decode()
    assert "Approved" in page and "Checked" in page and "approved by april" in page


def test_the_requester_is_not_offered_approve_and_forcing_it_is_refused(
    eur_policy, shop, eur, admin, admin_client_role
):
    request = ask(shop, "9000.00", Actor.for_user(admin))
    url = f"/approvals/{request.public_id}/"
    page = admin_client_role.get(url).content.decode()
    assert 'value="approve"' not in page and "someone else must approve" in page
    response = admin_client_role.post(url, {"decision": "approve"})
    assert response.status_code == 403
    assert "someone else must approve" in response.content.decode()
    assert Balance.objects.get(pk=eur.pk).available == Decimal("5000.00")


def test_a_superuser_is_refused_too(eur_policy, shop, eur, superuser):
    client = Client()
    client.force_login(superuser)
    request = ask(shop, "9000.00", Actor.for_user(superuser))
    response = client.post(f"/approvals/{request.public_id}/", {"decision": "approve"})
    assert response.status_code == 403
    assert ApprovalRequest.objects.get().status == "pending"


def test_after_the_balance_moved_the_page_offers_reject_or_renew(
    eur_policy, shop, eur, operator, operator_client, approver_client
):
    request = ask(shop, "9000.00", Actor.for_user(operator))
    edit(operator_client, shop, "5100.00")
    url = f"/approvals/{request.public_id}/"
    page = approver_client.get(url).content.decode()
    assert "changed since this request was made" in page and "5,100.00" in page
    assert 'value="approve"' not in page
    forced = approver_client.post(url, {"decision": "approve"})
    assert forced.status_code == 409 and "Nothing was applied" in forced.content.decode()
    renew_page = operator_client.get(url).content.decode()
    assert 'value="renew"' in renew_page
    renewed = operator_client.post(url, {"decision": "renew"})
    new = ApprovalRequest.objects.get(status="pending")
    assert renewed["Location"] == f"/approvals/{new.public_id}/"
    assert new.current_value == Decimal("5100.00") and new.balance_version == 2


def test_a_too_long_comment_is_a_form_error(eur_policy, shop, eur, operator, approver_client):
    request = ask(shop, "9000.00", Actor.for_user(operator))
    response = approver_client.post(
        f"/approvals/{request.public_id}/", {"decision": "reject", "comment": "x" * 1001}
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert re.search(r'aria-describedby="[^"]*\bid_comment_error"', page)
    assert 'id="id_comment_error"' in page
    assert ApprovalRequest.objects.get().status == "pending"


def test_an_unknown_request_is_404(viewer_client):
    assert viewer_client.get("/approvals/apr_nothere/").status_code == 404


# --- payouts ----------------------------------------------------------------------------


def test_a_new_payout_over_the_limit_says_waiting_for_approval(
    eur_policy, shop, eur, operator_client
):
    url = f"/services/{shop.public_id}/payouts/add/"
    page = operator_client.get(url).content.decode()
    key = re.search(r'name="idempotency_key" value="([^"]+)"', page).group(1)
    response = operator_client.post(
        url,
        {
            "currency": "EUR",
            "amount": "600.00",
            "destination": "IBAN DE89",
            "idempotency_key": key,
            "confirm": "1",
            "previewed": "EUR|600.00|0.00",
        },
        follow=True,
    )
    page = response.content.decode()
    payout = Payout.objects.get()
    assert payout.status == "awaiting_approval"
    assert "waiting for approval" in page and "Awaiting approval" in page
    request = ApprovalRequest.objects.get(payout_public_id=payout.public_id)
    assert f'href="/approvals/{request.public_id}/"' in page
    listed = operator_client.get(f"/services/{shop.public_id}/payouts/").content.decode()
    assert "Awaiting approval" in listed


# --- policies ---------------------------------------------------------------------------


@pytest.mark.parametrize(("role", "status"), [("viewer", 403), ("operator", 403), ("admin", 200)])
def test_policies_are_for_admins(clients, role, status):
    assert clients[role].get("/approvals/policies/").status_code == status
    assert clients[role].get("/approvals/policies/EUR/").status_code == status
    posted = clients[role].post("/approvals/policies/EUR/", {"manual_change_above": "1"})
    assert posted.status_code == (302 if status == 200 else 403)


def test_an_admin_sets_a_policy_and_sees_it_listed(admin_client_role, settings):
    settings.APPROVAL_DEFAULTS = "USD:payout=100.00"
    page = admin_client_role.get("/approvals/policies/").content.decode()
    assert 'data-currency="USD"' in page and "platform default" in page
    chooser = admin_client_role.get("/approvals/policies/?currency=KWD")
    assert chooser["Location"] == "/approvals/policies/KWD/"
    response = admin_client_role.post(
        "/approvals/policies/KWD/",
        {"manual_change_above": "1,000.125", "payout_above": "", "nonzero_deletion": "on"},
    )
    assert response.status_code == 302
    policy = ApprovalPolicy.objects.get(currency="KWD")
    assert policy.manual_change_above == Decimal("1000.125") and policy.payout_above is None
    assert policy.nonzero_deletion and policy.updated_by_label == "ada"
    page = admin_client_role.get("/approvals/policies/").content.decode()
    assert 'data-currency="KWD"' in page and "1,000.125" in page


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("manual_change_above", "10.5"),
        ("manual_change_above", "-1"),
        ("payout_above", "1e9"),
        ("payout_above", "9" * 60),
    ],
)
def test_a_bad_limit_is_a_form_error_naming_the_field(admin_client_role, field, value):
    response = admin_client_role.post("/approvals/policies/JPY/", {field: value})
    assert response.status_code == 400
    page = response.content.decode()
    assert re.search(rf'aria-describedby="[^"]*\bid_{field}_error"', page)
    assert f'id="id_{field}_error"' in page
    assert not ApprovalPolicy.objects.exists()


def test_an_unknown_currency_policy_is_404(admin_client_role):
    assert admin_client_role.get("/approvals/policies/XXX/").status_code == 404


def test_an_approver_role_exists_with_the_approve_permission(db):
    approver = UserFactory(username="appy", role="approver")
    assert approver.has_perm("approvals.approve")
    assert approver.has_perm("approvals.view_approvalrequest")
    assert not approver.has_perm("balances.change_balance")
    assert UserFactory(username="addy", role="admin").has_perm("approvals.approve")
    assert not UserFactory(username="oppy", role="operator").has_perm("approvals.approve")


def _amount_field(html: str) -> tuple[str, str]:
    """The amount input's aria-describedby and its help text."""
    page = parse(html)
    [field] = page.find_all("input", name="amount")
    help_ = page.by_id("id_amount_helptext")
    return field.get("aria-describedby"), help_.text if help_ else ""


def test_the_forms_say_the_limit_before_anyone_saves(
    eur_policy, shop, eur, operator_client, settings
):
    settings.APPROVAL_DEFAULTS = "USD:manual=0"
    described, text = _amount_field(
        operator_client.get(f"/services/{shop.public_id}/balances/EUR/edit/").content.decode()
    )
    assert "id_amount_helptext" in described
    assert text == "A change of more than 1,000.00 EUR waits for a second person's approval."
    described, text = _amount_field(
        operator_client.get(f"/services/{shop.public_id}/balances/add/").content.decode()
    )
    assert "id_amount_helptext" in described
    assert text == (
        "Optional; 0 when empty. An opening amount above the approval limit waits for a "
        "second person's approval: EUR above 1,000.00; any USD amount."
    )


def test_without_a_limit_the_forms_say_nothing_of_approval(shop, eur, operator_client):
    for url in (f"/services/{shop.public_id}/balances/EUR/edit/",
                f"/services/{shop.public_id}/balances/add/"):  # fmt: skip
        _described, text = _amount_field(operator_client.get(url).content.decode())
        assert "approval" not in text


def test_the_payout_preview_says_when_the_payout_will_wait(eur_policy, shop, eur, operator_client):
    url = f"/services/{shop.public_id}/payouts/preview/"
    body = {"currency": "EUR", "destination": "IBAN DE89", "idempotency_key": "k"}
    above = operator_client.post(url, {**body, "amount": "500.01"}).content.decode()
    assert (
        "Above the approval limit of 500.00 EUR: the payout will wait for a second person's "
        "approval, its total on hold meanwhile." in " ".join(above.split())
    )
    at_limit = operator_client.post(url, {**body, "amount": "500.00"}).content.decode()
    assert "preview-approval" not in at_limit and "Confirm payout" in at_limit
