"""Payout creation under contention: N concurrent clients create payouts on ONE balance.

Every creation locks the same balance row (SELECT ... FOR UPDATE), so this measures the
serialised critical section: lock, check the row's funds, insert, hold, commit.  Prints payouts per
second and the p50/p99 latency of a request, then checks that the money still adds up.

    .venv/bin/python benchmarks/payouts_bench.py                  # 8 clients, through the API
    .venv/bin/python benchmarks/payouts_bench.py --via action     # the action, no HTTP stack
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
import statistics
import sys
import threading
import time
from decimal import Decimal
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


def percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return ordered[index]


def setup_world(clients: int):
    from django.contrib.auth.models import Group, User

    from services.accounts.actions import api_key_create
    from services.fees import actions as fee_actions
    from services.models import Service

    actor = Actor.system("benchmark")
    profile = fee_actions.fee_profile_create(name="Bench", actor=actor, rules=[PRICE_RULE])
    service = Service.objects.create(name="Bench Ltd", country="DE", fee_profile=profile)
    Balance.objects.create(service=service, currency="EUR", available=Decimal("1000000000.00"))
    user = User.objects.create(username="bench-operator")
    user.groups.add(Group.objects.get(name="operator"))
    keys = [api_key_create(user=user, name=f"client {i}")[1] for i in range(clients)]
    return service, keys


def one_client(via: str, i: int, per_client: int, service_id: str, key: str) -> list[float]:
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
                {"currency": "EUR", "amount": "100.00", "destination": f"c{i}-{n}"},
                content_type="application/json",
                headers={"Idempotency-Key": f"c{i}-{n}"},
            )
            if response.status_code != 201:
                raise RuntimeError(f"{response.status_code} {response.content[:200]!r}")
        else:
            actions.payout_create(
                service=service,
                currency="EUR",
                amount="100.00",
                destination=f"c{i}-{n}",
                idempotency_key=f"c{i}-{n}",
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


def run(via: str, mode: str, clients: int, payouts: int) -> dict:
    from payouts.models import Payout

    service, keys = setup_world(clients)
    per_client = payouts // clients
    runner = run_processes if mode == "processes" else run_threads
    samples, elapsed = runner(via, clients, per_client, service.public_id, keys)

    made = Payout.objects.filter(service=service).count()
    balance = Balance.objects.get(service=service, currency="EUR")
    held = balance.held
    assert made == per_client * clients, made
    assert held == made * Decimal("101.75"), held
    assert balance.available_for_payout >= 0
    return {
        "payouts": made,
        "seconds": elapsed,
        "per_second": made / elapsed,
        "p50_ms": percentile(samples, 50) * 1000,
        "p99_ms": percentile(samples, 99) * 1000,
        "mean_ms": statistics.fmean(samples) * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--via", choices=["api", "action"], default="api")
    parser.add_argument("--mode", choices=["processes", "threads"], default="processes")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--payouts", type=int, default=800, help="in all, split across clients")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("The benchmark needs PostgreSQL: set DATABASE_URL.")

    connection.settings_dict["TEST"]["NAME"] = BENCH_DB
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        result = run(args.via, args.mode, args.clients, args.payouts)
    finally:
        connections.close_all()
        connection.creation.destroy_test_db(old_name, verbosity=0, keepdb=False)

    print(
        f"payouts on one balance, {args.clients} concurrent clients ({args.mode}) "
        f"via {args.via}: "
        f"{result['payouts']} payouts in {result['seconds']:.2f} s"
    )
    print(f"  throughput  {result['per_second']:8.1f} payouts/s")
    print(f"  latency p50 {result['p50_ms']:8.1f} ms")
    print(f"  latency p99 {result['p99_ms']:8.1f} ms   (mean {result['mean_ms']:.1f} ms)")
    print("  checks      count, holds = count x 101.75, available for payout >= 0: ok")


if __name__ == "__main__":
    main()
