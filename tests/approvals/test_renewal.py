"""Renewing a request, over HTTP: only when it is needed (its balance moved, or it expired),
and never a way around four eyes: a renewal stays the requester's, records who renewed it,
and neither of them (nor whoever renewed an earlier request of the chain) may approve it.
Plus a request's page answering an empty POST, and the migration that links the renewals
made before."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from django.utils import timezone

from approvals import actions as approval_actions
from approvals.actions import SelfApproval
from approvals.models import ApprovalRequest
from balances.models import Balance
from core.actors import Actor
from services.models import AuditEntry
from tests.config.helpers import assert_error, body, send
from tests.conftest import api_client_with_key
from tests.factories import BalanceFactory, ServiceFactory, UserFactory

BALANCE = "/api/v1/services/{}/balances/EUR"
MILLION = Decimal("1000000.00")


def patch_eur(client, shop, amount: str, reason: str = "mine"):
    return send(
        client, "patch", BALANCE.format(shop.public_id), {"amount": amount, "reason": reason}
    )


def approve(client, approval_id: str):
    return send(client, "post", f"/api/v1/approvals/{approval_id}/approve", {})


def renew(client, approval_id: str):
    return client.post(f"/api/v1/approvals/{approval_id}/renew")


def available(balance) -> Decimal:
    return Balance.objects.get(pk=balance.pk).available


@pytest.fixture
def low_limit(admin_api):
    """EUR: manual changes above 10.00 need approval (set through the API, by an admin)."""
    response = send(admin_api, "put", "/api/v1/approval-policies/EUR", {"manualChangeAbove": "10"})
    assert response.status_code == 200, response.content


@pytest.fixture
def renewer(operator):
    """B: an operator who may also approve in general, so that only the four-eyes rule can
    refuse them."""
    operator.groups.add(*UserFactory(role="approver").groups.all())
    return operator


@pytest.fixture
def renewer_api(renewer, make_api_key):
    return api_client_with_key(make_api_key(renewer))


@pytest.fixture
def asked(low_limit, shop, eur, admin_api):
    """A (admin "ada") asks for 1,000,000.00 EUR; the request's id."""
    response = patch_eur(admin_api, shop, "1000000.00")
    assert response.status_code == 202, response.content
    return body(response)["approvalId"]


# --- the API --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_renewing_a_request_that_neither_moved_nor_expired_is_refused_and_creates_nothing(
    asked, shop, eur, admin_api, renewer_api
):
    assert_error(approve(admin_api, asked), 403, "self_approval")
    audit_before = AuditEntry.objects.count()

    error = assert_error(renew(renewer_api, asked), 409, "not_renewable")
    assert "does not need renewing" in error["message"]
    assert error["details"] == {"status": "pending", "moved": False}

    assert ApprovalRequest.objects.count() == 1
    request = ApprovalRequest.objects.get()
    assert request.status == "pending" and request.renewed_as == ""
    assert AuditEntry.objects.count() == audit_before
    # So the requester still cannot have it approved by themselves.
    assert_error(approve(admin_api, asked), 403, "self_approval")
    assert available(eur) == Decimal("5000.00")


@pytest.mark.django_db
def test_after_a_renewal_neither_the_requester_nor_the_renewer_may_approve_a_third_person_may(
    asked, shop, eur, admin_api, renewer_api, approver_api, operator_api
):
    assert_error(approve(admin_api, asked), 403, "self_approval")
    # The balance moves (a change under the limit applies at once): a renewal is needed.
    assert patch_eur(operator_api, shop, "5005.00", "statement").status_code == 200

    response = renew(renewer_api, asked)
    assert response.status_code == 201, response.content
    renewed = body(response)
    new_id = renewed["approvalId"]
    assert new_id != asked and renewed["status"] == "pending"
    assert renewed["requestedBy"] == "ada"  # still A's request
    assert renewed["renewedBy"] == "otto" and renewed["renewedFrom"] == asked
    assert renewed["renewedAs"] is None
    assert renewed["currentValue"] == Decimal("5005.00") and renewed["balanceVersion"] == 2
    old = body(renewer_api.get(f"/api/v1/approvals/{asked}"))
    assert old["status"] == "superseded" and old["renewedAs"] == new_id
    assert old["renewedFrom"] is None and old["renewedBy"] is None

    # A, who asked: refused as before the renewal.
    error = assert_error(approve(admin_api, new_id), 403, "self_approval")
    assert "someone else" in error["message"]
    assert error["details"]["requestedBy"] == "ada"
    # B, who renewed: refused too.
    error = assert_error(approve(renewer_api, new_id), 403, "self_approval")
    assert "You renewed this request" in error["message"]
    assert available(eur) == Decimal("5005.00")
    assert ApprovalRequest.objects.get(public_id=new_id).status == "pending"

    # C approves: applied, in A's name.
    response = approve(approver_api, new_id)
    assert response.status_code == 200, response.content
    assert body(response)["status"] == "approved" and body(response)["decidedBy"] == "april"
    assert available(eur) == MILLION
    history = body(operator_api.get(BALANCE.format(shop.public_id) + "/history"))
    assert history["results"][0]["actorLabel"] == "ada"

    # The renewal is audited as before: the old request renewed, the new one asked, by B.
    renewed_entry = AuditEntry.objects.get(object_id=asked, action="renewed")
    assert renewed_entry.actor_label == "otto"
    assert renewed_entry.changes["renewedAs"] == new_id
    assert renewed_entry.changes["status"] == ["pending", "superseded"]
    asked_entry = AuditEntry.objects.get(object_id=new_id, action="approval_requested")
    assert asked_entry.actor_label == "otto"
    assert asked_entry.changes["renewedFrom"] == asked
    assert asked_entry.changes["requestedBy"] == "ada"


@pytest.mark.django_db
def test_whoever_renewed_an_earlier_request_of_the_chain_may_not_approve_either(
    asked, shop, eur, admin, renewer_api, approver_api, operator_api, make_api_key
):
    patch_eur(operator_api, shop, "5005.00", "statement")
    first = body(renewer_api.post(f"/api/v1/approvals/{asked}/renew"))["approvalId"]
    # It moves again and someone else (a second admin) renews the renewal.
    patch_eur(operator_api, shop, "5006.00", "statement")
    other_admin = api_client_with_key(make_api_key(UserFactory(username="adele", role="admin")))
    response = renew(other_admin, first)
    assert response.status_code == 201, response.content
    second = body(response)
    assert second["requestedBy"] == "ada" and second["renewedBy"] == "adele"
    assert second["renewedFrom"] == first

    for client in (renewer_api, other_admin, api_client_with_key(make_api_key(admin))):
        assert_error(approve(client, second["approvalId"]), 403, "self_approval")
    assert available(eur) == Decimal("5006.00")
    assert approve(approver_api, second["approvalId"]).status_code == 200
    assert available(eur) == MILLION


@pytest.mark.django_db
def test_an_expired_request_is_still_renewed_and_its_requester_still_refused(
    asked, shop, eur, admin_api, renewer_api, approver_api
):
    ApprovalRequest.objects.filter(public_id=asked).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert_error(approve(approver_api, asked), 409, "expired")  # nothing applied

    response = renew(renewer_api, asked)
    assert response.status_code == 201, response.content
    renewed = body(response)
    assert renewed["requestedBy"] == "ada" and renewed["renewedBy"] == "otto"
    assert renewed["balanceVersion"] == 1  # the balance did not move: same version
    assert_error(approve(admin_api, renewed["approvalId"]), 403, "self_approval")
    assert_error(approve(renewer_api, renewed["approvalId"]), 403, "self_approval")
    assert approve(approver_api, renewed["approvalId"]).status_code == 200
    assert available(eur) == MILLION


@pytest.mark.django_db
def test_a_request_that_cannot_be_renewed_says_why(asked, shop, eur, approver_api, renewer_api):
    assert send(approver_api, "post", f"/api/v1/approvals/{asked}/reject", {}).status_code == 200
    error = assert_error(renew(renewer_api, asked), 409, "not_renewable")
    assert "it is rejected" in error["message"]
    assert ApprovalRequest.objects.count() == 1


# --- the request's page ---------------------------------------------------------------------


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _page_edit(client, shop, amount: str, version: int):
    return client.post(
        f"/services/{shop.public_id}/balances/EUR/edit/",
        {"amount": amount, "reason": "Provider statement", "version": version},
    )


@pytest.mark.django_db
def test_on_the_page_a_renewal_keeps_its_requester_and_neither_they_nor_the_renewer_approve(
    low_limit, shop, eur, admin_client_role, renewer, approver_client
):
    response = _page_edit(admin_client_role, shop, "1000000.00", 1)
    request = ApprovalRequest.objects.get()
    assert response["Location"] == f"/approvals/{request.public_id}/"
    renewer_client = _client(renewer)
    url = f"/approvals/{request.public_id}/"
    assert 'value="renew"' not in renewer_client.get(url).content.decode()

    assert _page_edit(renewer_client, shop, "5005.00", 1).status_code == 302  # it moves
    assert 'value="renew"' in renewer_client.get(url).content.decode()
    response = renewer_client.post(url, {"decision": "renew"})
    new = ApprovalRequest.objects.get(status="pending")
    assert response["Location"] == f"/approvals/{new.public_id}/"
    assert new.requested_by_label == "ada" and new.renewed_by_label == "otto"
    assert new.renewed_from == request.public_id
    new_url = f"/approvals/{new.public_id}/"

    # The page says who asked and who renewed.
    page = approver_client.get(new_url).content.decode()
    assert "<dt>Requested by</dt><dd>ada" in page
    assert "<dt>Renewed by</dt><dd>otto" in page
    assert f'href="/approvals/{request.public_id}/"' in page
    assert 'value="approve"' in page

    # A: not offered Approve; forcing it is refused.
    page = admin_client_role.get(new_url).content.decode()
    assert 'value="approve"' not in page and "You asked for this" in page
    forced = admin_client_role.post(new_url, {"decision": "approve"})
    assert forced.status_code == 403
    assert "someone else must approve" in forced.content.decode()

    # B: the same.
    page = renewer_client.get(new_url).content.decode()
    assert 'value="approve"' not in page and "You renewed this request" in page
    forced = renewer_client.post(new_url, {"decision": "approve"})
    assert forced.status_code == 403
    assert "You renewed this request: someone else must approve it." in forced.content.decode()
    assert available(eur) == Decimal("5005.00")

    # C approves.
    assert approver_client.post(new_url, {"decision": "approve"}).status_code == 302
    assert available(eur) == MILLION


@pytest.mark.django_db
def test_on_the_page_renewing_a_request_that_needs_no_renewal_is_refused(
    low_limit, shop, eur, admin, operator_client
):
    request = approval_actions.approval_request(
        kind="balance_update",
        service=shop,
        currency="EUR",
        actor=Actor.for_user(admin),
        reason="mine",
        balance_version=1,
        current_value=Decimal("5000.00"),
        proposed_value=MILLION,
    )
    url = f"/approvals/{request.public_id}/"
    assert 'value="renew"' not in operator_client.get(url).content.decode()

    response = operator_client.post(url, {"decision": "renew"})
    assert response.status_code == 409
    assert "does not need renewing" in response.content.decode()
    assert ApprovalRequest.objects.count() == 1
    assert ApprovalRequest.objects.get().status == "pending"


@pytest.mark.django_db
def test_on_the_page_an_expired_request_is_renewed(low_limit, shop, eur, admin, operator_client):
    request = approval_actions.approval_request(
        kind="balance_update",
        service=shop,
        currency="EUR",
        actor=Actor.for_user(admin),
        balance_version=1,
        current_value=Decimal("5000.00"),
        proposed_value=MILLION,
    )
    assert approval_actions.approvals_expire_due(now=request.expires_at) == 1
    url = f"/approvals/{request.public_id}/"
    assert 'value="renew"' in operator_client.get(url).content.decode()
    response = operator_client.post(url, {"decision": "renew"})
    new = ApprovalRequest.objects.get(status="pending")
    assert response["Location"] == f"/approvals/{new.public_id}/"
    assert new.requested_by_label == "ada" and new.renewed_by_label == "otto"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("role", "status"),
    [("viewer", 403), ("operator", 400), ("approver", 400), ("admin", 400)],
)
@pytest.mark.parametrize("raw", [False, True])
def test_an_empty_post_to_a_request_page_is_answered_never_a_500(
    eur_policy, shop, eur, operator, role, status, raw
):
    request = approval_actions.approval_request(
        kind="balance_update",
        service=shop,
        currency="EUR",
        actor=Actor.for_user(operator),
        balance_version=1,
        current_value=Decimal("5000.00"),
        proposed_value=Decimal("9000.00"),
    )
    client = Client(enforce_csrf_checks=True)
    client.force_login(UserFactory(username=f"{role}-1", role=role))
    url = f"/approvals/{request.public_id}/"
    client.get(url)  # the CSRF cookie
    token = {"HTTP_X_CSRFTOKEN": client.cookies["csrftoken"].value}
    if raw:
        response = client.post(url, "", content_type="application/x-www-form-urlencoded", **token)
    else:
        response = client.post(url, **token)
    assert response.status_code == status, response.content[:300]
    if status == 400:
        assert "Choose Approve, Reject or Renew." in response.content.decode()
    assert ApprovalRequest.objects.get().status == "pending"
    assert available(eur) == Decimal("5000.00")


# --- the migration --------------------------------------------------------------------------

BEFORE = [("approvals", "0002_roles")]
AFTER = [("approvals", "0004_link_earlier_renewals")]


@pytest.mark.django_db(transaction=True)
def test_the_migration_makes_earlier_renewals_the_requesters_and_names_their_renewers():
    ada = UserFactory(username="ada", role="admin")
    otto = UserFactory(username="otto", role="admin")
    adele = UserFactory(username="adele", role="admin")
    shop = ServiceFactory()
    BalanceFactory(service=shop, currency="EUR", available=Decimal("5000.00"))
    executor = MigrationExecutor(connection)
    try:
        executor.migrate(BEFORE)
        old = executor.loader.project_state(BEFORE).apps
        Request = old.get_model("approvals", "ApprovalRequest")
        later = timezone.now() + timedelta(hours=1)

        def made(public_id, user, status, renewed_as=""):
            Request.objects.create(
                public_id=public_id,
                kind="balance_update",
                service_id=shop.pk,
                currency="EUR",
                status=status,
                requested_by_id=user.pk,
                requested_by_label=user.username,
                requested_via="session",
                proposed_value=MILLION,
                expires_at=later,
                renewed_as=renewed_as,
            )

        # Asked by ada, renewed by otto, renewed again by adele (as renewals were made).
        made("apr_first", ada, "superseded", renewed_as="apr_second")
        made("apr_second", otto, "superseded", renewed_as="apr_third")
        made("apr_third", adele, "pending")
        made("apr_alone", ada, "rejected")

        executor = MigrationExecutor(connection)
        executor.migrate(AFTER)
        new = executor.loader.project_state(AFTER).apps.get_model("approvals", "ApprovalRequest")
        linked = {
            r.public_id: (r.requested_by_label, r.renewed_by_label, r.renewed_from)
            for r in new.objects.all()
        }
        # Back: a renewal is the renewer's request again, as it was.
        executor = MigrationExecutor(connection)
        executor.migrate(BEFORE)
        unlinked = dict(Request.objects.values_list("public_id", "requested_by_label"))
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())

    assert linked == {
        "apr_first": ("ada", "", ""),
        "apr_second": ("ada", "otto", "apr_first"),
        "apr_third": ("ada", "adele", "apr_second"),
        "apr_alone": ("ada", "", ""),
    }
    assert unlinked == {
        "apr_first": "ada",
        "apr_second": "otto",
        "apr_third": "adele",
        "apr_alone": "ada",
    }
    third = ApprovalRequest.objects.get(public_id="apr_third")
    assert third.requested_by == ada and third.renewed_by == adele
    for user in (ada, otto, adele):
        with pytest.raises(SelfApproval):
            approval_actions.approval_approve(
                approval="apr_third", actor=Actor.for_user(user, via="session")
            )
    assert ApprovalRequest.objects.get(public_id="apr_third").status == "pending"
