"""Download CSV of a service's payouts with 1,000,000 rows, streamed through the real page
view: prints rows per second and the peak memory it took, beside the same export of 10,000
rows (a ratio near 1 shows the memory is constant in the number of rows).

    .venv/bin/python benchmarks/csv_bench.py
    .venv/bin/python benchmarks/csv_bench.py --rows 200000
    .venv/bin/python benchmarks/csv_bench.py --no-server-side-cursors   # keyset batches

It runs on PostgreSQL (DATABASE_URL, default the local server) in a throwaway database
``bench_csv`` that is created, migrated and dropped; no existing data is touched.  The rows
are inserted by one ``INSERT … SELECT … FROM generate_series`` per service.  Each export runs
in a forked process of its own with a fresh database connection, so that its peak resident
memory (``ru_maxrss``) belongs to that export alone; the figure printed is that peak minus the
process's resident memory just before the request (after a warm-up request).  The request goes
through the whole Django stack (middleware, session, permissions, the view, the filter form)
with the Django test client, and the streamed body is read and parsed back line by line.
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing
import os
import resource
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
os.environ.setdefault("SECRET_KEY", "benchmark-only-secret-key-" + "x" * 40)
os.environ.setdefault("CREDENTIALS_ENCRYPTION_KEY", "VGVzdE9ubHlLZXlUZXN0T25seUtleVRlc3RPbmx5S2U=")
os.environ.setdefault("DEBUG", "0")  # DEBUG would keep every query in memory
os.environ.setdefault("HTTPS_ONLY", "0")
os.environ.setdefault("ALLOWED_HOSTS", "*")
os.environ.setdefault("TASKS_IN_PROCESS", "1")
os.environ.setdefault("PROVIDER_SANDBOXES", "0")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.db import connection, connections  # noqa: E402
from django.test import Client  # noqa: E402

BENCH_DB = "bench_csv"
SMALL = 10_000

# The columns that vary per row, as SQL over the series number ``g`` (``%%`` is a literal
# ``%`` next to parameters); every other column takes the value of a template payout built
# by the model, so new columns need no change here.
VARYING = {
    "public_id": "'po_bench' || lpad(g::text, 10, '0')",
    # 0.01 to 1,000.00 EUR, in the column's 10^-8 units
    "amount": "((g %% 100000) + 1) * 1000000",
    "fee": "25000000 + (g %% 7) * 1000000",
    "destination": "'IBAN DE89 3704 0044 0532 ' || g::text",
    "status": "CASE WHEN g %% 10 = 0 THEN 'pending' ELSE 'paid' END",
    "created_at": "%(start)s::timestamptz - g * interval '1 second'",
    "updated_at": "%(start)s::timestamptz - g * interval '1 second' + interval '5 minutes'",
    "ended_at": "CASE WHEN g %% 10 = 0 THEN NULL "
    "ELSE %(start)s::timestamptz - g * interval '1 second' + interval '5 minutes' END",
}


def insert_payouts(service, rows: int, prefix: str) -> float:
    """``rows`` payouts for ``service`` in one statement; the seconds it took."""
    from payouts.models import Payout

    template = Payout(
        service=service,
        currency="EUR",
        amount=Decimal("1.00"),
        destination="x",
        created_by_label="benchmark",
    )
    columns, values, params = [], [], {"start": datetime(2026, 11, 27, 18, 0, tzinfo=UTC)}
    for field in Payout._meta.concrete_fields:
        if field.primary_key:
            continue
        columns.append(connection.ops.quote_name(field.column))
        if field.name in VARYING:
            values.append(VARYING[field.name])
        else:
            key = f"v_{field.attname}"
            values.append(f"%({key})s")
            params[key] = field.get_db_prep_save(getattr(template, field.attname), connection)
    values[columns.index('"public_id"')] = VARYING["public_id"].replace("po_bench", prefix)
    sql = (
        f"INSERT INTO {Payout._meta.db_table} ({', '.join(columns)}) "
        f"SELECT {', '.join(values)} FROM generate_series(1::bigint, %(rows)s::bigint) AS g"
    )
    began = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(sql, {**params, "rows": rows})
        cursor.execute(f"ANALYZE {Payout._meta.db_table}")
    return time.perf_counter() - began


def current_rss_kb() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def export(user_id: int, service_id: str, expected: int, results) -> None:
    """In a forked child: warm up, then stream the export and parse every line."""
    try:
        from django.contrib.auth.models import User

        client = Client()
        client.force_login(User.objects.get(pk=user_id))
        url = f"/services/{service_id}/payouts/"
        warm = client.get(url, {"status": "failed", "format": "csv"})
        assert warm.status_code == 200 and b"".join(warm.streaming_content).count(b"\n") == 1
        before = current_rss_kb()
        began = time.perf_counter()
        response = client.get(url, {"format": "csv"})
        assert response.status_code == 200 and response.streaming
        size = 0
        # The body comes in pieces of whole lines (about 64 KiB each).
        lines = (
            line + "\r\n"
            for piece in response.streaming_content
            for line in piece.decode().split("\r\n")[:-1]
        )
        reader = csv.reader(lines)
        header = next(reader)
        count = 0
        for row in reader:
            count += 1
            size += len(row)
        response.close()
        elapsed = time.perf_counter() - began
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
        assert count == expected, (count, expected)
        assert size == count * len(header)
        results.put((count, elapsed, max(0, peak - before), None))
    except BaseException as exc:
        results.put((0, 0.0, 0, repr(exc)))
    finally:
        connections.close_all()


def measure(user_id: int, service_id: str, expected: int) -> tuple[int, float, int]:
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    connections.close_all()  # the child opens its own; never share a socket across a fork
    child = ctx.Process(target=export, args=(user_id, service_id, expected, results))
    child.start()
    count, elapsed, grown_kb, error = results.get()
    child.join()
    if error:
        raise RuntimeError(error)
    return count, elapsed, grown_kb


def run(rows: int) -> None:
    from django.contrib.auth.models import Group, User

    from services.models import Service

    big = Service.objects.create(name="Bench Big", country="DE")
    small = Service.objects.create(name="Bench Small", country="DE")
    user = User.objects.create(username="bench-viewer")
    user.groups.add(Group.objects.get(name="viewer"))
    took = insert_payouts(big, rows, "po_big")
    insert_payouts(small, SMALL, "po_small")
    print(f"inserted {rows:,} payouts in {took:.1f} s (+ {SMALL:,} for the small export)")

    mode = (
        "keyset batches"
        if connection.settings_dict.get("DISABLE_SERVER_SIDE_CURSORS")
        else "server-side cursor"
    )
    small_count, small_s, small_kb = measure(user.pk, small.public_id, SMALL)
    big_count, big_s, big_kb = measure(user.pk, big.public_id, rows)
    print(f"Download CSV of a service's payouts through the page view ({mode}):")
    for label, count, seconds, grown in (
        ("small", small_count, small_s, small_kb),
        ("large", big_count, big_s, big_kb),
    ):
        print(
            f"  {label:5} {count:>9,} rows  {seconds:7.2f} s  {count / seconds:9,.0f} rows/s  "
            f"peak memory +{grown / 1024:6.1f} MiB"
        )
    ratio = big_kb / small_kb if small_kb else float("inf")
    print(
        f"  memory ratio {big_count:,} rows / {small_count:,} rows: {ratio:.2f} "
        f"(for {big_count / small_count:.0f}x the rows)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument(
        "--no-server-side-cursors",
        action="store_true",
        help="as behind a transaction-pooling connection pooler: keyset batches",
    )
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("The benchmark needs PostgreSQL: set DATABASE_URL.")
    if args.no_server_side_cursors:
        connection.settings_dict["DISABLE_SERVER_SIDE_CURSORS"] = True

    connection.settings_dict["TEST"]["NAME"] = BENCH_DB
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        run(args.rows)
    finally:
        connections.close_all()
        connection.creation.destroy_test_db(old_name, verbosity=0, keepdb=False)


if __name__ == "__main__":
    main()
