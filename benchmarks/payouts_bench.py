"""Payout creation under contention: N concurrent clients create payouts on ONE balance.

Every creation locks the same balance row (its hold is one UPDATE ... RETURNING), so this
measures the serialised critical section: the hold, the alert rules that listen to it, the
commit.  Prints payouts per second, the p50/p99 latency of a request and the SQL statements of
one creation, each beside its target and the figure measured before the hot path was reworked
(issue "Hot paths near the limit"), then checks that the money still adds up.

    .venv/bin/python benchmarks/payouts_bench.py                  # the action, then the API
    .venv/bin/python benchmarks/payouts_bench.py --via action     # the action, no HTTP stack
    .venv/bin/python benchmarks/payouts_bench.py --open 10000     # with 10,000 open payouts
    .venv/bin/python benchmarks/payouts_bench.py --watched        # an alert rule on the balance
    .venv/bin/python benchmarks/payouts_bench.py --mode threads   # 8 threads, one process
    .venv/bin/python benchmarks/payouts_bench.py --clients 16 --payouts 2000

It runs on PostgreSQL (DATABASE_URL, default the local server) in a throwaway database
``bench_payouts`` that is created, migrated and dropped; no existing data is touched.  "api"
goes through the whole Django + DRF stack (API-key authentication, parsing, serializers, the
JSON renderer) without a network hop.  Each client is a process with its own database
connection (like one gunicorn worker each), or a thread with ``--mode threads`` (the clients
then also share one GIL).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import statistics
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
os.environ.setdefault("SECRET_KEY", "benchmark-only-secret-key-" + "x" * 40)
os.environ.setdefault("CREDENTIALS_ENCRYPTION_KEY", "VGVzdE9ubHlLZXlUZXN0T25seUtleVRlc3RPbmx5S2U=")
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("HTTPS_ONLY", "0")
os.environ.setdefault("ALLOWED_HOSTS", "*")
os.environ.setdefault("TASKS_IN_PROCESS", "1")
os.environ.setdefault("PROVIDER_SANDBOXES", "0")
# The API's per-key throttle would otherwise be what is measured.
os.environ.setdefault("API_THROTTLE_KEY", "1000000/min")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection, connections  # noqa: E402
from django.test import Client  # noqa: E402

from balances.models import Balance  # noqa: E402
from core.actors import Actor  # noqa: E402

BENCH_DB = "bench_payouts"
PRICE_RULE = {"operation": "payout", "currency": "EUR", "percentage": "1.5", "fixed_amount": "0.25"}
# Which run the clients belong to, in their idempotency keys (inherited by forked clients).
RUN = {"label": ""}
TOTAL = Decimal("101.75")  # a payout of 100.00 EUR under PRICE_RULE, with its fee

# Measured with this script before the rework (8 client processes, one balance, 2 CPUs): the
# issue's figures, and those of the same code on the day of the rework, with the machine
# shared by other work (load average 4 to 6).
BEFORE = {
    "action": "170/s, p50 47 ms (issue); 27.6/s, p50 191 ms, p99 1041 ms (shared, load 4-6)",
    "api": "98.5/s, p50 69 ms, p99 97 ms (issue); 20.6/s, p50 288 ms, p99 1662 ms (shared)",
    "queries": "action 13 + 2 after commit; API 17 + 2 after commit",
}
TARGETS = {
    "action": ("per_second", 400.0, "at least 400 payouts/s"),
    "api": ("per_second", 150.0, "at least 150 payouts/s, p99 at most 60 ms"),
}


def percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return ordered[index]


def add_open_payouts(service, count: int) -> None:
    """``count`` pending payouts of 100.00 EUR on the balance, held like real ones: the
    creation path must not get slower with the number of open payouts."""
    from django.db.models import F

    from core.money.dbfields import amount_value
    from payouts.models import Payout

    if not count:
        return
    Payout.objects.bulk_create(
        (
            Payout(
                service=service,
                currency="EUR",
                amount=Decimal("100.00"),
                fee=TOTAL - Decimal("100.00"),
                destination=f"open-{n}",
            )
            for n in range(count)
        ),
        batch_size=2000,
    )
    held = F("held") + amount_value(count * TOTAL)  # storage units, as the actions write
    Balance.objects.filter(service=service, currency="EUR").update(held=held)


def watch_balance(service) -> None:
    """An "available for payout below 1.00" rule on the service's EUR balance, never met
    during the run: each payout on a watched balance evaluates the rule under its lock."""
    from alerts.actions import rule_create

    rule_create(
        service=service,
        currency="EUR",
        kind="available_for_payout_below",
        threshold="1.00",
        actor=Actor.system("benchmark"),
    )


def queries_of_one(via: str, service, key: str) -> int:
    """The SQL statements of one creation (with an idempotency key, as the clients send),
    after-commit work included, on another balance of the service."""
    from django.test.utils import CaptureQueriesContext

    one_client(via, 0, 1, service.public_id, key, currency="USD")  # warm the caches
    with CaptureQueriesContext(connection) as captured:
        one_client(via, 1, 1, service.public_id, key, currency="USD")
    return len(captured.captured_queries)


def setup_world(clients: int):
    from django.contrib.auth.models import Group, User

    from services.accounts.actions import api_key_create
    from services.fees import actions as fee_actions
    from services.models import Service

    actor = Actor.system("benchmark")
    profile = fee_actions.fee_profile_create(name="Bench", actor=actor, rules=[PRICE_RULE])
    service = Service.objects.create(name="Bench Ltd", country="DE", fee_profile=profile)
    Balance.objects.create(service=service, currency="EUR", available=Decimal("1000000000.00"))
    Balance.objects.create(service=service, currency="USD", available=Decimal("1000000.00"))
    user = User.objects.create(username="bench-operator")
    user.groups.add(Group.objects.get(name="operator"))
    keys = [api_key_create(user=user, name=f"client {i}")[1] for i in range(clients)]
    return service, keys


def one_client(
    via: str, i: int, per_client: int, service_id: str, key: str, currency: str = "EUR"
) -> list[float]:
    """Create ``per_client`` payouts one after the other; the latency of each, in seconds."""
    from payouts import actions
    from services.models import Service

    service = Service.objects.get(public_id=service_id)
    http = Client(headers={"Authorization": f"Bearer {key}"})
    actor = Actor.system(f"client-{i}")
    latencies = []
    for n in range(per_client):
        began = time.perf_counter()
        if via == "api":
            response = http.post(
                f"/api/v1/services/{service_id}/payouts",
                {"currency": currency, "amount": "100.00", "destination": f"c{i}-{n}"},
                content_type="application/json",
                headers={"Idempotency-Key": f"{RUN['label']}{via}-{currency}-c{i}-{n}"},
            )
            if response.status_code != 201:
                raise RuntimeError(f"{response.status_code} {response.content[:200]!r}")
        else:
            actions.payout_create(
                service=service,
                currency=currency,
                amount="100.00",
                destination=f"c{i}-{n}",
                idempotency_key=f"{RUN['label']}{via}-{currency}-c{i}-{n}",
                actor=actor,
            )
        latencies.append(time.perf_counter() - began)
    return latencies


def _process_client(via, i, per_client, service_id, key, barrier, results) -> None:
    try:
        barrier.wait()
        results.put((i, one_client(via, i, per_client, service_id, key), None))
    except BaseException as exc:
        results.put((i, [], repr(exc)))
    finally:
        connections.close_all()


def run_processes(via: str, clients: int, per_client: int, service_id: str, keys: list[str]):
    """One OS process per client, like one gunicorn worker each: no shared GIL."""
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(clients + 1)
    results = ctx.Queue()
    connections.close_all()  # children open their own; never share a socket across a fork
    procs = [
        ctx.Process(
            target=_process_client,
            args=(via, i, per_client, service_id, keys[i], barrier, results),
        )
        for i in range(clients)
    ]
    for proc in procs:
        proc.start()
    barrier.wait()
    began = time.perf_counter()
    collected = [results.get() for _ in procs]
    elapsed = time.perf_counter() - began
    for proc in procs:
        proc.join()
    failures = [error for _, _, error in collected if error]
    if failures:
        raise RuntimeError(failures[0])
    return [lat for _, per, _ in collected for lat in per], elapsed


def run_threads(via: str, clients: int, per_client: int, service_id: str, keys: list[str]):
    """One thread (and database connection) per client, in this process."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(clients + 1)

    def client(i: int) -> None:
        try:
            barrier.wait()
            latencies[i] = one_client(via, i, per_client, service_id, keys[i])
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    barrier.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    if errors:
        raise errors[0]
    return [lat for per in latencies for lat in per], elapsed


def cpu_seconds(mode: str) -> float:
    """CPU time of the clients so far: the joined child processes, or this process."""
    usage = resource.getrusage(
        resource.RUSAGE_CHILDREN if mode == "processes" else resource.RUSAGE_SELF
    )
    return usage.ru_utime + usage.ru_stime


def run(via: str, mode: str, clients: int, payouts: int, world, *, baseline: bool) -> dict:
    """One measured run; ``baseline`` runs the creation path as it was before the rework
    (benchmarks/payouts_baseline.py), in the same world."""
    import payouts_baseline

    from payouts import actions

    current = actions.payout_create
    RUN["label"] = "before-" if baseline else "after-"
    if baseline:
        payouts_baseline.install()  # inherited by the forked clients
    try:
        return measure(via, mode, clients, payouts, world)
    finally:
        actions.payout_create = current  # type: ignore[assignment]


def measure(via: str, mode: str, clients: int, payouts: int, world) -> dict:
    from payouts.models import Payout

    service, keys = world
    mine = Payout.objects.filter(service=service, currency="EUR")
    before = mine.count()
    queries = queries_of_one(via, service, keys[0])
    per_client = payouts // clients
    runner = run_processes if mode == "processes" else run_threads
    cpu = cpu_seconds(mode)
    samples, elapsed = runner(via, clients, per_client, service.public_id, keys)
    cpu = cpu_seconds(mode) - cpu

    made = mine.count() - before
    balance = Balance.objects.get(service=service, currency="EUR")
    assert made == per_client * clients, made
    assert balance.held == (before + made) * TOTAL, balance.held
    assert balance.available_for_payout >= 0
    return {
        "payouts": made,
        "seconds": elapsed,
        "per_second": made / elapsed,
        "p50_ms": percentile(samples, 50) * 1000,
        "p99_ms": percentile(samples, 99) * 1000,
        "mean_ms": statistics.fmean(samples) * 1000,
        "queries": queries,
        "cpu_ms": cpu / made * 1000,
    }


ROWS = [
    ("throughput", "per_second", "{:8.1f} payouts/s"),
    ("latency p50", "p50_ms", "{:8.1f} ms"),
    ("latency p99", "p99_ms", "{:8.1f} ms"),
    ("queries", "queries", "{:8d} per creation (after-commit work included)"),
    ("client CPU", "cpu_ms", "{:8.1f} ms per payout"),
]


def report(via: str, args: argparse.Namespace, after: dict, before: dict | None) -> None:
    key, floor, target = TARGETS[via]
    met = after[key] >= floor and (via != "api" or after["p99_ms"] <= 60)
    watched = ", watched by an alert rule" if args.watched else ""
    print(
        f"payouts on one balance{watched} with {args.open} open payouts, {args.clients} concurrent "
        f"clients ({args.mode}) via {via}, {after['payouts']} payouts per run"
    )
    for label, field, shape in ROWS:
        line = f"  {label:<12} now {shape.format(after[field])}"
        if before is not None:
            line += f"   | before, this run: {shape.format(before[field]).split()[0]}"
        print(line)
    print(f"  target       {target}: {'met' if met else 'NOT met'}")
    print(f"  before (issue and first measurement): {BEFORE[via]}")
    print("  checks       count, holds = open payouts x 101.75, available for payout >= 0: ok")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--via", choices=["both", "api", "action"], default="both")
    parser.add_argument("--mode", choices=["processes", "threads"], default="processes")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--payouts", type=int, default=800, help="in all, split across clients")
    parser.add_argument(
        "--open", type=int, default=0, help="open payouts on the balance before the run"
    )
    parser.add_argument(
        "--watched",
        action="store_true",
        help="an alert rule on the balance (available for payout below 1.00, never met)",
    )
    parser.add_argument(
        "--no-baseline",
        action="store_true",
        help="skip the run of the path as it was before the rework",
    )
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("The benchmark needs PostgreSQL: set DATABASE_URL.")

    connection.settings_dict["TEST"]["NAME"] = BENCH_DB
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    results = []
    try:
        world = setup_world(args.clients)
        add_open_payouts(world[0], args.open)
        if args.watched:
            watch_balance(world[0])
        for via in ["action", "api"] if args.via == "both" else [args.via]:
            before = None
            if not args.no_baseline:
                before = run(via, args.mode, args.clients, args.payouts, world, baseline=True)
            after = run(via, args.mode, args.clients, args.payouts, world, baseline=False)
            results.append((via, after, before))
    finally:
        connections.close_all()
        connection.creation.destroy_test_db(old_name, verbosity=0, keepdb=False)

    for via, after, before in results:
        report(via, args, after, before)
    print(f"queries before the rework: {BEFORE['queries']}")
    print(
        "target: the same throughput with 10,000 open payouts as with none "
        "(compare a run with --open 10000)"
    )


if __name__ == "__main__":
    main()
