"""Applying a fetched snapshot: one transaction that locks the service's balance rows, writes
the balances and their history, finishes the run and records the connection's success.

Marking the run succeeded in that same transaction is what makes a redelivered task harmless:
it finds the run finished and does nothing.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Any

from django.db import connection as db_connection
from django.db import transaction
from django.utils import timezone

from balances import events
from balances.models import Balance, BalanceChange, BalanceReview, SyncRun
from balances.providers.base import Snapshot, provider_label
from balances.sync.held import HeldReviews, protection_start
from balances.sync.plan import (
    CREATE,
    HELD,
    UNCHANGED,
    UPDATE,
    CurrencyPlan,
    Plan,
    plan_snapshot,
)
from core import rawsql, sqlcombine
from core.actors import Actor, ActorType
from services.models import ProviderConnection


class ConcurrentEdit(Exception):
    """A balance changed between the fetch and the apply."""

    def __init__(self, currencies: list[str], by: list[str]) -> None:
        super().__init__(", ".join(currencies))
        self.currencies = currencies
        self.by = by


@transaction.atomic
def snapshot_apply(
    *,
    run: SyncRun,
    connection: ProviderConnection,
    snapshot: Snapshot,
    expected_versions: dict[str, int] | None = None,
) -> Plan:
    """Apply ``snapshot`` to the service's balances, all or nothing, and finish ``run``.

    The service's balance rows are locked first.  If one of them changed since
    ``expected_versions`` were read (an operator edit that landed during the fetch),
    ``ConcurrentEdit`` is raised and nothing is written: the caller fetches again, so a manual
    edit is never silently overwritten by an older snapshot.  A value set by hand inside the
    protection window that the provider contradicts is not written either: it is held for
    review (balances/sync/held.py).  The number of queries does not depend on the number of
    currencies.
    """
    now = timezone.now()
    locked = _lock_balances(run.service_id, expected_versions)  # query: lock the balances
    reviews = HeldReviews.load(run.service_id, locked)  # query, if a value was set by hand
    plan = plan_snapshot(
        balances=locked,
        snapshot=snapshot,
        provider_label=provider_label(connection.kind),
        create_missing=connection.create_missing_balances,
        protect_since=protection_start(now),
        kept=reviews.kept_figures(locked),
    )
    actor = Actor.for_sync(run)
    # queries, only with reviews: clear, refresh, open (before the writes move the versions)
    held, opened = reviews.record(run=run, plan=plan, locked=locked, now=now)
    history, confirmed = _write_existing(run, actor, plan, locked, now)  # query, if changed
    history += _held_history(run, actor, plan, locked, opened, now)
    history += _create_missing(run, actor, plan, now)  # query, if new balances
    if history:
        sqlcombine.insert_rows(history)  # query, if anything changed: history
    # query: one statement that stamps the balances confirmed as seen, finishes the run and
    # records the connection's success (core/sqlcombine.py, written by hand: once per sync)
    sqlcombine.update_rows(
        [
            (Balance, confirmed, {"last_synced_at": now}),
            _finish_run(run, plan, snapshot, now, held),
            _record_success(run, connection, now),
        ]
    )
    _announce(run, actor, plan, locked, now)
    return plan


def _announce(run: SyncRun, actor: Actor, plan: Plan, locked: list[Balance], now: datetime) -> None:
    """One BalanceChanged per balance the sync changed or created (kind ``synced``; ``before``
    is None for a created one), then SyncFinished: in-transaction listeners evaluate the
    service's balances once, on SyncFinished, so the queries do not grow with the currencies."""
    held = {b.currency: b.held for b in locked}
    changed = False
    for entry in plan.entries:
        if entry.action not in (UPDATE, CREATE) or entry.new is None:
            continue
        changed = True
        old = entry.old if entry.action == UPDATE else None
        events.balance_changed(
            service_id=run.service_id,
            service_public_id=run.service.public_id,
            currency=entry.currency,
            kind=BalanceChange.Kind.SYNCED,
            before=None
            if old is None
            else events.figures(
                available=old.available,
                pending=old.pending,
                reserved=old.reserved,
                held=held.get(entry.currency, Decimal(0)),
            ),
            after=events.figures(
                available=entry.new.available,
                pending=entry.new.pending,
                reserved=entry.new.reserved,
                held=held.get(entry.currency, Decimal(0)),
            ),
            actor_label=actor.label,
            at=now,
        )
    events.sync_finished(run=run, figures_changed=changed)


@cache
def _lock_sql(vendor: str) -> str:
    """The service's balances, locked (where the database can): written by hand, because it
    runs once per sync and building it costs the ORM more CPU than the database spends on
    it.  Identifiers from the model; the id is a parameter."""
    quote = db_connection.ops.quote_name
    lock = " FOR UPDATE" if db_connection.features.has_select_for_update else ""
    return (
        f"SELECT {rawsql.columns(Balance, None, alias='b')} "  # noqa: S608
        f"FROM {quote(Balance._meta.db_table)} b WHERE b.{quote('service_id')} = %s "
        f"ORDER BY b.{quote('currency')}{lock}"
    )


def _lock_balances(service_id: int, expected_versions: dict[str, int] | None) -> list[Balance]:
    with db_connection.cursor() as cursor:
        cursor.execute(_lock_sql(db_connection.vendor), [service_id])
        rows = cursor.fetchall()
    locked = [rawsql.loaded(Balance, row) for row in rows]
    if expected_versions is not None:
        moved = [b for b in locked if expected_versions.get(b.currency) != b.version]
        if moved:
            raise ConcurrentEdit(
                [b.currency for b in moved], sorted({b.updated_by_label for b in moved})
            )
    return locked


def _write_existing(
    run: SyncRun, actor: Actor, plan: Plan, locked: list[Balance], now: datetime
) -> tuple[list[BalanceChange], list[int]]:
    """Update the balances whose figures changed (one statement); returns the history of the
    changed ones and the ids of the others (and those held for review), seen by this sync:
    their stamp ("last synced" only: no version, no history) goes with the run's end."""
    by_currency = {b.currency: b for b in locked}
    changed: list[Balance] = []
    confirmed: list[int] = []
    history: list[BalanceChange] = []
    for entry in plan.entries:
        if entry.action in (UNCHANGED, HELD):
            # A held value was seen too: what the provider says waits in its review, and the
            # balance is not marked stale for a connection that works.
            confirmed.append(by_currency[entry.currency].pk)
        elif entry.action == UPDATE:
            assert entry.new is not None
            balance = by_currency[entry.currency]
            balance.available, balance.pending, balance.reserved = (
                entry.new.available,
                entry.new.pending,
                entry.new.reserved,
            )
            balance.version += 1
            balance.updated_at = balance.last_synced_at = now
            balance.updated_by_type = ActorType.SYNC
            balance.updated_by_label = actor.label
            changed.append(balance)
            history.append(_history(run, actor, balance, entry, BalanceChange.Kind.SYNCED, now))
    if changed:
        _update_changed(changed, now=now, label=actor.label)
    return history, confirmed


def _create_missing(run: SyncRun, actor: Actor, plan: Plan, now: datetime) -> list[BalanceChange]:
    """Create the balances the provider reports and the service lacks (when the connection
    says so); returns their history."""
    entries = {e.currency: e for e in plan.with_action(CREATE) if e.new is not None}
    if not entries:
        return []
    created = [
        Balance(
            service_id=run.service_id,
            currency=currency,
            available=entry.new.available,
            pending=entry.new.pending,
            reserved=entry.new.reserved,
            updated_at=now,
            updated_by_type=ActorType.SYNC,
            updated_by_label=actor.label,
            last_synced_at=now,
        )
        for currency, entry in entries.items()
        if entry.new is not None
    ]
    Balance.objects.bulk_create(created)  # ids come back on PostgreSQL
    if any(b.pk is None for b in created):  # SQLite before RETURNING support
        ids = dict(
            Balance.objects.filter(
                service_id=run.service_id, currency__in=list(entries)
            ).values_list("currency", "pk")
        )
        for b in created:
            b.pk = ids[b.currency]
    return [
        _history(run, actor, b, entries[b.currency], BalanceChange.Kind.CREATED, now)
        for b in created
    ]


def _held_history(
    run: SyncRun,
    actor: Actor,
    plan: Plan,
    locked: list[Balance],
    opened: dict[str, BalanceReview],
    now: datetime,
) -> list[BalanceChange]:
    """A history line for each review opened, figures unchanged: the balance's history says
    that the sync was held back and what the provider reported."""
    by_currency = {b.currency: b for b in locked}
    lines = []
    for entry in plan.with_action(HELD):
        if entry.currency not in opened or entry.held is None:
            continue
        balance = by_currency[entry.currency]
        line = _history(run, actor, balance, entry, BalanceChange.Kind.SYNCED, now)
        line.new_available, line.new_pending, line.new_reserved = (
            balance.available,
            balance.pending,
            balance.reserved,
        )
        line.reason = (
            f"Held for review ({opened[entry.currency].public_id}): the provider reports "
            f"{entry.held['provider']} {entry.currency} (difference "
            f"{_signed(entry.held['difference'])}); the value set by hand by "
            f"{entry.held['by'] or 'an operator'} was left in place"
        )
        lines.append(line)
    return lines


def _signed(plain: str) -> str:
    return plain if plain.startswith("-") else f"+{plain}"


def _finish_run(
    run: SyncRun, plan: Plan, snapshot: Snapshot, now: datetime, held: dict[str, BalanceReview]
) -> sqlcombine.RowUpdate:
    """The run's end, on the instance and as the update that writes it."""
    counts = plan.counts
    run.status = SyncRun.Status.SUCCEEDED
    run.finished_at = now
    run.updated_count = counts["updated"]
    run.unchanged_count = counts["unchanged"]
    run.created_count = counts["created"]
    run.skipped_count = counts["skipped"]
    run.not_reported_count = counts["notReported"]
    run.held_count = counts["heldForReview"]
    run.result = plan.as_result(taken_at=snapshot.taken_at.isoformat())
    for item in run.result["heldForReview"]:
        review = held.get(item["currency"])
        item["reviewId"] = review.public_id if review is not None else None
    run.error_category = ""
    run.error_message = ""
    fields = (
        "status",
        "finished_at",
        "updated_count",
        "unchanged_count",
        "created_count",
        "skipped_count",
        "not_reported_count",
        "held_count",
        "result",
        "error_category",
        "error_message",
    )
    return SyncRun, run.pk, {name: getattr(run, name) for name in fields}


def _record_success(
    run: SyncRun, connection: ProviderConnection, now: datetime
) -> sqlcombine.RowUpdate:
    fields: dict[str, Any] = {"last_success_at": now, "consecutive_failures": 0, "updated_at": now}
    if run.trigger != SyncRun.Trigger.SCHEDULE:
        # An operator's successful run shows the connection works again.
        fields.update(paused_at=None, paused_reason="")
    return ProviderConnection, connection.pk, fields


_CHANGED_COLUMNS = "(id, available, pending, reserved, version)"
# Amounts go as the integer storage units of their column (core/money/dbfields.py).
_CHANGED_ROW = "(%s::bigint, %s::bigint, %s::bigint, %s::bigint, %s::integer)"
_CHANGED_FIELDS = [
    "available",
    "pending",
    "reserved",
    "version",
    "updated_at",
    "updated_by_type",
    "updated_by_label",
    "last_synced_at",
]


def _update_changed(changed: list[Balance], *, now: datetime, label: str) -> None:
    """Write the changed balances in one statement.

    Raw SQL on purpose: on PostgreSQL an ``UPDATE … FROM (VALUES …)`` costs a tenth of the CPU
    of Django's ``bulk_update`` (a CASE per column and row).  Only our own table and column
    names are interpolated; every value is a parameter.  Other databases use bulk_update.
    """
    if db_connection.vendor != "postgresql":
        Balance.objects.bulk_update(changed, _CHANGED_FIELDS)
        return
    table = db_connection.ops.quote_name(Balance._meta.db_table)
    rows = ", ".join([_CHANGED_ROW] * len(changed))
    sql = (
        f"UPDATE {table} AS b SET available = v.available, pending = v.pending, "  # noqa: S608 - names are ours
        "reserved = v.reserved, version = v.version, updated_at = %s, "
        "updated_by_type = %s, updated_by_label = %s, last_synced_at = %s "
        f"FROM (VALUES {rows}) AS v{_CHANGED_COLUMNS} WHERE b.id = v.id"
    )
    units = Balance._meta.get_field("available").get_prep_value
    values: list[Any] = []
    for b in changed:
        values += [b.pk, units(b.available), units(b.pending), units(b.reserved), b.version]
    with db_connection.cursor() as cursor:
        cursor.execute(sql, [now, ActorType.SYNC, label, now, *values])


def _history(
    run: SyncRun,
    actor: Actor,
    balance: Balance,
    entry: CurrencyPlan,
    kind: str,
    now: datetime,
) -> BalanceChange:
    old, new = entry.old, entry.new
    note = entry.note
    if entry.replaced_manual:
        note = (note + "; " if note else "") + (
            f"replaced the value set by hand by {entry.replaced_manual['by']}"
        )
    return BalanceChange(
        service_id=run.service_id,
        balance_id=balance.pk,
        currency=balance.currency,
        kind=kind,
        old_available=old.available if old else None,
        new_available=new.available if new else None,
        old_pending=old.pending if old else None,
        new_pending=new.pending if new else None,
        old_reserved=old.reserved if old else None,
        new_reserved=new.reserved if new else None,
        version=balance.version,
        reason=note,
        created_at=now,
        **actor.history_fields(),
    )
