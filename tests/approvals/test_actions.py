"""The rules of four eyes, through the actions: what waits, who may decide, what applying
means (same rules as a direct change), expiry, payouts holding their funds."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from approvals import actions as approval_actions
from approvals import policy
from approvals.actions import SelfApproval
from approvals.models import ApprovalRequest
from approvals.queries import approval_for_payout, pending_count
from balances import actions as balance_actions
from balances.models import Balance, BalanceChange
from core.actors import Actor
from core.errors import Conflict, NotAllowed
from payouts import actions as payout_actions
from payouts.models import Payout
from services.models import AuditEntry
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def ask(service, amount: str, actor: Actor, version: int | None = None):
    return balance_actions.balance_update_or_request(
        service=service,
        currency="EUR",
        amount=amount,
        expected_version=version,
        actor=actor,
        reason="Provider statement",
    )


# --- what waits -------------------------------------------------------------------------


def test_a_change_under_the_limit_applies_at_once(eur_policy, shop, eur, operator_actor):
    result = ask(shop, "5999.99", operator_actor)  # a difference of 999.99
    assert isinstance(result, Balance)
    assert result.available == Decimal("5999.99")
    assert not ApprovalRequest.objects.exists()


def test_a_change_at_exactly_the_limit_applies_at_once(eur_policy, shop, eur, operator_actor):
    result = ask(shop, "4000.00", operator_actor)  # |difference| = 1000.00, not above it
    assert isinstance(result, Balance)


def test_a_change_over_the_limit_waits_and_changes_nothing(
    eur_policy, shop, eur, operator_actor, operator, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        result = ask(shop, "6000.01", operator_actor)
    assert isinstance(result, ApprovalRequest)
    assert result.status == ApprovalRequest.Status.PENDING
    assert result.public_id.startswith("apr_")
    assert result.kind == "balance_update"
    assert (result.current_value, result.proposed_value) == (
        Decimal("5000.00"),
        Decimal("6000.01"),
    )
    assert result.balance_version == eur.version
    assert result.requested_by == operator
    assert result.reason == "Provider statement"
    assert result.expires_at - result.requested_at == timedelta(hours=24)
    eur.refresh_from_db()
    assert eur.available == Decimal("5000.00") and eur.version == 1
    assert not BalanceChange.objects.filter(kind="updated").exists()
    audit = AuditEntry.objects.get(object_type="approval", action="approval_requested")
    assert audit.object_id == result.public_id
    assert audit.changes["proposedValue"] == "6000.01"
    assert pending_count() == 1  # the navigation's count, refreshed on commit


def test_the_direct_action_refuses_a_change_that_needs_approval(
    eur_policy, shop, eur, operator_actor
):
    with pytest.raises(balance_actions.ApprovalRequired):
        balance_actions.balance_update(
            service=shop,
            currency="EUR",
            amount="9000.00",
            expected_version=None,
            actor=operator_actor,
            reason="x",
        )
    assert not ApprovalRequest.objects.exists()


def test_a_limit_of_zero_makes_every_manual_change_wait(shop, eur, operator_actor, admin):
    approval_actions.policy_set(
        currency="EUR",
        manual_change_above="0",
        payout_above=None,
        nonzero_deletion=False,
        actor=Actor.for_user(admin),
    )
    assert isinstance(ask(shop, "5000.01", operator_actor), ApprovalRequest)


def test_without_a_policy_nothing_waits(shop, eur, operator_actor):
    result = ask(shop, "1000000.00", operator_actor)
    assert isinstance(result, Balance)


def test_a_sync_or_the_system_never_waits(eur_policy, shop, eur):
    result = ask(shop, "90000.00", Actor.system("tests"))
    assert isinstance(result, Balance)


def test_a_second_change_while_one_waits_is_refused_naming_it(
    eur_policy, shop, eur, operator_actor
):
    first = ask(shop, "9000.00", operator_actor)
    with pytest.raises(Conflict) as caught:
        ask(shop, "9500.00", operator_actor)
    assert caught.value.code == "approval_pending"
    assert first.public_id in caught.value.message


def test_deleting_a_non_zero_balance_waits(eur_policy, shop, eur, operator_actor):
    result = balance_actions.balance_delete_or_request(
        service=shop, currency="EUR", actor=operator_actor, reason="Closed"
    )
    assert isinstance(result, ApprovalRequest)
    assert result.kind == "balance_delete" and result.proposed_value is None
    assert Balance.objects.filter(pk=eur.pk).exists()


def test_deleting_a_zero_balance_does_not_wait(eur_policy, shop, operator_actor):
    from tests.factories import BalanceFactory

    BalanceFactory(service=shop, currency="EUR", available=Decimal("0"))
    assert (
        balance_actions.balance_delete_or_request(
            service=shop, currency="EUR", actor=operator_actor
        )
        is None
    )
    assert not Balance.objects.filter(service=shop).exists()


# --- deciding ---------------------------------------------------------------------------


def test_approving_applies_the_change_naming_requester_and_approver(
    eur_policy,
    shop,
    eur,
    operator_actor,
    approver_actor,
    operator,
    approver,
    django_capture_on_commit_callbacks,
):
    request = ask(shop, "7000.00", operator_actor)
    with django_capture_on_commit_callbacks(execute=True):
        decided = approval_actions.approval_approve(
            approval=request, actor=approver_actor, comment="Matches the statement"
        )
    assert decided.status == "approved"
    assert decided.decided_by == approver and decided.comment == "Matches the statement"
    eur.refresh_from_db()
    assert eur.available == Decimal("7000.00") and eur.version == 2
    assert eur.updated_by_label == operator.username
    change = BalanceChange.objects.get(kind="updated")
    assert change.actor_user == operator and change.actor_label == operator.username
    assert change.approved_by_user == approver and change.approved_by_label == approver.username
    assert change.approval_public_id == request.public_id
    assert change.reason == "Provider statement"
    assert AuditEntry.objects.filter(object_id=request.public_id, action="approved").exists()
    assert pending_count() == 0


def test_approving_a_deletion_deletes_with_the_approver_in_history(
    eur_policy, shop, eur, operator_actor, approver_actor, approver
):
    request = balance_actions.balance_delete_or_request(
        service=shop, currency="EUR", actor=operator_actor
    )
    approval_actions.approval_approve(approval=request, actor=approver_actor)
    assert not Balance.objects.filter(service=shop).exists()
    deleted = BalanceChange.objects.get(kind="deleted")
    assert deleted.approved_by_user == approver


def test_rejecting_applies_nothing(eur_policy, shop, eur, operator_actor, approver_actor):
    request = ask(shop, "7000.00", operator_actor)
    decided = approval_actions.approval_reject(
        approval=request, actor=approver_actor, comment="No statement attached"
    )
    assert decided.status == "rejected"
    eur.refresh_from_db()
    assert eur.available == Decimal("5000.00")
    with pytest.raises(NotAllowed) as caught:
        approval_actions.approval_approve(approval=request, actor=approver_actor)
    assert caught.value.code == "not_pending"


def test_nobody_approves_their_own_request(eur_policy, shop, eur, operator_actor):
    request = ask(shop, "7000.00", operator_actor)
    with pytest.raises(SelfApproval):
        approval_actions.approval_approve(approval=request, actor=operator_actor)
    request.refresh_from_db()
    assert request.status == "pending"


def test_a_superuser_does_not_approve_their_own_request(eur_policy, shop, eur, superuser):
    me = Actor.for_user(superuser, via="session")
    request = ask(shop, "7000.00", me)
    with pytest.raises(SelfApproval):
        approval_actions.approval_approve(approval=request, actor=me)
    # Through an API key the superuser is still the same person.
    with pytest.raises(SelfApproval):
        approval_actions.approval_approve(
            approval=request, actor=Actor.for_user(superuser, via="key:bo_abc123")
        )
    eur.refresh_from_db()
    assert eur.available == Decimal("5000.00")


def test_approval_after_the_balance_moved_is_refused_with_what_it_is_now(
    eur_policy, shop, eur, operator_actor, approver_actor
):
    request = ask(shop, "7000.00", operator_actor)
    ask(shop, "5100.00", operator_actor)  # another edit, under the limit: applied
    with pytest.raises(Conflict) as caught:
        approval_actions.approval_approve(approval=request, actor=approver_actor)
    assert caught.value.code == "balance_moved"
    assert caught.value.details["currentAmount"] == Decimal("5100.00")
    assert caught.value.details["currentVersion"] == 2
    eur.refresh_from_db()
    assert eur.available == Decimal("5100.00")
    request.refresh_from_db()
    assert request.status == "pending"

    # Renewed against the balance as it is now, the change can be approved.
    renewed = approval_actions.approval_renew(approval=request, actor=operator_actor)
    request.refresh_from_db()
    assert request.status == "superseded" and request.renewed_as == renewed.public_id
    assert renewed.balance_version == 2 and renewed.current_value == Decimal("5100.00")
    approval_actions.approval_approve(approval=renewed, actor=approver_actor)
    eur.refresh_from_db()
    assert eur.available == Decimal("7000.00")


def test_a_paid_payout_since_the_request_makes_it_stale_too(
    eur_policy, shop, eur, operator_actor, approver_actor
):
    request = ask(shop, "100.00", operator_actor)
    system = Actor.system("tests")
    payout, _ = make_payout(shop, "50.00", system)
    payout_actions.payout_process(payout=payout, actor=system)
    payout_actions.payout_pay(payout=payout, actor=system)
    with pytest.raises(Conflict) as caught:
        approval_actions.approval_approve(approval=request, actor=approver_actor)
    assert caught.value.details["currentAmount"] == Decimal("4950.00")


def test_approving_applies_the_holds_rule_again(
    eur_policy, shop, eur, operator_actor, approver_actor
):
    request = ask(shop, "100.00", operator_actor)
    make_payout(shop, "400.00", Actor.system("tests"))  # holds 400.00, version unchanged
    with pytest.raises(Conflict) as caught:
        approval_actions.approval_approve(approval=request, actor=approver_actor)
    assert caught.value.code == "below_holds"
    eur.refresh_from_db()
    assert eur.available == Decimal("5000.00")


# --- expiry ---------------------------------------------------------------------------


def test_the_periodic_task_expires_overdue_requests(
    eur_policy, shop, eur, operator_actor, approver_actor
):
    request = ask(shop, "7000.00", operator_actor)
    later = request.expires_at + timedelta(seconds=1)
    assert approval_actions.approvals_expire_due(now=later) == 1
    request.refresh_from_db()
    assert request.status == "expired"
    assert AuditEntry.objects.filter(object_id=request.public_id, action="expired").exists()


def test_an_overdue_request_is_never_approved_even_before_the_task_ran(
    eur_policy, shop, eur, operator_actor, approver_actor
):
    request = ask(shop, "7000.00", operator_actor)
    ApprovalRequest.objects.filter(pk=request.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    with pytest.raises(NotAllowed) as caught:
        approval_actions.approval_approve(approval=request.public_id, actor=approver_actor)
    assert caught.value.code == "expired"
    request.refresh_from_db()
    assert request.status == "expired"  # marked at decision time, kept
    eur.refresh_from_db()
    assert eur.available == Decimal("5000.00")


def test_the_expiry_setting_is_used(settings, eur_policy, shop, eur, operator_actor):
    settings.APPROVAL_EXPIRY_HOURS = 2
    request = ask(shop, "7000.00", operator_actor)
    assert request.expires_at - request.requested_at == timedelta(hours=2)


# --- payouts --------------------------------------------------------------------------


def make_payout(service, amount: str, actor: Actor, key: str | None = None):
    return payout_actions.payout_create(
        service=service,
        currency="EUR",
        amount=amount,
        destination="IBAN DE89 3704 0044 0532 0130 00",
        actor=actor,
        idempotency_key=key,
    )


def test_a_payout_under_the_limit_is_pending(eur_policy, shop, eur, operator_actor):
    payout, _ = make_payout(shop, "500.00", operator_actor)
    assert payout.status == "pending"
    assert approval_for_payout(payout.public_id) is None


def test_a_payout_over_the_limit_awaits_approval_holding_its_funds(
    eur_policy, shop, eur, operator_actor, approver_actor
):
    payout, created = make_payout(shop, "600.00", operator_actor)
    assert created and payout.status == "awaiting_approval"
    eur.refresh_from_db()
    assert eur.held == Decimal("600.00") and eur.available_for_payout == Decimal("4400.00")
    request = approval_for_payout(payout.public_id)
    assert request.kind == "payout" and request.proposed_value == Decimal("600.00")
    # Held funds count against the next payout.
    with pytest.raises(Exception) as caught:
        make_payout(shop, "4400.01", Actor.system("tests"))
    assert getattr(caught.value, "code", "") == "insufficient_funds"
    # The state machine does not move it: only its request does.
    with pytest.raises(NotAllowed):
        payout_actions.payout_process(payout=payout, actor=operator_actor)
    assert payout_actions.actions_allowed(payout) == []

    approval_actions.approval_approve(approval=request, actor=approver_actor)
    payout.refresh_from_db()
    assert payout.status == "pending"
    eur.refresh_from_db()
    assert eur.held == Decimal("600.00")
    assert list(payout.events.values_list("to_status", flat=True)) == [
        "awaiting_approval",
        "pending",
    ]


def test_rejecting_a_payout_cancels_it_and_releases_the_hold(
    eur_policy, shop, eur, operator_actor, approver_actor
):
    payout, _ = make_payout(shop, "600.00", operator_actor)
    approval_actions.approval_reject(
        approval=approval_for_payout(payout.public_id), actor=approver_actor
    )
    payout.refresh_from_db()
    assert payout.status == "canceled" and payout.ended_at is not None
    eur.refresh_from_db()
    assert eur.held == Decimal("0") and eur.available == Decimal("5000.00")


def test_an_expired_payout_request_cancels_it_and_releases_the_hold(
    eur_policy, shop, eur, operator_actor
):
    payout, _ = make_payout(shop, "600.00", operator_actor)
    request = approval_for_payout(payout.public_id)
    assert approval_actions.approvals_expire_due(now=request.expires_at) == 1
    payout.refresh_from_db()
    assert payout.status == "canceled"
    eur.refresh_from_db()
    assert eur.held == Decimal("0")


def test_the_same_idempotency_key_returns_the_payout_awaiting_approval(
    eur_policy, shop, eur, operator_actor
):
    first, created = make_payout(shop, "600.00", operator_actor, key="k-1")
    again, created_again = make_payout(shop, "600.00", operator_actor, key="k-1")
    assert created and not created_again and again.pk == first.pk
    assert Payout.objects.count() == 1 and ApprovalRequest.objects.count() == 1
    with pytest.raises(Conflict):
        make_payout(shop, "700.00", operator_actor, key="k-1")


# --- policies and defaults -------------------------------------------------------------


def test_a_stored_policy_overrides_the_platform_default(settings, shop, eur, operator_actor, admin):
    settings.APPROVAL_DEFAULTS = "EUR:manual=10.00"
    assert isinstance(ask(shop, "5010.01", operator_actor), ApprovalRequest)
    ApprovalRequest.objects.all().delete()
    approval_actions.policy_set(
        currency="EUR",
        manual_change_above=None,
        payout_above=None,
        nonzero_deletion=False,
        actor=Actor.for_user(admin),
    )
    assert isinstance(ask(shop, "9000.00", operator_actor), Balance)


def test_platform_defaults_are_parsed_exactly():
    rules = policy.parse_defaults("EUR:manual=1000.00,payout=5000,deletion=1; JPY:manual=0")
    assert rules["EUR"].manual_change_above == Decimal("1000.00")
    assert rules["EUR"].payout_above == Decimal("5000")
    assert rules["EUR"].nonzero_deletion is True
    assert rules["JPY"].manual_change_above == Decimal("0")
    assert rules["JPY"].payout_above is None


@pytest.mark.parametrize(
    "raw",
    [
        "EUR",
        "XXX:manual=1",
        "EUR:manual=1.001",
        "EUR:manual=-1",
        "EUR:manual=1e3",
        "EUR:deletion=maybe",
        "EUR:limit=1",
        "EUR:manual=1;EUR:payout=2",
        "EUR:manual=1,manual=2",
    ],
)
def test_a_malformed_default_stops_the_start_naming_the_variable(raw):
    with pytest.raises(ImproperlyConfigured, match="APPROVAL_DEFAULTS"):
        policy.parse_defaults(raw)


def test_policy_limits_are_checked_against_the_currency(admin):
    from core.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as caught:
        approval_actions.policy_set(
            currency="JPY",
            manual_change_above="10.5",
            payout_above=None,
            nonzero_deletion=False,
            actor=Actor.for_user(admin),
        )
    assert caught.value.field == "manual_change_above"


def test_policy_changes_are_audited(eur_policy, admin):
    entry = AuditEntry.objects.get(object_type="approval_policy", object_id="EUR")
    assert entry.action == "policy_created"
    assert entry.changes["manualChangeAbove"] == [None, "1000.00"]


def test_a_second_api_key_is_the_same_person(eur_policy, shop, eur, operator):
    request = ask(shop, "7000.00", Actor.for_user(operator, via="key:bo_first"))
    with pytest.raises(SelfApproval):
        approval_actions.approval_approve(
            approval=request, actor=Actor.for_user(operator, via="key:bo_second")
        )


def test_another_approver_may_approve(eur_policy, shop, eur, operator_actor):
    other = UserFactory(username="bea", role="approver")
    request = ask(shop, "7000.00", operator_actor)
    approval_actions.approval_approve(approval=request, actor=Actor.for_user(other))
    eur.refresh_from_db()
    assert eur.available == Decimal("7000.00")


def test_the_expiry_task_is_on_the_beat_schedule_and_runs(
    settings, eur_policy, shop, eur, operator_actor
):
    from approvals.tasks import expire_due
    from config.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["expire-approval-requests"]
    assert entry["task"] == "approvals.tasks.expire_due" and entry["task"] in app.tasks
    request = ask(shop, "7000.00", operator_actor)
    ApprovalRequest.objects.filter(pk=request.pk).update(expires_at=timezone.now())
    assert expire_due.delay().get() == 1
    request.refresh_from_db()
    assert request.status == "expired"
