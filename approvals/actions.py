"""Every write to approvals: asking, approving, rejecting, renewing, expiring, and the
policies.  Each decision locks the request row, so two approvers deciding at once apply the
change exactly once: the second one finds the request decided.  A balance change's request
is locked after its balance (:func:`lock_object_first`), the order of every balance writer:
deleting a balance closes the requests made against it under the balance's lock.

A decision never trusts what the page showed: the request is re-read under its lock, its
expiry checked against the clock (an overdue request is expired there and then, whatever
the periodic task has done), the approver compared by user (another API key of the same
user, a superuser, are the same person) with everyone who asked for the change: the
requester and whoever renewed the request, along its whole chain of renewals; and the
kind's apply handler re-checks the object under its own lock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone

from approvals.models import ApprovalPolicy, ApprovalRequest
from approvals.registry import handler_for
from core.actors import Actor
from core.errors import Conflict, DomainError, NotAllowed, NotFound, ValidationFailed
from core.money import currencies
from services.actions import audit
from services.models import Service

COMMENT_MAX_LENGTH = 1000
BULK_MAX = 100
PENDING_COUNT_KEY = "approvals:pending-count"
S = ApprovalRequest.Status


class SelfApproval(DomainError):
    """Nobody approves a change they asked for: the requester, nor whoever renewed the
    request (any key, any role)."""

    code = "self_approval"
    http_status = 403


def _plain(value: Decimal | None, currency: str) -> str | None:
    return None if value is None else currencies.plain_amount(value, currency)


def _comment(raw: object) -> str:
    text = str(raw or "").strip()
    if "\x00" in text:
        raise ValidationFailed("The comment contains a NUL character.", field="comment")
    if len(text) > COMMENT_MAX_LENGTH:
        raise ValidationFailed(
            f"Keep the comment under {COMMENT_MAX_LENGTH} characters.", field="comment"
        )
    return text


def expiry_from(now: Any) -> Any:
    return now + timedelta(hours=settings.APPROVAL_EXPIRY_HOURS)


# --- the navigation's count ---------------------------------------------------------------


def refresh_pending_count() -> int:
    """Recount the requests waiting (one COUNT) into the cache the navigation reads, so that
    pages never pay a query for the badge.  Called after every write that changes it and by
    the periodic expiry task."""
    count = ApprovalRequest.objects.filter(status=S.PENDING, expires_at__gt=timezone.now()).count()
    cache.set(PENDING_COUNT_KEY, count, timeout=None)
    return count


def _recount_on_commit() -> None:
    # Robust: the change is committed; a cache that is down must not turn it into an error
    # (the periodic task recounts once it is back).
    transaction.on_commit(refresh_pending_count, robust=True)


def _audit(approval: ApprovalRequest, *, actor: Actor, action: str, **changes: Any) -> None:
    audit(
        actor=actor,
        action=action,
        subject=f"{approval.public_id} ({approval.get_kind_display()} {approval.currency})",
        service=approval.service,
        object_type="approval",
        object_id=approval.public_id,
        reason=approval.comment if action in ("approved", "rejected") else approval.reason,
        changes=changes,
    )


# --- asking -------------------------------------------------------------------------------


def approval_request(
    *,
    kind: str,
    service: Service,
    currency: str,
    actor: Actor,
    reason: str = "",
    balance_version: int | None = None,
    current_value: Decimal | None = None,
    proposed_value: Decimal | None = None,
    payout_public_id: str = "",
) -> ApprovalRequest:
    """A pending request; called by the apps above inside their own transaction (with the
    object locked), instead of applying the change.  One pending request per balance."""
    now = timezone.now()
    fields = {
        "kind": kind,
        "service": service,
        "currency": currency,
        "requested_by": actor.user,
        "requested_by_label": actor.label[:150],
        "requested_via": actor.via[:32],
        "requested_at": now,
        "reason": reason,
        "balance_version": balance_version,
        "current_value": current_value,
        "proposed_value": proposed_value,
        "payout_public_id": payout_public_id,
        "expires_at": expiry_from(now),
    }
    return _create(fields, actor=actor)


def _create(fields: dict[str, Any], *, actor: Actor, **audited: Any) -> ApprovalRequest:
    """Store a pending request (``fields``) and audit it as asked by ``actor``; refused
    while another request for the same balance waits."""
    service, currency = fields["service"], fields["currency"]
    try:
        with transaction.atomic():
            approval = ApprovalRequest.objects.create(**fields)
    except IntegrityError:
        waiting = ApprovalRequest.objects.filter(
            service=service,
            currency=currency,
            status=S.PENDING,
            kind__in=ApprovalRequest.BALANCE_KINDS,
        ).first()
        if waiting is None:  # pragma: no cover - any other constraint is a bug
            raise
        raise Conflict(
            f"A change of this {currency} balance already waits for approval "
            f"({waiting.public_id}); approve or reject it first.",
            code="approval_pending",
            details={"approvalId": waiting.public_id},
        ) from None
    _audit(
        approval,
        actor=actor,
        action="approval_requested",
        kind=approval.kind,
        currentValue=_plain(approval.current_value, currency),
        proposedValue=_plain(approval.proposed_value, currency),
        payoutId=approval.payout_public_id or None,
        balanceVersion=approval.balance_version,
        **audited,
    )
    _recount_on_commit()
    return approval


# --- who asked ------------------------------------------------------------------------------

REQUESTED = "requested"
RENEWED = "renewed"


def askers(approval: ApprovalRequest) -> dict[int, str]:
    """The users who asked for ``approval``'s change, none of whom may approve it: the
    requester and whoever renewed it, along its whole chain of renewals (a renewal keeps the
    requester, so the renewers are what the chain adds).  User id -> ``REQUESTED`` or
    ``RENEWED`` (asking wins).  One query per earlier request of the chain: none for a
    request never renewed."""
    found: dict[int, str] = {}
    seen: set[str] = set()
    link: ApprovalRequest | None = approval
    while link is not None and link.public_id not in seen:
        seen.add(link.public_id)
        if link.renewed_by_id is not None:
            found.setdefault(link.renewed_by_id, RENEWED)
        if link.requested_by_id is not None:
            found[link.requested_by_id] = REQUESTED
        link = (
            ApprovalRequest.objects.only("public_id", "requested_by", "renewed_by", "renewed_from")
            .filter(public_id=link.renewed_from)
            .first()
            if link.renewed_from
            else None
        )
    return found


def _refuse_askers(locked: ApprovalRequest, actor: Actor) -> None:
    user_id = getattr(actor.user, "pk", None)
    asked = askers(locked).get(user_id) if user_id is not None else None
    if asked is None:
        return
    raise SelfApproval(
        "You asked for this change: someone else must approve it."
        if asked == REQUESTED
        else "You renewed this request: someone else must approve it.",
        details={"requestedBy": locked.requested_by_label},
    )


# --- deciding -----------------------------------------------------------------------------

# Per kind: locks the object a request of that kind is about, before the request itself.
_OBJECT_LOCKS: dict[str, Callable[[ApprovalRequest], None]] = {}


def lock_object_first(kind: str, lock: Callable[[ApprovalRequest], None]) -> None:
    """Register, for ``kind``, how to lock a request's object (called with the request as
    read without a lock; doing nothing when the object is gone): the apps whose writers
    lock the object before its requests register one in their AppConfig.ready(), and a
    decision or a renewal of such a request then locks the object first too, so that the
    two never wait for each other's locks.  The kind's ``apply`` and ``renew`` lock it again
    (they hold it already) and say what to do when it is gone."""
    _OBJECT_LOCKS[kind] = lock


def _lock(approval: ApprovalRequest | str) -> ApprovalRequest:
    public_id = approval if isinstance(approval, str) else approval.public_id
    found = (
        ApprovalRequest.objects.select_for_update(of=("self",))
        .select_related("service")
        .filter(public_id=public_id)
        .first()
    )
    if found is None:
        raise NotFound(f"There is no approval request {public_id}.")
    return found


def _lock_to_decide(approval: ApprovalRequest | str) -> ApprovalRequest:
    """The request locked as :func:`_lock` does, after its object for the kinds that lock it
    first (:func:`lock_object_first`); everything about it is read again under its lock."""
    public_id = approval if isinstance(approval, str) else approval.public_id
    seen = ApprovalRequest.objects.select_related("service").filter(public_id=public_id).first()
    if seen is None:
        raise NotFound(f"There is no approval request {public_id}.")
    lock_object = _OBJECT_LOCKS.get(seen.kind)
    if lock_object is not None:
        lock_object(seen)
    return _lock(public_id)


def _check_pending(locked: ApprovalRequest) -> None:
    if not locked.is_pending:
        raise NotAllowed(
            f"Approval request {locked.public_id} is already {locked.get_status_display().lower()}"
            + (f" by {locked.decided_by_label}." if locked.decided_by_label else "."),
            code="not_pending",
            details={"status": locked.status},
        )


def _mark(locked: ApprovalRequest, status: str, *, actor: Actor | None, comment: str) -> None:
    locked.status = status
    locked.decided_at = timezone.now()
    locked.comment = comment
    if actor is not None:
        locked.decided_by = actor.user
        locked.decided_by_label = actor.label[:150]
        locked.decided_via = actor.via[:32]
    locked.save(
        update_fields=[
            "status",
            "decided_at",
            "comment",
            "decided_by",
            "decided_by_label",
            "decided_via",
        ]
    )


def _cancel(locked: ApprovalRequest, actor: Actor) -> None:
    cancel = handler_for(locked.kind).cancel
    if cancel is not None:
        cancel(locked, actor)


def _expire(locked: ApprovalRequest) -> None:
    system = Actor.system("approvals:expiry")
    _cancel(locked, system)
    _mark(locked, S.EXPIRED, actor=None, comment="")
    _audit(locked, actor=system, action="expired", status=[S.PENDING, S.EXPIRED])
    _recount_on_commit()


def _expired_error(public_id: str) -> NotAllowed:
    return NotAllowed(
        f"Approval request {public_id} expired before it was decided; nothing was applied.",
        code="expired",
        details={"status": S.EXPIRED},
    )


@transaction.atomic
def _decide(
    approval: ApprovalRequest | str, *, actor: Actor, comment: str, approve: bool
) -> tuple[ApprovalRequest, bool]:
    """(the request, whether it was found overdue and expired instead)."""
    locked = _lock_to_decide(approval)
    _check_pending(locked)
    if locked.is_overdue():
        _expire(locked)
        return locked, True
    if approve:
        _refuse_askers(locked, actor)
        handler_for(locked.kind).apply(locked, actor)
        _mark(locked, S.APPROVED, actor=actor, comment=comment)
        _audit(locked, actor=actor, action="approved", status=[S.PENDING, S.APPROVED])
    else:
        _cancel(locked, actor)
        _mark(locked, S.REJECTED, actor=actor, comment=comment)
        _audit(locked, actor=actor, action="rejected", status=[S.PENDING, S.REJECTED])
    _recount_on_commit()
    return locked, False


def approval_approve(
    *, approval: ApprovalRequest | str, actor: Actor, comment: str = ""
) -> ApprovalRequest:
    """Apply the request's change and mark it approved, in one transaction; refused (and
    nothing written) when the requester approves, the request is not pending or overdue, or
    the kind's handler refuses (the balance moved since the request)."""
    note = _comment(comment)
    decided, expired = _decide(approval, actor=actor, comment=note, approve=True)
    if expired:
        raise _expired_error(decided.public_id)
    return decided


def approval_reject(
    *, approval: ApprovalRequest | str, actor: Actor, comment: str = ""
) -> ApprovalRequest:
    """Reject: nothing is applied; what waiting held is released (a payout is canceled)."""
    note = _comment(comment)
    decided, expired = _decide(approval, actor=actor, comment=note, approve=False)
    if expired:
        raise _expired_error(decided.public_id)
    return decided


def renewal_refusal(
    approval: ApprovalRequest, moved: Callable[[], bool], *, now: Any = None
) -> NotAllowed | None:
    """Why ``approval`` cannot be renewed now, or None when it can: only a request of a kind
    that can be asked again, still pending or expired, and only when a renewal is needed:
    it expired (or is past its time) or its object moved since (``moved()``, asked last:
    the kind's ``describe(approval).moved``).  The request's page offers Renew exactly when
    this is None (to whoever may make the change), and :func:`approval_renew` refuses with
    it, so that the two never disagree."""
    public_id = approval.public_id
    handler = handler_for(approval.kind)
    status = S.EXPIRED if approval.is_overdue(now) else approval.status
    if handler.renew is None:
        return NotAllowed(
            f"Approval request {public_id} cannot be renewed (only balance changes can).",
            code="not_renewable",
            details={"status": status},
        )
    if status not in (S.PENDING, S.EXPIRED):
        return NotAllowed(
            f"Approval request {public_id} cannot be renewed: it is {status}.",
            code="not_renewable",
            details={"status": status},
        )
    if status == S.PENDING and not moved():
        return NotAllowed(
            f"Approval request {public_id} does not need renewing: it has not expired and "
            f"the {approval.currency} balance has not changed since it was made. Approve or "
            "reject it as it is.",
            code="not_renewable",
            details={"status": status, "moved": False},
        )
    return None


@transaction.atomic
def approval_renew(*, approval: ApprovalRequest | str, actor: Actor) -> ApprovalRequest:
    """Ask the same change again against the object as it is now, when it needs it (its
    balance moved, or the request expired: :func:`renewal_refusal`): a new pending request,
    still the requester's, renewed by ``actor`` (neither may approve it); the old one is
    marked renewed.  Refused, nothing written, when no renewal is needed."""
    locked = _lock_to_decide(approval)
    handler = handler_for(locked.kind)
    # Whether the object moved, read as the page reads it, under the object's lock (taken
    # before the request's); it only ever comes true for a pending request (a balance's
    # version grows; deleting it closes the requests made against it).
    refusal = renewal_refusal(locked, lambda: handler.describe(locked).moved)
    if refusal is not None:
        raise refusal
    assert handler.renew is not None  # renewal_refusal() refuses the kinds without one
    version, current = handler.renew(locked)
    was = locked.status
    _mark(locked, S.SUPERSEDED, actor=actor, comment=locked.comment)
    now = timezone.now()
    renewed = _create(
        {
            "kind": locked.kind,
            "service": locked.service,
            "currency": locked.currency,
            # Still the change its requester asked for: they may not approve it either.
            "requested_by_id": locked.requested_by_id,
            "requested_by_label": locked.requested_by_label,
            "requested_via": locked.requested_via,
            "requested_at": now,
            "reason": locked.reason,
            "balance_version": version,
            "current_value": current,
            "proposed_value": locked.proposed_value,
            "expires_at": expiry_from(now),
            "renewed_from": locked.public_id,
            "renewed_by": actor.user,
            "renewed_by_label": actor.label[:150],
            "renewed_via": actor.via[:32],
        },
        actor=actor,
        renewedFrom=locked.public_id,
        requestedBy=locked.requested_by_label,
    )
    locked.renewed_as = renewed.public_id
    locked.save(update_fields=["renewed_as"])
    _audit(
        locked,
        actor=actor,
        action="renewed",
        status=[was, S.SUPERSEDED],
        renewedAs=renewed.public_id,
    )
    return renewed


@dataclass(frozen=True)
class BulkOutcome:
    approval_id: str
    done: bool
    status: str
    message: str


def approvals_bulk_decide(
    *, approval_ids: list[str], approve: bool, actor: Actor, comment: str = ""
) -> list[BulkOutcome]:
    """Approve (or reject) each request on its own, in its own transaction: one refusal
    neither stops nor undoes the others.  One outcome per request, in the order given."""
    if not approval_ids:
        raise ValidationFailed("Tick at least one request.", field="approvals")
    if len(approval_ids) > BULK_MAX:
        raise ValidationFailed(f"Tick at most {BULK_MAX} requests at once.", field="approvals")
    decide = approval_approve if approve else approval_reject
    outcomes = []
    for public_id in dict.fromkeys(approval_ids):
        try:
            done = decide(approval=public_id, actor=actor, comment=comment)
        except DomainError as exc:
            outcomes.append(BulkOutcome(public_id, False, "", exc.message))
        else:
            outcomes.append(
                BulkOutcome(public_id, True, done.status, f"{public_id} {done.status}.")
            )
    return outcomes


def balance_requests_close(*, service: Any, currency: str, actor: Actor, keep: str = "") -> int:
    """Reject the pending requests to change or delete ``service``'s ``currency`` balance
    (all but ``keep``, the one being approved), because the balance is being deleted by
    ``actor``: a new balance of that currency starts again at version 1, and no request
    made against the old one may ever be applied to it.  Called under the balance's row
    lock, in the deletion's transaction.  Returns how many were closed."""
    pending = (
        ApprovalRequest.objects.select_for_update()
        .filter(service=service, currency=currency, kind__in=ApprovalRequest.BALANCE_KINDS)
        .filter(status=S.PENDING)
        .exclude(public_id=keep)
        .order_by("id")
    )
    closer = Actor.system("balance deleted")
    why = f"The {currency} balance was deleted by {actor.label}; nothing was applied."
    closed = 0
    for locked in pending:
        _mark(locked, S.REJECTED, actor=closer, comment=why)
        _audit(locked, actor=closer, action="rejected", status=[S.PENDING, S.REJECTED])
        closed += 1
    if closed:
        _recount_on_commit()
    return closed


def approvals_expire_due(*, now: Any = None) -> int:
    """Expire the pending requests past their time (each in its own transaction, under its
    lock: one decided meanwhile is left alone).  Returns how many expired."""
    now = now or timezone.now()
    due = list(
        ApprovalRequest.objects.filter(status=S.PENDING, expires_at__lte=now)
        .order_by("expires_at")
        .values_list("public_id", flat=True)[:500]
    )
    expired = 0
    for public_id in due:
        with transaction.atomic():
            locked = _lock(public_id)
            if locked.is_pending and locked.is_overdue(now):
                _expire(locked)
                expired += 1
    refresh_pending_count()
    return expired


# --- policies -----------------------------------------------------------------------------


def _limit(raw: object, code: str, field: str) -> Decimal | None:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    try:
        value = currencies.parse_amount(raw, code)
    except currencies.AmountError as exc:
        raise ValidationFailed(str(exc), field=field) from None
    if value < 0:
        raise ValidationFailed("A limit cannot be negative.", field=field)
    return value


def _policy_figures(policy: ApprovalPolicy, code: str) -> list[Any]:
    return [
        _plain(policy.manual_change_above, code),
        _plain(policy.payout_above, code),
        policy.nonzero_deletion,
    ]


@transaction.atomic
def policy_set(
    *,
    currency: str,
    manual_change_above: object,
    payout_above: object,
    nonzero_deletion: bool,
    actor: Actor,
) -> ApprovalPolicy:
    """Create or replace ``currency``'s policy (it overrides the platform default).  Limits:
    an amount with the currency's digits (0: every change), or None/"" for "never".  Of two
    calls at once for a currency without a policy, the later one replaces the policy the
    first created, audited as a change."""
    code = currencies.clean_code(currency)
    fields = {
        "manual_change_above": _limit(manual_change_above, code, "manual_change_above"),
        "payout_above": _limit(payout_above, code, "payout_above"),
        "nonzero_deletion": bool(nonzero_deletion),
        "updated_at": timezone.now(),
        "updated_by": actor.user,
        "updated_by_label": actor.label[:150],
    }
    policy = ApprovalPolicy.objects.select_for_update().filter(currency=code).first()
    before = None if policy is None else _policy_figures(policy, code)
    if policy is None:
        try:
            with transaction.atomic():
                policy = ApprovalPolicy.objects.create(currency=code, **fields)
        except IntegrityError:
            # Another call created it meanwhile (our insert waited for its commit): this
            # one comes later, so it replaces that policy, under its lock.
            policy = ApprovalPolicy.objects.select_for_update().get(currency=code)
            before = _policy_figures(policy, code)
    if before is not None:
        for name, value in fields.items():
            setattr(policy, name, value)
        policy.save()
    after = _policy_figures(policy, code)
    names = ("manualChangeAbove", "payoutAbove", "nonZeroDeletion")
    audit(
        actor=actor,
        action="policy_created" if before is None else "policy_changed",
        subject=f"approval policy {code}",
        object_type="approval_policy",
        object_id=code,
        changes={
            n: [b, a]
            for n, b, a in zip(names, before or [None, None, None], after, strict=True)
            if b != a
        },
    )
    return policy
