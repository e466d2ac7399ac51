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

from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cache
from types import SimpleNamespace
from typing import Any

from django.db import IntegrityError, NotSupportedError, connection, transaction
from django.utils import timezone

from approvals import actions as approval_actions
from approvals.models import ApprovalRequest
from approvals.policy import (
    RULE_COLUMNS,
    Rules,
    platform_defaults,
    rules_from,
    rules_from_raw,
    rules_returning_sql,
    with_rules,
)
from balances.actions.payout import (
    QUIET_HOLD_COLUMNS,
    balance_hold_for_new_payout,
    balance_hold_for_payout,
    quiet_hold_done,
    quiet_hold_sql,
)
from balances.models import Balance
from core import events, rawsql
from core.actors import Actor
from core.errors import Conflict, NotAllowed, NotFound, Unprocessable
from core.money import currencies
from payouts.common import (
    S,
    _amount,
    _announce,
    _audit_values,
    _destination,
    _idempotency_key,
    _plain,
    _shown,
    request_fingerprint,
)
from payouts.models import Payout, PayoutEvent, new_payout_id
from services.actions import audit, audit_values
from services.fees import formula as fees
from services.models import AuditEntry, FeeRule, Service

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
    # The balance's Balance.watched as last committed (None: no such balance): when no
    # rule watches it, the payout may be written in one statement (_write_at_once).
    watched: bool | None


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
    services, balances = q(Service._meta.db_table), q(Balance._meta.db_table)
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
        f"(SELECT b.{q('watched')} FROM {balances} b WHERE b.{q('service_id')} = s.{q('id')} "
        f"AND b.{q('currency')} = %s), "
        f"{rules_returning_sql('%s')}, "
        f"{rawsql.columns(FeeRule, FEE_RULE_COLUMNS, alias='r')} "
        f"FROM {services} s LEFT JOIN {rules} r ON r.{q('profile_id')} = s.{q('fee_profile_id')} "
        f"AND r.{q('operation')} = %s AND r.{q('currency')} IN (%s, '') "
        f"WHERE s.{q('id')} = %s "
        f"ORDER BY CASE WHEN r.{q('currency')} = '' THEN 1 ELSE 0 END LIMIT 1"
    )


def _prepare(service: Service, code: str, key: str | None) -> _Found:
    """ONE statement before the balance lock (see the module's docstring)."""
    params = [code, code, code, code, code, FeeRule.Operation.PAYOUT, code, service.pk]
    if key is not None:
        params.insert(0, key)
    rows = rawsql.fetch(_prepare_sql(connection.vendor, key is not None), params)
    if not rows:
        raise NotFound(f"{service.public_id} no longer exists.", code="service_not_found")
    row = rows[0]
    status, name, existing_pk, watched = row[0], row[1], row[2], row[3]
    policy = SimpleNamespace(currency=code, **dict(zip(RULE_COLUMNS, row[4:8], strict=True)))
    rule_row = row[8:]
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
        watched=None if watched is None else bool(watched),
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


def _payout_values(draft: _Draft, *, status: str, now: datetime) -> dict[str, Any]:
    actor = draft.actor
    return {
        "public_id": new_payout_id(),
        "service_id": draft.service.pk,
        "currency": draft.code,
        "amount": draft.value,
        "fee": draft.quote.fee,
        "destination": draft.where,
        "status": status,
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


def _note(draft: _Draft) -> str:
    code, quote = draft.code, draft.quote
    return (
        f"Created: {_shown(draft.value, code)} + {_shown(quote.fee, code)} fee "
        f"({quote.source}); {_shown(quote.total, code)} {code} on hold."
    )


def _event_values(payout: Payout, *, note: str, now: datetime) -> dict[str, Any]:
    return {
        "payout_id": payout.pk,
        "from_status": "",
        "to_status": payout.status,
        "actor_label": payout.created_by_label,
        "actor_user_id": payout.created_by_id,
        "note": note,
        "created_at": now,
    }


def _audit_of(payout: Payout, draft: _Draft) -> dict[str, Any] | None:
    code = draft.code
    return _audit_values(
        payout,
        action="payout_created",
        actor=draft.actor,
        changes={
            "status": payout.status,
            "currency": code,
            "amount": _plain(draft.value, code),
            "fee": _plain(draft.quote.fee, code),
            "destination": draft.where,
        },
    )


def _write_at_once(draft: _Draft, found: _Found) -> Payout | None:
    """The common case on PostgreSQL in ONE statement, its own transaction: the hold (an
    ``UPDATE ... RETURNING`` that locks the balance row and checks the funds), the payout,
    its timeline entry and its audit entry (PostgreSQL's data-modifying ``WITH``).  The
    balance row is locked only while the database runs the statement and commits it.

    Only for a balance no alert rule watches (nothing to evaluate in a transaction) and a
    payout that needs no approval: the hold's own conditions check both again as the
    statement sees them, and the inserts depend on the hold, so if anything changed (or the
    funds do not suffice) nothing is written and None sends the caller to :func:`_write`,
    which says why.  ``_KeyTaken`` as there."""
    code, value = draft.code, draft.value
    if connection.vendor != "postgresql" or found.watched is not False:
        return None
    if found.rules.payout_needs_approval(value):
        return None
    default = platform_defaults().get(code) or Rules(currency=code)
    hold = quiet_hold_sql(
        service=draft.service,
        currency=code,
        amount=draft.quote.total,
        payout_amount=value,
        default_ok=not default.payout_needs_approval(value),
    )
    if hold is None:
        return None
    now = timezone.now()
    payout_values = _payout_values(draft, status=S.PENDING, now=now)
    payout = Payout(**payout_values)
    payout.service = draft.service
    event_values = _event_values(payout, note=_note(draft), now=now)
    del event_values["payout_id"]  # the payout's id, from the statement
    q = connection.ops.quote_name
    pk = q("id")
    hold_sql, params = hold
    table, columns, values = rawsql.insert_parts(Payout, payout_values)
    sql = (
        f"WITH h AS ({hold_sql}), "  # noqa: S608 - identifiers from the models, values are parameters
        f"p AS (INSERT INTO {table} ({columns}) SELECT {_marks(values)} FROM h RETURNING {pk})"
    )
    params += values
    table, columns, values = rawsql.insert_parts(PayoutEvent, event_values)
    sql += (
        f", e AS (INSERT INTO {table} ({q('payout_id')}, {columns}) "  # noqa: S608
        f"SELECT p.{pk}, {_marks(values)} FROM p RETURNING {pk})"
    )
    params += values
    entry = _audit_of(payout, draft)
    if entry is not None:
        table, columns, values = rawsql.insert_parts(
            AuditEntry, audit_values(**entry, service=draft.service)
        )
        sql += f", a AS (INSERT INTO {table} ({columns}) SELECT {_marks(values)} FROM p)"  # noqa: S608
        params += values
    sql += f" SELECT h.*, p.{pk}, e.{pk} FROM h, p, e"  # noqa: S608
    try:
        # Inside a caller's transaction, a savepoint keeps it usable after a refusal.
        with transaction.atomic() if connection.in_atomic_block else nullcontext():
            rows = rawsql.fetch(sql, params)
    except IntegrityError as exc:
        if draft.key is None:  # pragma: no cover - any other constraint is a bug
            raise
        raise _KeyTaken from exc
    if not rows:
        return None
    row = rows[0]
    payout.pk = row[QUIET_HOLD_COLUMNS]
    payout._state.adding = False
    payout._state.db = connection.alias
    event = rawsql.instance(
        PayoutEvent, row[QUIET_HOLD_COLUMNS + 1], {**event_values, "payout_id": payout.pk}
    )
    event.payout = payout
    quiet_hold_done(service=draft.service, row=row, amount=draft.quote.total)
    payout.timeline = [event]  # type: ignore[attr-defined]
    _announce(payout, service=draft.service, from_status=None)
    return payout


def _marks(values: list[Any]) -> str:
    return ", ".join(["%s"] * len(values))


@transaction.atomic
def _write(draft: _Draft, rules: Rules) -> Payout:
    """The payout, its timeline entry and audit entry, then the hold: the balance row is
    locked by the hold's statement, so only the hold, what listens to it in the same
    transaction (alerts) and the commit run under the lock.  Raises ``_KeyTaken`` or
    ``_RulesMoved`` to roll everything back."""
    code, value, actor = draft.code, draft.value, draft.actor
    needs_approval = rules.payout_needs_approval(value)
    now = timezone.now()
    status = S.AWAITING_APPROVAL if needs_approval else S.PENDING
    payout = _insert(_payout_values(draft, status=status, now=now))
    payout.service = draft.service
    note = _note(draft)
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
    event_values = _event_values(payout, note=note, now=now)
    event = rawsql.instance(PayoutEvent, rawsql.insert(PayoutEvent, event_values), event_values)
    event.payout = payout
    entry = _audit_of(payout, draft)
    if entry is not None:
        audit(**entry, service=draft.service)
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
    replanned = False
    for attempt in range(POLICY_ATTEMPTS):
        try:
            # The hold's and the status's after-commit listeners share their reads.
            with events.shared_reads():
                if attempt == 0 and (payout := _write_at_once(draft, found)) is not None:
                    return payout, True
                return _write(draft, rules), True
        except _KeyTaken:
            existing = _existing(service, key)
            if existing is None:  # pragma: no cover - any other constraint is a bug
                raise
            return _replay(existing, fingerprint)
        except _RulesMoved as moved:
            rules = moved.rules
        except NotSupportedError as exc:
            # A migration changed a column the hold returns, under this long-lived process:
            # the write's rollback made psycopg forget its prepared statements, and the next
            # attempt prepares them anew (core.rawsql.stale_plan).  Once.
            if replanned or not rawsql.stale_plan(exc):
                raise
            replanned = True
    raise Conflict(
        "The approval policy of this currency changed while the payout was being created; "
        "nothing was done, try again.",
        code="policy_changed",
    )
