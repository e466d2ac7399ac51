"""Balance sync at scale: N services on a fake provider answering after L ms, synced by real
Celery workers; prints the wall time against the lower bound N·L/C and the SQL queries of one
service sync.

    .venv/bin/python benchmarks/sync_bench.py
    .venv/bin/python benchmarks/sync_bench.py --services 1000 --latency-ms 100 --concurrency 8
    .venv/bin/python benchmarks/sync_bench.py --workers 1 --pool prefork --concurrency 16
    .venv/bin/python benchmarks/sync_bench.py --db-reuse-max 0        # a new connection per task
    .venv/bin/python benchmarks/sync_bench.py --batch-size 1 --concurrency 16  # a task per run
    PY_SPY=/path/to/py-spy .venv/bin/python benchmarks/sync_bench.py --profile /tmp/sync

The defaults are the set-up the README recommends for a 2-CPU host: one worker process per
CPU, each ``--pool threads --concurrency 2``, the runs queued as batches of
``SYNC_BATCH_SIZE`` (32) services fetched ``SYNC_BATCH_THREADS`` (4) at a time
(balances/sync/batch.py): C = 2 x 2 x 4 = 16 fetches in flight.  Threads because a sync
mostly waits (provider, PostgreSQL, Redis) and threads cost no memory per slot; one process per
CPU because one process's threads share one GIL; batches because one Celery message per run
cost more worker CPU than the run's own work.  ``--batch-size 1`` queues one task per run, as
the button does (C = the task slots).

What happens:

1. a throw-away database ``bench_sync`` is dropped, created and migrated; a private
   ``redis-server`` is started (see sync_support.py);
2. a fake SyncPay (benchmarks/sync_fake_provider.py, asyncio) answers in SyncPay's documented
   format after L ms, to any number of concurrent requests;
3. N services are created, each with USD and NGN balances and a SyncPay connection to it;
4. SQL statements of ``sync_execute`` are counted in this process with
   ``CaptureQueriesContext``, for services with 2 and with 20 currencies, first sync (every
   balance changes) and repeat (nothing changes), and per service in a batch of 10 repeats;
5. the workers are started and wait on the queue, as in production; one run per service is
   queued with ``sync_request_many(trigger="command")`` (the scheduler's path: a row per run,
   then a message per batch on commit) inside one transaction, so that every message is
   published at its commit; the clock starts just before that commit and runs until the last
   run ended.

The wall time is from the commit that publishes the batches to the ``finished_at`` of the
last run.  Creating the runs' rows is timed separately (it is the scheduler's cost, paid
before).  (An earlier version started the workers on an idle queue and told them to consume
the real one when the rows were in: kombu's Redis transport only listens to an added queue
once its blocking pop on the old one times out, up to a second per worker, which production
workers never pay.)  Production settings as they are
(DEBUG off, Redis locks and rate limits), SyncPay's rate limit raised so that it is never what
is measured.  CPU is read from /proc for the worker processes, the PostgreSQL backends of the
benchmark database (only measurable when connections outlive a task) and the private Redis.

``--db-reuse-max N`` sets ``CELERY_DB_REUSE_MAX`` for the workers: Celery's Django fix-up
closes every database connection around every task unless it is set (the settings set 100);
``0`` shows the cost of a new PostgreSQL connection per sync.  The database is left in place
for inspection and dropped by the next run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.sync_support import (  # noqa: E402
    fake_provider,
    group_cpu_seconds,
    machine_cpu,
    private_redis,
    process_cpu,
    start_worker,
    stop_group,
)

BENCH_DB = "bench_sync"
SERVER_URL = os.environ.get("BENCH_DATABASE_SERVER", "postgres://postgres@127.0.0.1:5432")


def bench_env(redis_url: str, args: argparse.Namespace) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": f"{SERVER_URL}/{BENCH_DB}",
            "REDIS_URL": redis_url,
            "SECRET_KEY": "benchmark-only-secret-key-" + "x" * 40,
            "CREDENTIALS_ENCRYPTION_KEY": "VGVzdE9ubHlLZXlUZXN0T25seUtleVRlc3RPbmx5S2U=",
            "DEBUG": "0",
            "HTTPS_ONLY": "0",
            "STATIC_MANIFEST": "0",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "TASKS_IN_PROCESS": "0",
            "PROVIDER_SANDBOXES": "0",
            "SYNCPAY_RATE_LIMIT_PER_MINUTE": "100000000",
            "SYNC_BATCH_SIZE": str(args.batch_size),
            "SYNC_BATCH_THREADS": str(args.batch_threads),
            "LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT),
            # Containers run as root; Celery says so at every start, which is not news here.
            "PYTHONWARNINGS": "ignore:You're running the worker with superuser privileges",
        }
    )
    return env


def recreate_database() -> None:
    import psycopg

    with psycopg.connect(f"{SERVER_URL}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{BENCH_DB}"')


def create_services(base_url: str, count: int, currencies: int, prefix: str) -> list[Any]:
    from django.contrib.auth.models import User

    from balances.connections.actions import connection_save
    from balances.models import Balance
    from benchmarks.sync_fake_provider import CURRENCIES
    from core.actors import Actor
    from services.models import Service

    user, _ = User.objects.get_or_create(username="bench")
    actor = Actor.for_user(user)
    services = Service.objects.bulk_create(
        [Service(name=f"{prefix} {i:05d}", country="NG") for i in range(count)]
    )
    Balance.objects.bulk_create(
        [
            Balance(service=s, currency=code, updated_by_label="bench")
            for s in services
            for code in CURRENCIES[:currencies]
        ]
    )
    for i, service in enumerate(services):
        connection_save(
            service=service,
            kind="syncpay",
            actor=actor,
            base_url=base_url,
            credentials={"apiKey": f"sk_test_bench_{currencies}c_{i}"},
        )
    return services


TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE SAVEPOINT")


def count_queries(base_url: str, *, verbose: bool) -> dict[int, list[tuple[int, int]]]:
    """Statements sent by ``sync_execute`` per currency count, for the first sync and a repeat,
    and per service in a batch of repeats: (all statements, without BEGIN/COMMIT)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from balances.models import SyncRun
    from balances.sync.batch import sync_execute_batch
    from balances.sync.execute import sync_execute

    def new_run(service: Any) -> Any:
        return SyncRun.objects.create(service=service, provider_kind="syncpay", trigger="command")

    def counted(ctx: CaptureQueriesContext, per: int = 1) -> tuple[int, int]:
        sql = [q["sql"] for q in ctx.captured_queries]
        queries = [q for q in sql if not q.startswith(TRANSACTION_CONTROL)]
        return round(len(sql) / per, 1), round(len(queries) / per, 1)

    results: dict[int, list[tuple[int, int]]] = {}
    for currencies in (2, 20):
        (service,) = create_services(base_url, 1, currencies, f"Queries {currencies}")
        counts = []
        for label in ("first sync", "repeat"):
            run = new_run(service)
            with CaptureQueriesContext(connection) as ctx:
                # The service id rides with the task's message (balances/sync/request.py).
                outcome = sync_execute(run_public_id=run.public_id, service_id=service.pk)
            if outcome.status != "succeeded":
                raise SystemExit(f"in-process sync {label} with {currencies} currencies: {outcome}")
            counts.append(counted(ctx))
            if verbose:
                print(f"  -- {currencies} currencies, {label}:")
                for q in ctx.captured_queries:
                    print(f"     {q['sql'][:150]}")
        batch = create_services(base_url, 10, currencies, f"Batch {currencies}")
        sync_execute_batch(items=[(new_run(s).public_id, s.pk) for s in batch])
        items = [(new_run(s).public_id, s.pk) for s in batch]
        with CaptureQueriesContext(connection) as ctx:
            outcomes = sync_execute_batch(items=items)
        if {o.status for o in outcomes.values()} != {"succeeded"}:
            raise SystemExit(f"in-process batch with {currencies} currencies: {outcomes}")
        counts.append(counted(ctx, per=len(batch)))
        results[currencies] = counts
    return results


def ended_runs() -> tuple[int, int, Any]:
    from django.db.models import Count, Max, Q

    from balances.models import SyncRun

    agg = SyncRun.objects.filter(trigger="command", service__name__startswith="Bench").aggregate(
        succeeded=Count("id", filter=Q(status="succeeded")),
        failed=Count("id", filter=Q(status="failed")),
        last=Max("finished_at"),
    )
    return agg["succeeded"], agg["failed"], agg["last"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument(
        "--concurrency", type=int, default=4, help="task slots, total over all workers"
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=32,
        help="SYNC_BATCH_SIZE: runs per task (1: a task per run)",
    )
    parser.add_argument(
        "--batch-threads", type=int, default=4, help="SYNC_BATCH_THREADS: fetches at once per batch"
    )
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--pool", default="threads", choices=["threads", "prefork"])
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument(
        "--db-reuse-max",
        type=int,
        metavar="N",
        help="CELERY_DB_REUSE_MAX for the workers (default: the settings' 100); 0 reopens the "
        "database connection for every task, for comparison",
    )
    parser.add_argument("--verbose", action="store_true", help="list the counted queries")
    parser.add_argument(
        "--profile",
        metavar="PREFIX",
        help="sample the workers with py-spy during the drain, only threads holding the GIL "
        "(where the Python CPU goes); collapsed stacks to PREFIX-N.txt; py-spy from $PY_SPY or PATH",
    )
    args = parser.parse_args()
    if args.concurrency % args.workers:
        parser.error("--concurrency must be a multiple of --workers")

    with (
        private_redis() as (redis_url, redis_pid),
        fake_provider(args.latency_ms) as (base_url, provider),
    ):
        env = bench_env(redis_url, args)
        # The fake provider listens on loopback: listed exactly as host:port, as documented.
        env["PROVIDER_BASE_URL_ALLOWLIST"] = base_url.removeprefix("http://")
        if args.db_reuse_max is not None:
            env["CELERY_DB_REUSE_MAX"] = str(args.db_reuse_max)
        os.environ.update(env)
        recreate_database()
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        run(args, env, base_url, redis_pid)
        stop_group(provider, sig=signal.SIGTERM)
        assert provider.stdout is not None
        print(f"fake provider: {provider.stdout.read().strip()}")


def backend_pids() -> dict[int, float]:
    """PostgreSQL backends serving the benchmark database, other than ours."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [BENCH_DB],
        )
        return {pid: 0.0 for (pid,) in cursor.fetchall()}


def run(
    args: argparse.Namespace, env: dict[str, str], base_url: str, redis_pid: int | None
) -> None:
    from config.celery import app

    started = time.monotonic()
    services = create_services(base_url, args.services, 2, "Bench")
    print(f"setup: {args.services} services with 2 balances in {time.monotonic() - started:.1f} s")

    queries = count_queries(base_url, verbose=args.verbose)

    per_worker = args.concurrency // args.workers
    workers = [
        start_worker(env, pool=args.pool, concurrency=per_worker, hostname=f"bench{n}@%h",
                     queue="celery")
        for n in range(args.workers)
    ]  # fmt: skip
    try:
        wait_ready(app, args.workers)  # listening on the queue
        pgids = {w.pid for w in workers}
        # First every balance changes (new figures), then nothing does (the steady state).
        drains = {
            label: drain(pgids, services, redis_pid, args, workers, round_no)
            for round_no, label in enumerate(("every balance changed", "nothing changed"))
        }
    finally:
        for worker in workers:
            stop_group(worker)

    fetches = args.concurrency * (args.batch_threads if args.batch_size > 1 else 1)
    bound = args.services * args.latency_ms / 1000 / fetches
    batching = (
        f"batches of {args.batch_size} x {args.batch_threads} fetches at once"
        if args.batch_size > 1
        else "a task per run"
    )
    print()
    print(f"workers            {args.workers} x --pool {args.pool} --concurrency {per_worker}"
          f", {batching}: C = {fetches} fetches in flight, on {os.cpu_count()} CPUs; settings "
          f"{env['DJANGO_SETTINGS_MODULE']}"
          + (f", CELERY_DB_REUSE_MAX={args.db_reuse_max}" if args.db_reuse_max is not None else ""))  # fmt: skip
    print(f"services           {args.services}, provider latency {args.latency_ms:g} ms")
    print(
        f"lower bound        {bound:.2f} s  (N*L/C = {args.services}*{args.latency_ms:g}ms/{fetches})"
    )
    for label, d in drains.items():
        print(f"--- drain: {label}")
        print(
            f"queued             {args.services} runs in {d['queued']:.2f} s (sync_request_many + publish)"
        )
        print(f"wall time          {d['wall']:.2f} s")
        print(f"ratio              {d['wall'] / bound:.2f}")
        print(f"runs               {d['succeeded']} succeeded, {d['failed']} failed"
              + ("" if d["succeeded"] + d["failed"] >= args.services else " (TIMED OUT)"))  # fmt: skip
        print(f"throughput         {args.services / d['wall']:.0f} syncs/s")
        print(f"worker CPU         {d['cpu_ms']:.1f} ms per sync; machine busy {d['machine']:.0%}"
              f" of {os.cpu_count()} CPUs")  # fmt: skip
        print(f"PostgreSQL CPU     {d['pg']}; Redis {d['redis_ms']:.2f} ms per sync")
    for currencies, (
        (first, first_q),
        (repeat, repeat_q),
        (batched, _batched_q),
    ) in queries.items():
        print(f"SQL per sync       {currencies:>2} currencies: {first_q} queries + BEGIN/COMMIT = {first}"
              f" when every balance changed, {repeat_q} + BEGIN/COMMIT = {repeat} when none did;"
              f" {batched} per service in a batch of 10 when none did")  # fmt: skip
    print_targets(bound, drains, queries)


def drain(
    pgids: set[int],
    services: list[Any],
    redis_pid: int | None,
    args: argparse.Namespace,
    workers: list[Any],
    round_no: int,
) -> dict[str, Any]:
    """Queue one run per service, published at one commit to workers waiting on the queue;
    the figures of the drain that follows."""
    from django.db import transaction

    from balances.sync.request import sync_request_many

    with transaction.atomic():
        started = time.monotonic()
        sync_request_many(services=services, trigger="command")
        queued = time.monotonic() - started
        done = args.services * round_no
        _, failed_before, _ = ended_runs()
        cpu_before, (busy_before, total_before) = group_cpu_seconds(pgids), machine_cpu()
        pg_before = process_cpu(backend_pids())
        redis_before = process_cpu({redis_pid: 0.0}) if redis_pid else {}
        profilers = start_profilers(f"{args.profile}-{round_no}", workers) if args.profile else []
        t0 = time.time()
    # The commit published the batches (transaction.on_commit): the drain has begun.
    deadline = time.monotonic() + args.timeout
    while True:
        succeeded, failed, last = ended_runs()
        if succeeded + failed >= done + args.services or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    cpu_after, (busy_after, total_after) = group_cpu_seconds(pgids), machine_cpu()
    # Backends opened during the drain: their CPU since they started, a small overcount.
    pg_after = process_cpu(backend_pids() | pg_before)
    redis_after = process_cpu({redis_pid: 0.0}) if redis_pid else {}
    for profiler in profilers:
        profiler.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        profiler.wait(timeout=30)
    pg = sum(cpu - pg_before.get(pid, 0.0) for pid, cpu in pg_after.items())
    redis_cpu = sum(cpu - redis_before.get(pid, 0.0) for pid, cpu in redis_after.items())
    # Backends that live through the drain can be measured; with a connection per task
    # (Celery's default with Django) they come and go too fast to be seen.
    pg_text = (
        f"{pg / args.services * 1000:.1f} ms per sync"
        if pg_after
        else "not measured (a connection per task)"
    )
    return {
        "queued": queued,
        "wall": (last.timestamp() - t0) if last else float("nan"),
        "succeeded": succeeded - (done - failed_before),
        "failed": failed - failed_before,
        "cpu_ms": (cpu_after - cpu_before) / args.services * 1000,
        "machine": (busy_after - busy_before) / max(total_after - total_before, 1e-9),
        "pg": pg_text,
        "redis_ms": redis_cpu / args.services * 1000,
    }


# Issue 14, measured on main before the work on it (same machine; then 2 x --pool threads
# --concurrency 8, a task per run, C = 16, a drain in which every balance changed).
BEFORE = {"ratio": 1.68, "cpu_ms": 9.3, "statements": "10-11"}
TARGETS = {"ratio": 1.2, "cpu_ms": 4.0, "statements": 6}


def print_targets(
    bound: float, drains: dict[str, dict[str, Any]], queries: dict[int, list[tuple[int, int]]]
) -> None:
    """Today's figures beside those of the issue and its targets."""
    repeat = max(max(counts[1][0], counts[2][0]) for counts in queries.values())

    def verdict(ok: bool) -> str:
        return "reached" if ok else "NOT reached"

    print()
    print(f"{'':<48}{'before (issue 14)':<20}{'now':<10}{'target':<10}")
    rows = []
    for label, d in drains.items():
        ratio = d["wall"] / bound
        rows += [
            (f"ratio to N*L/C, {label}", f"{BEFORE['ratio']:.2f}", f"{ratio:.2f}",
             f"<= {TARGETS['ratio']}", ratio <= TARGETS["ratio"]),
            (f"worker CPU ms per sync, {label}", f"{BEFORE['cpu_ms']:.1f}", f"{d['cpu_ms']:.1f}",
             f"<= {TARGETS['cpu_ms']:g}", d["cpu_ms"] <= TARGETS["cpu_ms"]),
        ]  # fmt: skip
    rows.append(
        ("statements per sync, nothing changed", BEFORE["statements"], f"{repeat:g}",
         f"<= {TARGETS['statements']}", repeat <= TARGETS["statements"])
    )  # fmt: skip
    for label, before, now, target, ok in rows:
        print(f"{label:<48}{before:<20}{now:<10}{target:<10}{verdict(ok)}")


def start_profilers(prefix: str, workers: list[Any]) -> list[subprocess.Popen[bytes]]:
    py_spy = os.environ.get("PY_SPY") or shutil.which("py-spy")
    if not py_spy:
        raise SystemExit("py-spy not found: pip install py-spy, or set PY_SPY")
    # With --pool threads the main process runs every task; with prefork, its children.
    return [
        subprocess.Popen(
            [py_spy, "record", "--pid", str(w.pid), "--subprocesses", "--rate", "250", "--gil",
             "--format", "raw", "--output", f"{prefix}-{n}.txt"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for n, w in enumerate(workers)
    ]  # fmt: skip


def wait_ready(app: Any, count: int, timeout: float = 60.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        replies = app.control.ping(timeout=0.5)
        hosts = [name for reply in replies for name in reply if name.startswith("bench")]
        if len(hosts) >= count:
            return hosts
    raise SystemExit("the workers did not start")


if __name__ == "__main__":
    main()
