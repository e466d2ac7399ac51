"""Balances as of a moment on a long history: one balance with 1,000,000 history rows and a
service with 20 currencies, on PostgreSQL.

Prints, for several moments, the median and p99 time of the as-of query
(``balances.history.asof.balances_as_of``: one statement, one index probe per currency)
beside the time of the current-balances query (``balances.queries.balances_for_service``)
and their ratio, then the plan of one as-of query (EXPLAIN ANALYZE).

    .venv/bin/python benchmarks/asof_bench.py
    .venv/bin/python benchmarks/asof_bench.py --rows 200000 --repeat 300

It runs in a throwaway database ``bench_asof`` (DATABASE_URL's server, default the local
one) that is created, migrated and dropped; no existing data is touched.  The history is
written by one INSERT … SELECT over generate_series (seconds, not an hour of actions).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
os.environ.setdefault("SECRET_KEY", "benchmark-only-secret-key-" + "x" * 40)
os.environ.setdefault("CREDENTIALS_ENCRYPTION_KEY", "VGVzdE9ubHlLZXlUZXN0T25seUtleVRlc3RPbmx5S2U=")
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("HTTPS_ONLY", "0")
os.environ.setdefault("ALLOWED_HOSTS", "*")
os.environ.setdefault("TASKS_IN_PROCESS", "1")
os.environ.setdefault("PROVIDER_SANDBOXES", "0")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.db import connection, connections  # noqa: E402

from balances.history.asof import balances_as_of, changes_as_of  # noqa: E402
from balances.models import Balance, BalanceChange  # noqa: E402
from balances.queries import balances_for_service  # noqa: E402
from services.models import Service  # noqa: E402

BENCH_DB = "bench_asof"
BASE = datetime(2024, 1, 1, tzinfo=UTC)
UNITS = 10**8  # storage units per currency unit (core/money/dbfields.py)
CURRENCIES_20 = [
    "AED", "AUD", "BRL", "CAD", "CHF", "CNY", "CZK", "DKK", "EUR", "GBP",
    "GHS", "HKD", "JPY", "KES", "KWD", "NGN", "NOK", "SEK", "USD", "USDT_TRC20",
]  # fmt: skip


def _constant_columns() -> dict[str, object]:
    """Values of the NOT NULL columns the generated rows do not compute (reason, labels…),
    read from the model so that a column added later does not break the benchmark."""
    computed = {
        "id", "service", "balance", "currency", "kind", "actor_type", "actor_label",
        "old_available", "new_available", "old_pending", "new_pending", "old_reserved",
        "new_reserved", "version", "created_at",
    }  # fmt: skip
    values = {}
    for field in BalanceChange._meta.concrete_fields:
        if field.name in computed or field.null:
            continue
        values[field.column] = field.get_db_prep_save(field.get_default(), connection)
    return values


def insert_history(
    *, service_id: int, balance_id: int, currency: str, rows: int, start: datetime
) -> None:
    """``rows`` entries of one balance, one second apart from ``start``: a creation, then
    updates whose available figure is the row number (in currency units)."""
    constants = _constant_columns()
    extra_cols = "".join(f", {c}" for c in constants)
    extra_vals = "".join(", %s" for _ in constants)
    sql = f"""
        INSERT INTO balances_balancechange (
            service_id, balance_id, currency, kind, actor_type, actor_label,
            old_available, new_available, old_pending, new_pending, old_reserved,
            new_reserved, version, created_at{extra_cols})
        SELECT %s, %s, %s, CASE WHEN n = 1 THEN 'created' ELSE 'updated' END, 'user', 'bench',
            CASE WHEN n = 1 THEN NULL ELSE (n - 1) * {UNITS}::bigint END, n * {UNITS}::bigint,
            CASE WHEN n = 1 THEN NULL ELSE 0 END, 0, CASE WHEN n = 1 THEN NULL ELSE 0 END, 0,
            n, %s + n * interval '1 second'{extra_vals}
        FROM generate_series(1, %s) AS n
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [service_id, balance_id, currency, start, *constants.values(), rows])


def build(rows: int, per_currency: int) -> tuple[Service, Service]:
    big = Service.objects.create(name="Long history Ltd", country="DE")
    wide = Service.objects.create(name="Twenty currencies Ltd", country="GB")
    balance = Balance.objects.create(service=big, currency="EUR", available=rows, version=rows)
    insert_history(service_id=big.pk, balance_id=balance.pk, currency="EUR", rows=rows, start=BASE)
    for code in CURRENCIES_20:
        b = Balance.objects.create(
            service=wide, currency=code, available=per_currency, version=per_currency
        )
        insert_history(
            service_id=wide.pk, balance_id=b.pk, currency=code, rows=per_currency, start=BASE
        )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE balances_balancechange")
        cursor.execute("ANALYZE balances_balance")
    return big, wide


def timed(call: Callable[[], object], repeat: int) -> list[float]:
    call()  # warm: plans and pages cached as in a running server
    samples = []
    for _ in range(repeat):
        began = time.perf_counter()
        call()
        samples.append((time.perf_counter() - began) * 1000)
    return samples


def _fetch(sql: str, params: tuple) -> list:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(0.99 * len(ordered)) - 1)]


def report(label: str, samples: list[float], baseline: float) -> None:
    median = statistics.median(samples)
    print(
        f"  {label:<38} median {median:7.3f} ms   p99 {p99(samples):7.3f} ms"
        f"   ratio {median / baseline:5.2f}"
    )


def run(rows: int, per_currency: int, repeat: int) -> None:
    began = time.perf_counter()
    big, wide = build(rows, per_currency)
    total = BalanceChange.objects.count()
    print(f"history: {total:,} rows written in {time.perf_counter() - began:.1f} s")
    for service, span, what in (
        (big, rows, f"1 balance, {rows:,} history rows"),
        (wide, per_currency, f"20 currencies, {per_currency:,} rows each"),
    ):
        current = timed(lambda s=service: balances_for_service(s), repeat)
        baseline = statistics.median(current)
        print(f"\n{what} ({service.public_id})")
        report("current balances (the baseline)", current, baseline)
        for share in (0.001, 0.5, 0.999, 2.0):
            moment = BASE + timedelta(seconds=max(1, int(span * share)))
            label = f"as of {moment:%Y-%m-%d %H:%M:%S}Z ({share:.1%} in)"
            samples = timed(lambda s=service, m=moment: balances_as_of(s, m), repeat)
            check = balances_as_of(service, moment)
            expected = min(span, max(1, int(span * share)))
            assert all(b.available == expected for b in check), (moment, check[:1])
            report(label, samples, baseline)
        # The database's share: the last moment's statement, compiled once, run alone.
        sql, params = changes_as_of(moment, service_ids=[service.pk]).query.sql_with_params()
        alone = timed(lambda q=sql, p=params: _fetch(q, p), repeat)
        report("  the same, SQL alone (no ORM)", alone, baseline)
    middle = BASE + timedelta(seconds=rows // 2)
    sql, params = changes_as_of(middle, service_ids=[big.pk]).query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {sql}", params)
        plan = "\n".join(f"    {row[0]}" for row in cursor.fetchall())
    print(f"\nplan of the as-of query, 1 balance, half-way through its history:\n{plan}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="history rows of 1 balance")
    parser.add_argument("--per-currency", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=500)
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("The benchmark needs PostgreSQL: set DATABASE_URL.")
    connection.settings_dict["TEST"]["NAME"] = BENCH_DB
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        run(args.rows, args.per_currency, args.repeat)
    finally:
        connections.close_all()
        connection.creation.destroy_test_db(old_name, verbosity=0, keepdb=False)


if __name__ == "__main__":
    main()
