"""A new balance's opening amount is a manual change from zero: above the currency's limit
it waits for a second person, like an edit.  The balance is created at zero, the amount
becomes a pending request against it, and approving applies it."""

from __future__ import annotations

from decimal import Decimal

import pytest

from approvals.actions import approval_approve
from approvals.models import ApprovalRequest
from balances import actions as balance_actions
from balances.actions import ApprovalRequired
from balances.models import Balance, BalanceChange
from core.actors import Actor
from services.models import AuditEntry

pytestmark = pytest.mark.django_db
D = Decimal


def test_an_opening_amount_above_the_limit_waits_and_approving_applies_it(
    eur_policy, shop, operator_actor, approver_actor
):
    balance, approval = balance_actions.balance_create_or_request(
        service=shop, currency="EUR", amount="25000.00", actor=operator_actor
    )
    assert approval is not None and approval.status == "pending"
    assert (approval.kind, approval.current_value, approval.proposed_value) == (
        ApprovalRequest.Kind.BALANCE_UPDATE,
        D("0"),
        D("25000.00"),
    )
    assert approval.reason == "Opening amount" and approval.balance_version == balance.version
    stored = Balance.objects.get(pk=balance.pk)
    assert stored.available == D("0")
    [created] = BalanceChange.objects.filter(balance=balance)
    assert (created.kind, created.new_available) == ("created", D("0"))

    approval_approve(approval=approval, actor=approver_actor, comment="Statement checked")
    stored.refresh_from_db()
    assert stored.available == D("25000.00")
    latest = BalanceChange.objects.filter(balance=balance).order_by("-id").first()
    assert (latest.kind, latest.new_available, latest.approval_public_id) == (
        "updated",
        D("25000.00"),
        approval.public_id,
    )


@pytest.mark.parametrize("amount", ["1000.00", "-1000.00", "0"])
def test_an_opening_amount_within_the_limit_is_applied_at_once(
    eur_policy, shop, operator_actor, amount
):
    balance, approval = balance_actions.balance_create_or_request(
        service=shop, currency="EUR", amount=amount, actor=operator_actor
    )
    assert approval is None
    assert Balance.objects.get(pk=balance.pk).available == D(amount)
    [created] = BalanceChange.objects.filter(balance=balance)
    assert created.new_available == D(amount)
    assert not ApprovalRequest.objects.exists()


def test_the_system_and_other_currencies_are_not_held(eur_policy, shop, operator_actor):
    system, _ = balance_actions.balance_create_or_request(
        service=shop, currency="EUR", amount="99999.00", actor=Actor.system("set-up")
    )
    assert system.available == D("99999.00")
    usd, approval = balance_actions.balance_create_or_request(
        service=shop, currency="USD", amount="99999.00", actor=operator_actor
    )
    assert approval is None and usd.available == D("99999.00")


def test_the_direct_action_refuses_and_creates_nothing(eur_policy, shop, operator_actor):
    with pytest.raises(ApprovalRequired):
        balance_actions.balance_create(
            service=shop, currency="EUR", amount="1000.01", actor=operator_actor
        )
    assert not Balance.objects.filter(service=shop).exists()
    assert not BalanceChange.objects.exists() and not ApprovalRequest.objects.exists()


def test_the_api_answers_202_with_the_request_and_the_new_balance(
    eur_policy, shop, operator_api, approver_api
):
    url = f"/api/v1/services/{shop.public_id}/balances"
    response = operator_api.post(
        url,
        {"currency": "EUR", "amount": "25000.00", "reason": "Opening statement"},
        content_type="application/json",
    )
    assert response.status_code == 202, response.content
    body = response.json()
    assert (body["kind"], body["status"], body["reason"]) == (
        "balance_update",
        "pending",
        "Opening statement",
    )
    assert response["Location"].endswith(f"{url}/EUR")
    assert D(str(operator_api.get(f"{url}/EUR").json()["amount"])) == 0

    approved = approver_api.post(
        f"/api/v1/approvals/{body['approvalId']}/approve", {}, content_type="application/json"
    )
    assert approved.status_code == 200, approved.content
    assert D(str(operator_api.get(f"{url}/EUR").json()["amount"])) == D("25000.00")
    # Within the limit: 201 with the balance, as without a policy.
    small = operator_api.post(
        url, {"currency": "USD", "amount": "25000.00"}, content_type="application/json"
    )
    assert small.status_code == 201 and D(str(small.json()["amount"])) == D("25000.00")


def test_deleting_the_balance_closes_its_requests_so_a_new_one_is_never_overwritten(
    eur_policy, shop, operator_actor, approver_actor
):
    from approvals.actions import approval_approve
    from core.errors import NotAllowed

    _zero, waiting = balance_actions.balance_create_or_request(
        service=shop, currency="EUR", amount="25000.00", actor=operator_actor
    )
    balance_actions.balance_delete(
        service=shop, currency="EUR", expected_version=None, actor=operator_actor, reason="typo"
    )
    waiting.refresh_from_db()
    assert waiting.status == "rejected"
    assert waiting.comment.startswith("The EUR balance was deleted by ")
    # A new EUR balance starts again at version 1: the old request must not apply to it.
    again, approval = balance_actions.balance_create_or_request(
        service=shop, currency="EUR", amount="900.00", actor=operator_actor
    )
    assert approval is None and again.version == waiting.balance_version
    with pytest.raises(NotAllowed):
        approval_approve(approval=waiting, actor=approver_actor)
    assert Balance.objects.get(pk=again.pk).available == D("900.00")


def test_an_approved_deletion_keeps_its_own_request_approved(
    eur_policy, eur, operator_actor, approver_actor
):
    from approvals.actions import approval_approve

    deletion = balance_actions.balance_delete_or_request(
        service=eur.service, currency="EUR", expected_version=None, actor=operator_actor,
        reason="closing the account",
    )  # fmt: skip
    approval_approve(approval=deletion, actor=approver_actor)
    deletion.refresh_from_db()
    assert (deletion.status, deletion.comment) == ("approved", "")
    assert not Balance.objects.filter(pk=eur.pk).exists()
    trail = AuditEntry.objects.filter(object_type="approval", object_id=deletion.public_id)
    assert sorted(trail.values_list("action", flat=True)) == ["approval_requested", "approved"]
