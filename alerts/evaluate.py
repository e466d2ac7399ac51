"""Whether a rule's condition holds for a balance, and opening or resolving alerts to match.

An alert opens once when its condition becomes true, stays open (or acknowledged) while it
holds, and resolves when it no longer does.  Everything here runs inside the transaction of the
write that changed the facts (core.events, in-transaction subscribers), after that write locked
the balance row, so two writes to one balance are evaluated one after the other; the database's
"one unresolved alert per rule and balance" constraint settles any other race (the periodic
staleness check against a sync, say): the loser's insert is dropped in a savepoint.

Which rule applies: for one balance and one kind, the service's own rule for the currency if
there is one, else the all-services rule for the currency.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cache
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from alerts.events import AlertOpened, AlertResolved
from alerts.models import AMOUNT_KINDS, Alert, AlertRule, Kind
from balances.models import Balance
from core import events, rawsql
from core.money import currencies

ALL_KINDS: frozenset[str] = frozenset(Kind.values)
AMOUNT: frozenset[str] = frozenset(k.value for k in AMOUNT_KINDS)
TIME_BASED: frozenset[str] = frozenset({Kind.STALE.value, Kind.SYNC_FAILING.value})

RECOVERED = "The condition no longer holds."
BALANCE_GONE = "The balance was deleted."
RULE_GONE = "The rule was deleted."
RULE_CHANGED = "The rule was changed."
RULE_REPLACED = "Another rule applies to this balance now."


@dataclass(frozen=True)
class BalanceState:
    """What the conditions read about one balance (and its service's provider connection)."""

    service_id: int
    service_public_id: str
    currency: str
    available: Decimal
    held: Decimal
    last_confirmed: datetime | None = None  # last sync that confirmed it, else its creation
    connected: bool = False
    failures: int = 0
    paused: bool = False

    @property
    def key(self) -> tuple[int, str]:
        return (self.service_id, self.currency)


@dataclass(frozen=True)
class Unresolved:
    """An open or acknowledged alert, as much of it as evaluation needs."""

    pk: int
    public_id: str
    rule_id: int | None
    service_id: int
    currency: str
    kind: str
    rule_public_id: str = ""
    service_public_id: str = ""


# --- conditions ---------------------------------------------------------------------------


def current_value(rule: AlertRule, state: BalanceState, now: datetime) -> str:
    """The figure the rule watches, as an exact string: an amount with the currency's digits,
    whole minutes since the last confirmed sync, or failed runs in a row."""
    if rule.kind == Kind.AVAILABLE_BELOW:
        return currencies.plain_amount(state.available, state.currency)
    if rule.kind == Kind.AVAILABLE_FOR_PAYOUT_BELOW:
        return currencies.plain_amount(state.available - state.held, state.currency)
    if rule.kind == Kind.STALE:
        if state.last_confirmed is None:
            return "0"
        return str(max(0, int((now - state.last_confirmed).total_seconds() // 60)))
    return str(state.failures)


def holds(rule: AlertRule, state: BalanceState, now: datetime) -> bool:
    if rule.kind == Kind.AVAILABLE_BELOW:
        return rule.threshold is not None and state.available < rule.threshold
    if rule.kind == Kind.AVAILABLE_FOR_PAYOUT_BELOW:
        return rule.threshold is not None and state.available - state.held < rule.threshold
    if not state.connected:
        # Without a provider connection nothing is synchronised: neither stale nor failing.
        return False
    if rule.kind == Kind.STALE:
        if state.last_confirmed is None or rule.stale_minutes is None:
            return False
        return now - state.last_confirmed > timedelta(minutes=rule.stale_minutes)
    return state.paused or (rule.failures is not None and state.failures >= rule.failures)


def rule_threshold(rule: AlertRule) -> str:
    if rule.kind in AMOUNT and rule.threshold is not None:
        return currencies.plain_amount(rule.threshold, rule.currency)
    if rule.kind == Kind.STALE:
        return str(rule.stale_minutes or "")
    if rule.kind == Kind.SYNC_FAILING:
        return str(rule.failures or "")
    return ""


def effective_rules(
    rules: Iterable[AlertRule], *, service_id: int, currency: str, kinds: frozenset[str]
) -> list[AlertRule]:
    """The rule of each kind that applies to one balance: the service's own, else the
    all-services one."""
    chosen: dict[str, AlertRule] = {}
    for rule in rules:
        if rule.currency != currency or rule.kind not in kinds:
            continue
        if rule.service_id == service_id:
            chosen[rule.kind] = rule
        elif rule.service_id is None:
            chosen.setdefault(rule.kind, rule)
    return list(chosen.values())


# --- opening and resolving ----------------------------------------------------------------


def open_alert(*, rule: AlertRule, state: BalanceState, value: str, now: datetime) -> Alert | None:
    """Open an alert for ``rule`` on ``state``'s balance; None when one is already unresolved
    (a concurrent evaluation opened it first: the constraint refuses a second)."""
    try:
        with transaction.atomic():
            alert = Alert.objects.create(
                rule=rule,
                service_id=state.service_id,
                currency=state.currency,
                kind=rule.kind,
                threshold=rule_threshold(rule),
                opened_at=now,
                opened_value=value,
                mail_due_at=now if rule.emails else None,
            )
    except IntegrityError:
        return None
    events.publish(
        AlertOpened(
            alert_public_id=alert.public_id,
            rule_public_id=rule.public_id,
            service_id=state.service_id,
            service_public_id=state.service_public_id,
            currency=state.currency,
            kind=rule.kind,
            threshold=alert.threshold,
            value=value,
            emails=tuple(rule.emails or ()),
            at=now,
        )
    )
    return alert


def resolve_alert(
    alert: Unresolved,
    *,
    value: str,
    reason: str,
    now: datetime,
) -> bool:
    """Resolve ``alert`` if it is still unresolved; True when this call resolved it."""
    updated = Alert.objects.filter(pk=alert.pk, status__in=Alert.UNRESOLVED).update(
        status=Alert.Status.RESOLVED,
        resolved_at=now,
        resolved_value=value,
        resolved_reason=reason[:200],
    )
    if updated:
        events.publish(
            AlertResolved(
                alert_public_id=alert.public_id,
                rule_public_id=alert.rule_public_id,
                service_id=alert.service_id,
                service_public_id=alert.service_public_id,
                currency=alert.currency,
                kind=alert.kind,
                value=value,
                reason=reason,
                at=now,
            )
        )
    return bool(updated)


@dataclass(frozen=True)
class Change:
    """One alert to open (``rule`` and ``state`` set) or resolve (``alert`` set)."""

    key: tuple[int, str]
    value: str
    rule: AlertRule | None = None
    state: BalanceState | None = None
    alert: Unresolved | None = None
    reason: str = ""


def decide(
    *,
    states: list[BalanceState],
    rules: list[AlertRule],
    unresolved: list[Unresolved],
    kinds: frozenset[str],
    now: datetime,
    complete: bool = True,
) -> list[Change]:
    """What to open and resolve so that the alerts match the conditions of ``states``.

    ``unresolved`` are the open alerts of the same balances (and of ``kinds``).  With
    ``complete``, ``states`` are every balance those alerts may be about, so an alert whose
    balance is not among them belongs to a deleted balance and is resolved."""
    by_key = {(a.rule_id, a.service_id, a.currency): a for a in unresolved if a.kind in kinds}
    changes: list[Change] = []
    seen: set[tuple[int, str]] = set()
    for state in states:
        seen.add(state.key)
        for rule in effective_rules(
            rules, service_id=state.service_id, currency=state.currency, kinds=kinds
        ):
            alert = by_key.pop((rule.pk, state.service_id, state.currency), None)
            value = current_value(rule, state, now)
            if holds(rule, state, now):
                if alert is None:
                    changes.append(Change(key=state.key, value=value, rule=rule, state=state))
            elif alert is not None:
                changes.append(
                    Change(
                        key=state.key,
                        value=value,
                        alert=alert,
                        reason=RECOVERED,
                    )
                )
    for alert in by_key.values():
        # Left over: its rule no longer applies to a balance that is there, or the balance
        # is gone.
        key = (alert.service_id, alert.currency)
        if key not in seen and not complete:
            continue
        changes.append(
            Change(
                key=key,
                value="",
                alert=alert,
                reason=RULE_REPLACED if key in seen else BALANCE_GONE,
            )
        )
    return changes


def apply(changes: list[Change], *, now: datetime) -> tuple[int, int]:
    """Make the ``changes``; returns (opened, resolved), not counting those a concurrent
    evaluation made first."""
    opened = resolved = 0
    for change in changes:
        if change.alert is not None:
            resolved += resolve_alert(
                change.alert,
                value=change.value,
                reason=change.reason,
                now=now,
            )
        elif (
            change.rule is not None
            and change.state is not None
            and open_alert(rule=change.rule, state=change.state, value=change.value, now=now)
        ):
            opened += 1
    return opened, resolved


def reconcile(
    *,
    states: list[BalanceState],
    rules: list[AlertRule],
    unresolved: list[Unresolved],
    kinds: frozenset[str],
    now: datetime,
    complete: bool = True,
) -> tuple[int, int]:
    """Open and resolve alerts so that they match the conditions of ``states``
    (:func:`decide`, then :func:`apply`)."""
    changes = decide(
        states=states,
        rules=rules,
        unresolved=unresolved,
        kinds=kinds,
        now=now,
        complete=complete,
    )
    return apply(changes, now=now)


# --- loading what to evaluate -------------------------------------------------------------

_STATE_FIELDS = (
    "service_id",
    "service__public_id",
    "currency",
    "available",
    "held",
    "last_synced_at",
    "created_at",
    "service__provider_connection__id",
    "service__provider_connection__consecutive_failures",
    "service__provider_connection__paused_at",
)


def state_from_row(row: dict[str, Any]) -> BalanceState:
    return BalanceState(
        service_id=row["service_id"],
        service_public_id=row["service__public_id"],
        currency=row["currency"],
        available=row["available"],
        held=row["held"],
        last_confirmed=row["last_synced_at"] or row["created_at"],
        connected=row["service__provider_connection__id"] is not None,
        failures=row["service__provider_connection__consecutive_failures"] or 0,
        paused=row["service__provider_connection__paused_at"] is not None,
    )


def load_states(balances: Any, *, lock: bool = False) -> list[BalanceState]:
    """One query: the balances with their service's id and connection state."""
    if lock:
        # Only the balance rows: the connection is on the nullable side of the join.
        balances = balances.select_for_update(of=("self",))
    return [state_from_row(row) for row in balances.order_by("pk").values(*_STATE_FIELDS)]


def rules_for(*, currencies_: Iterable[str] | None, service_ids: Iterable[int] | None) -> Any:
    rules = AlertRule.objects.all()
    if currencies_ is not None:
        rules = rules.filter(currency__in=list(currencies_))
    if service_ids is not None:
        rules = rules.filter(Q(service__isnull=True) | Q(service_id__in=list(service_ids)))
    return rules


def unresolved_of(alerts: Any) -> list[Unresolved]:
    return [
        Unresolved(
            pk=row["pk"],
            public_id=row["public_id"],
            rule_id=row["rule_id"],
            service_id=row["service_id"],
            currency=row["currency"],
            kind=row["kind"],
            rule_public_id=row["rule__public_id"] or "",
            service_public_id=row["service__public_id"],
        )
        for row in alerts.filter(status__in=Alert.UNRESOLVED).values(
            "pk",
            "public_id",
            "rule_id",
            "rule__public_id",
            "service_id",
            "service__public_id",
            "currency",
            "kind",
        )
    ]


def scope_changes(
    *,
    currency: str | None = None,
    service_id: int | None = None,
    kinds: frozenset[str] = ALL_KINDS,
    now: datetime,
    lock: bool = False,
) -> list[Change]:
    """What evaluating every balance of ``currency`` (all currencies when None) of
    ``service_id`` (all services when None) would change.  Three queries: the balances with
    their connections (locked with ``lock``), the rules, the unresolved alerts."""
    balances = Balance.objects.all()
    alerts = Alert.objects.filter(kind__in=list(kinds))
    if currency is not None:
        balances = balances.filter(currency=currency)
        alerts = alerts.filter(currency=currency)
    if service_id is not None:
        balances = balances.filter(service_id=service_id)
        alerts = alerts.filter(service_id=service_id)
    states = load_states(balances, lock=lock)
    rules = list(
        rules_for(
            currencies_=[currency] if currency is not None else {s.currency for s in states},
            service_ids=[service_id] if service_id is not None else None,
        ).filter(kind__in=list(kinds))
    )
    return decide(
        states=states, rules=rules, unresolved=unresolved_of(alerts), kinds=kinds, now=now
    )


def reconcile_scope(
    *,
    currency: str | None = None,
    service_id: int | None = None,
    kinds: frozenset[str] = ALL_KINDS,
    now: datetime | None = None,
    lock: bool = False,
) -> tuple[int, int]:
    """Evaluate a scope (:func:`scope_changes`) and make the changes.  With ``lock`` the
    balance rows are locked first, so that writes to them wait for this evaluation and see
    its outcome (rule changes, the periodic check's second look)."""
    now = now or timezone.now()
    changes = scope_changes(
        currency=currency, service_id=service_id, kinds=kinds, now=now, lock=lock
    )
    return apply(changes, now=now)


# --- the listeners ------------------------------------------------------------------------


def on_balance_changed(event: events.BalanceChanged) -> None:
    """A manual write or a payout changed one balance (its row is locked by the writer).
    A sync's changes are evaluated once per run, on SyncFinished, in the same transaction."""
    if event.kind == "synced":
        return
    if event.after is None:
        _balance_deleted(event)
        return
    before, after = event.before, event.after
    if before is not None and (before.available, before.available_for_payout) == (
        after.available,
        after.available_for_payout,
    ):
        return  # nothing an amount rule watches moved
    now = event.at
    state = BalanceState(
        service_id=event.service_id,
        service_public_id=event.service_public_id,
        currency=event.currency,
        available=after.available,
        held=after.held,
    )
    # One hand-written statement (core.rawsql), run under the writer's row lock by every
    # payout and manual change: the amount rules that may apply, each with its unresolved
    # alert on this balance if it has one.
    if not event.watched:
        return  # no rule watched the balance when its writer locked it (Balance.watched)
    rules = _amount_rules_with_open_alert(event.service_id, event.currency)
    if not rules:
        _unwatch(event.service_id, event.currency)
        return
    open_alerts = [
        Unresolved(
            pk=r.open_pk,
            public_id=r.open_public_id,
            rule_id=r.pk,
            service_id=event.service_id,
            currency=event.currency,
            kind=r.kind,
            rule_public_id=r.public_id,
            service_public_id=event.service_public_id,
        )
        for r in rules
        if r.open_pk is not None
    ]
    reconcile(
        states=[state],
        rules=rules,
        unresolved=open_alerts,
        kinds=AMOUNT,
        now=now,
        complete=False,
    )


_RULE_COLUMNS = tuple(field.attname for field in AlertRule._meta.concrete_fields)


@cache
def _amount_rules_sql(vendor: str) -> str:
    q = connection.ops.quote_name
    rules, alerts = q(AlertRule._meta.db_table), q(Alert._meta.db_table)
    statuses = ", ".join(["%s"] * len(Alert.UNRESOLVED))
    kinds = ", ".join(["%s"] * len(AMOUNT_KINDS))
    open_alert = (
        f"FROM {alerts} a WHERE a.{q('rule_id')} = r.{q('id')} AND a.{q('service_id')} = %s "
        f"AND a.{q('currency')} = %s AND a.{q('status')} IN ({statuses}) "
        f"ORDER BY a.{q('id')} LIMIT 1"
    )
    # Identifiers from the models only; every value is a parameter.  The rules' own order
    # (AlertRule.Meta.ordering), as the queryset gave it.
    return (
        f"SELECT {rawsql.columns(AlertRule, _RULE_COLUMNS, alias='r')}, "  # noqa: S608
        f"(SELECT a.{q('id')} {open_alert}), (SELECT a.{q('public_id')} {open_alert}) "
        f"FROM {rules} r WHERE r.{q('currency')} = %s "
        f"AND (r.{q('service_id')} IS NULL OR r.{q('service_id')} = %s) "
        f"AND r.{q('kind')} IN ({kinds}) "
        f"ORDER BY r.{q('currency')}, r.{q('kind')}, r.{q('service_id')}, r.{q('id')}"
    )


def _amount_rules_with_open_alert(service_id: int, currency: str) -> list[AlertRule]:
    """The amount rules of ``currency`` for the service (its own and those for every
    service), each with ``open_pk`` and ``open_public_id``: its unresolved alert on the
    service's balance, or None."""
    open_params = [service_id, currency, *Alert.UNRESOLVED]
    params = [*open_params, *open_params, currency, service_id, *AMOUNT_KINDS]
    rows = rawsql.fetch(_amount_rules_sql(connection.vendor), params)
    width = len(_RULE_COLUMNS)
    found = []
    for row in rows:
        values = rawsql.convert(AlertRule, _RULE_COLUMNS, row[:width])
        rule = rawsql.instance(AlertRule, values.pop("id"), values)
        rule.open_pk, rule.open_public_id = row[width], row[width + 1]  # type: ignore[attr-defined]
        found.append(rule)
    return found


def _unwatch(service_id: int, currency: str) -> None:
    """No amount rule watches the balance: say so on its row (locked by the writer that
    announced the change), so that the next writers skip the rules' query.  A rule that
    starts watching it sets it again under the same lock (alerts.actions._lock_scope)."""
    Balance.objects.filter(service_id=service_id, currency=currency, watched=True).update(
        watched=False
    )


def _balance_deleted(event: events.BalanceChanged) -> None:
    for alert in unresolved_of(
        Alert.objects.filter(service_id=event.service_id, currency=event.currency)
    ):
        resolve_alert(
            alert,
            value="",
            reason=BALANCE_GONE,
            now=event.at,
        )


def _may_change_alerts(event: events.SyncFinished) -> bool:
    """Whether a successful run can open or resolve an alert, in one query.

    A run that changed no figure only made things fresher (synced now, no failure, not paused
    by it): nothing can open, only an unresolved alert of the service can resolve.  One that
    changed figures can open an alert only under a rule for the service (or all services).
    """
    # Hand-written: this runs once per sync, and the ORM takes longer to build the EXISTS
    # than PostgreSQL takes to answer them.  Table names are ours, values are parameters.
    statuses = ", ".join(["%s"] * len(Alert.UNRESOLVED))
    sql = (
        f"SELECT EXISTS (SELECT 1 FROM {Alert._meta.db_table} "  # noqa: S608
        f"WHERE service_id = %s AND status IN ({statuses}))"
    )
    params: list[Any] = [event.service_id, *Alert.UNRESOLVED]
    if event.figures_changed is not False:
        sql += (
            f" OR EXISTS (SELECT 1 FROM {AlertRule._meta.db_table} "  # noqa: S608
            "WHERE service_id IS NULL OR service_id = %s)"
        )
        params.append(event.service_id)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        (found,) = cursor.fetchone()
    return bool(found)


def on_sync_finished(event: events.SyncFinished) -> None:
    """A run ended (its changes, its connection's failure count and pause are written, in this
    transaction).  A successful run holds the locks of the service's balance rows: evaluate
    them for every kind.  A failed one holds none, and changed no figure: only the sync kinds,
    which nothing but the sync writes (an amount read here could be older than an alert that
    a concurrent edit just committed).  A successful run that changed no figure evaluates
    only when the service has an unresolved alert."""
    if event.status == "succeeded" and not _may_change_alerts(event):
        return
    kinds = ALL_KINDS if event.status == "succeeded" else TIME_BASED
    reconcile_scope(service_id=event.service_id, kinds=kinds, now=event.at)
