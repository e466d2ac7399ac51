"""Creating a payout: priced, held, idempotent, and cheap, because every payout on a balance
queues for that balance's row lock and busy balances take hundreds a second.

The path, in statements (see tests/payouts/test_create_queries.py):

1. before any lock, ONE read (:func:`_prepare`): the service's status, the payout already
   made with the idempotency key if any, the currency's approval policy and the fee rule
   in force (the currency's own, else the "any currency" rule);
2. one transaction: INSERT the payout, its timeline entry and, for a person, the audit
   entry; then the hold, ONE ``UPDATE ... RETURNING`` of the balance
   (``balance_hold_for_new_payout``) that takes the row lock, checks the funds and reads
   the approval policy as it is under the lock; the alert rules listening to the hold;
   COMMIT.  Only the hold, the alert evaluation and the commit run under the lock.

The statements are written by hand (:mod:`core.rawsql`) where the ORM's cost of building
them was most of the request; values still go through the model fields, so what is stored
is exactly what ``save()`` would store.  The idempotency key's unique constraint decides
between concurrent requests with the same key.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from types import SimpleNamespace
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from approvals import actions as approval_actions
from approvals.models import ApprovalRequest
from approvals.policy import (
    RULE_COLUMNS,
    Rules,
    rules_from,
    rules_from_raw,
    rules_returning_sql,
    with_rules,
)
from balances.actions.payout import balance_hold_for_new_payout, balance_hold_for_payout
from balances.models import Balance
from core import rawsql
from core.actors import Actor
from core.errors import Conflict, NotAllowed, NotFound, Unprocessable
from core.money import currencies
from payouts.common import (
    S,
    _amount,
    _announce,
    _audit,
    _destination,
    _idempotency_key,
    _plain,
    _shown,
    request_fingerprint,
)
from payouts.models import Payout, PayoutEvent, new_payout_id
from services.fees import formula as fees
from services.models import FeeRule, Service

# A policy edited between reading it and locking the balance costs one more attempt; edited
# again and again meanwhile (never in practice), the caller is asked to retry.
POLICY_ATTEMPTS = 3

FEE_RULE_COLUMNS = (
    "id",
    "profile_id",
    "operation",
    "currency",
    "percentage",
    "fixed_amount",
    "minimum_fee",
    "maximum_fee",
    "minimum_payout_amount",
    "created_at",
    "updated_at",
)


class _KeyTaken(Exception):
    """A concurrent request with the same idempotency key committed first (the unique
    constraint said so): this one's transaction is rolled back and the first one's payout
    is the answer."""


class _RulesMoved(Exception):
    """The approval policy read under the balance lock differs from the one the payout was
    written with: written again with these rules."""

    def __init__(self, rules: Rules) -> None:
        self.rules = rules


@dataclass(frozen=True)
class _Found:
    """What :func:`_prepare` read: the service as committed now (not as the caller loaded
    it), the payout already made with the key, the approval rules, the fee rule."""

    status: str
    name: str
    existing_pk: int | None
    rules: Rules
    fee_rule: FeeRule | None


@dataclass(frozen=True)
class _Draft:
    """A payout request, parsed and priced before any lock is taken."""

    service: Service
    code: str
    value: Decimal
    where: str
    key: str | None
    fingerprint: str
    quote: Any
    actor: Actor


# --- before the lock ----------------------------------------------------------------------


@cache
def _prepare_sql(vendor: str, with_key: bool) -> str:
    q = connection.ops.quote_name
    payouts, rules = q(Payout._meta.db_table), q(FeeRule._meta.db_table)
    services = q(Service._meta.db_table)
    existing = (
        f"(SELECT p.{q('id')} FROM {payouts} p WHERE p.{q('service_id')} = s.{q('id')} "  # noqa: S608
        f"AND p.{q('idempotency_key')} = %s)"
        if with_key
        else "NULL"
    )
    # Identifiers from the models only; every value is a parameter.  At most two rule rows
    # (the currency's own and "any currency"), the currency's own first.
    return (
        f"SELECT s.{q('status')}, s.{q('name')}, {existing}, "  # noqa: S608
        f"{rules_returning_sql('%s')}, "
        f"{rawsql.columns(FeeRule, FEE_RULE_COLUMNS, alias='r')} "
        f"FROM {services} s LEFT JOIN {rules} r ON r.{q('profile_id')} = s.{q('fee_profile_id')} "
        f"AND r.{q('operation')} = %s AND r.{q('currency')} IN (%s, '') "
        f"WHERE s.{q('id')} = %s "
        f"ORDER BY CASE WHEN r.{q('currency')} = '' THEN 1 ELSE 0 END LIMIT 1"
    )


def _prepare(service: Service, code: str, key: str | None) -> _Found:
    """ONE statement before the balance lock (see the module's docstring)."""
    params = [code, code, code, code, FeeRule.Operation.PAYOUT, code, service.pk]
    if key is not None:
        params.insert(0, key)
    with connection.cursor() as cursor:
        cursor.execute(_prepare_sql(connection.vendor, key is not None), params)
        row = cursor.fetchone()
    if row is None:
        raise NotFound(f"{service.public_id} no longer exists.", code="service_not_found")
    status, name, existing_pk = row[0], row[1], row[2]
    policy = SimpleNamespace(currency=code, **dict(zip(RULE_COLUMNS, row[3:7], strict=True)))
    rule_row = row[7:]
    fee_rule = None
    if rule_row[0] is not None:
        values = rawsql.convert(FeeRule, FEE_RULE_COLUMNS, rule_row)
        fee_rule = rawsql.instance(FeeRule, values.pop("id"), values)
    return _Found(
        status=status,
        name=name,
        existing_pk=existing_pk,
        rules=rules_from_raw(policy),  # type: ignore[arg-type]
        fee_rule=fee_rule,
    )


def _replay(existing: Payout, fingerprint: str) -> tuple[Payout, bool]:
    if existing.request_fingerprint != fingerprint:
        raise Conflict(
            "This Idempotency-Key was already used for a different payout request "
            f"({existing.public_id}); use a new key for a new payout.",
            field="idempotency_key",
            details={"payoutId": existing.public_id},
            code="idempotency_key_reused",
        )
    return existing, False


def _existing(service: Service, key: str | None) -> Payout | None:
    if key is None:
        return None
    return Payout.objects.filter(service=service, idempotency_key=key).first()


def _check_payable(
    *, found: _Found, value: Decimal, code: str, quote: Any, expected_fee: Decimal | None
) -> None:
    """What may refuse a payout besides funds: the service's state, the minimum, a fee that
    changed since it was shown."""
    if found.status != Service.Status.ACTIVE:
        raise NotAllowed(
            f"{found.name} is {found.status}; only active services can pay out.",
            code="service_not_active",
        )
    if value < quote.minimum_payout:
        raise Unprocessable(
            f"The minimum payout is {_shown(quote.minimum_payout, code)} {code}; "
            f"{_shown(value, code)} {code} is below it.",
            field="amount",
            code="below_minimum",
            details={
                "currency": code,
                "amount": currencies.plain_amount(value, code),
                "minimum": currencies.plain_amount(quote.minimum_payout, code),
            },
        )
    if expected_fee is not None and expected_fee != quote.fee:
        raise Conflict(
            f"The fee changed from {_shown(expected_fee, code)} to {_shown(quote.fee, code)} "
            f"{code} since it was shown; review the payout and confirm again.",
            code="fee_changed",
            details={"fee": currencies.plain_amount(quote.fee, code)},
        )


# --- the write ----------------------------------------------------------------------------


@transaction.atomic
def _write(draft: _Draft, rules: Rules) -> Payout:
    """The payout, its timeline entry and audit entry, then the hold: the balance row is
    locked by the hold's statement, so only the hold, what listens to it in the same
    transaction (alerts) and the commit run under the lock.  Raises ``_KeyTaken`` or
    ``_RulesMoved`` to roll everything back."""
    code, value, fee, actor = draft.code, draft.value, draft.quote.fee, draft.actor
    needs_approval = rules.payout_needs_approval(value)
    now = timezone.now()
    payout = _insert(
        {
            "public_id": new_payout_id(),
            "service_id": draft.service.pk,
            "currency": code,
            "amount": value,
            "fee": fee,
            "destination": draft.where,
            "status": S.AWAITING_APPROVAL if needs_approval else S.PENDING,
            "idempotency_key": draft.key,
            "request_fingerprint": draft.fingerprint,
            "created_by_id": actor.user.pk if actor.user is not None else None,
            "created_by_label": actor.label[:150],
            "created_at": now,
            "updated_at": now,
            "ended_at": None,
            "failure_reason": "",
            "version": 1,
        }
    )
    payout.service = draft.service
    note = (
        f"Created: {_shown(value, code)} + {_shown(fee, code)} fee "
        f"({draft.quote.source}); {_shown(draft.quote.total, code)} {code} on hold."
    )
    if needs_approval:
        approval = approval_actions.approval_request(
            kind=ApprovalRequest.Kind.PAYOUT,
            service=draft.service,
            currency=code,
            actor=actor,
            reason=f"Payout to {draft.where}",
            proposed_value=value,
            payout_public_id=payout.public_id,
        )
        note += f" Waiting for approval ({approval.public_id})."
    event_values = {
        "payout_id": payout.pk,
        "from_status": "",
        "to_status": payout.status,
        "actor_label": actor.label[:150],
        "actor_user_id": payout.created_by_id,
        "note": note,
        "created_at": now,
    }
    event = rawsql.instance(PayoutEvent, rawsql.insert(PayoutEvent, event_values), event_values)
    event.payout = payout
    _audit(
        payout,
        action="payout_created",
        actor=actor,
        changes={
            "status": payout.status,
            "currency": code,
            "amount": _plain(value, code),
            "fee": _plain(fee, code),
            "destination": draft.where,
        },
    )
    locked_rules = _hold(draft, total=payout.total)
    if locked_rules.payout_needs_approval(value) != needs_approval:
        raise _RulesMoved(locked_rules)
    # The timeline as written: the API answers with it without reading it back.
    payout.timeline = [event]  # type: ignore[attr-defined]
    _announce(payout, service=draft.service, from_status=None)
    return payout


def _insert(values: dict[str, Any]) -> Payout:
    """The new payout; ``_KeyTaken`` when a concurrent request with the same key won (the
    unique constraint is the truth: the fast-path check before is only a shortcut)."""
    if values["idempotency_key"] is None:
        return rawsql.instance(Payout, rawsql.insert(Payout, values), values)
    try:
        pk = rawsql.insert(Payout, values)
    except IntegrityError as exc:
        raise _KeyTaken from exc
    return rawsql.instance(Payout, pk, values)


def _hold(draft: _Draft, *, total: Decimal) -> Rules:
    """Hold ``total`` on the balance and return the approval rules read under its lock:
    one UPDATE ... RETURNING when the funds suffice (the common case); otherwise the row is
    locked and read to say why nothing can be held."""
    balance = balance_hold_for_new_payout(service=draft.service, currency=draft.code, amount=total)
    if balance is not None:
        return rules_from_raw(balance)
    balance = _lock_balance(draft.service, draft.code)
    _funds_check(balance, amount=draft.value, fee=draft.quote.fee, currency=draft.code)
    # The funds were freed between the two statements (a payout ended): hold on the locked row.
    balance_hold_for_payout(balance=balance, amount=total)
    return rules_from(balance)


def _lock_balance(service: Service, code: str) -> Balance:
    try:
        # The currency's approval rules come with the locked row (no query of their own).
        balance = with_rules(Balance.objects.select_for_update()).get(
            service=service, currency=code
        )
        balance.service = service  # the hold's event names it: no query for it
        return balance
    except Balance.DoesNotExist:
        raise NotFound(
            f"{service.public_id} has no {code} balance to pay out from.",
            field="currency",
            code="balance_not_found",
        ) from None


def _funds_check(balance: Balance, *, amount: Decimal, fee: Decimal, currency: str) -> None:
    held = balance.held
    free = balance.available_for_payout
    needed = amount + fee
    if needed > free:
        raise Unprocessable(
            f"Insufficient funds: the payout needs {_shown(needed, currency)} {currency} "
            f"({_shown(amount, currency)} + {_shown(fee, currency)} fee), "
            f"{_shown(free, currency)} available for payout "
            f"({_shown(balance.available, currency)} available, "
            f"{_shown(held, currency)} on hold for payouts).",
            field="amount",
            code="insufficient_funds",
            details={
                "currency": currency,
                "needed": currencies.plain_amount(needed, currency),
                "fee": currencies.plain_amount(fee, currency),
                "available": currencies.plain_amount(balance.available, currency),
                "onHold": currencies.plain_amount(held, currency),
                "availableForPayout": currencies.plain_amount(free, currency),
            },
        )


# --- the action ---------------------------------------------------------------------------


def payout_create(
    *,
    service: Service,
    currency: str,
    amount: object,
    destination: str,
    actor: Actor,
    idempotency_key: str | None = None,
    expected_fee: Decimal | None = None,
) -> tuple[Payout, bool]:
    """Create a pending payout; returns ``(payout, created)``.  Above the currency's
    approval limit it is created ``awaiting_approval`` instead, holding its funds the same
    way, with an approval request (``approvals.queries.approval_for_payout``).

    With an ``idempotency_key`` already used on this service: the same request returns the
    first payout (``created`` False), a different one raises ``Conflict``.  ``expected_fee``
    (the fee the user was shown) refuses the payout if the fee changed in the meantime.

    Every payout on a balance queues for its row lock, so everything that does not need it
    happens before: parsing, the idempotency check, the service, pricing, the approval
    rules (checked again under the lock), and the inserts of the payout and its entries.
    One transaction; the lock is taken by its last write, the hold.
    """
    code = currencies.clean_code(currency)
    value = _amount(amount, code)
    where = _destination(destination)
    key = _idempotency_key(idempotency_key)
    fingerprint = request_fingerprint(currency=code, amount=value, destination=where)

    found = _prepare(service, code, key)
    if found.existing_pk is not None:
        return _replay(Payout.objects.get(pk=found.existing_pk), fingerprint)
    quote = fees.quote_with_rule(
        rule=found.fee_rule, operation=FeeRule.Operation.PAYOUT, currency=code, amount=value
    )
    _check_payable(found=found, value=value, code=code, quote=quote, expected_fee=expected_fee)
    draft = _Draft(
        service=service,
        code=code,
        value=value,
        where=where,
        key=key,
        fingerprint=fingerprint,
        quote=quote,
        actor=actor,
    )
    rules = found.rules
    for _ in range(POLICY_ATTEMPTS):
        try:
            return _write(draft, rules), True
        except _KeyTaken:
            existing = _existing(service, key)
            if existing is None:  # pragma: no cover - any other constraint is a bug
                raise
            return _replay(existing, fingerprint)
        except _RulesMoved as moved:
            rules = moved.rules
    raise Conflict(
        "The approval policy of this currency changed while the payout was being created; "
        "nothing was done, try again.",
        code="policy_changed",
    )
