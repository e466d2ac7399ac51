"""GET /api/v1/services/{id}/balances (DRF) against a hand-written Django view, served by
gunicorn on PostgreSQL, 20 balances; prints both requests/second and their ratio, and the
requests/second of the same endpoint answering 304 Not Modified to a polling client that sends
the list's ETag in If-None-Match (core/api/etag.py) beside its 200; then the services list
(a page of 50 services, whose ETag is the page as read) answering 200 and 304.

    .venv/bin/python benchmarks/api_balances.py
    .venv/bin/python benchmarks/api_balances.py --rounds 20 --seconds 5 --workers 4

Both endpoints are served by the same gunicorn (sync workers) with production settings
(DEBUG off, Redis for the throttle counters, persistent database connections), in a throwaway
database ``bench_api_balances`` that is created, migrated and dropped.  The hand-written view
(benchmarks/api_balances_urls.py) returns byte-for-byte the same JSON from the same queries,
after authenticating the same API key and checking the same permissions (the API loads them
in one query, Django's has_perms in two); it skips DRF's content negotiation, throttling and
serializers.  The throttle is raised so that it never refuses (its Redis round trips are still
measured).  The load comes from ``wrk`` (apt-get install wrk), in short rounds alternating
between the endpoints; the ratio printed is the median of the rounds' ratios, which holds up
far better than a ratio of two long runs when other processes share the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
BENCH_DB = "bench_api_balances"
CURRENCIES = [
    "AUD", "CAD", "CHF", "CZK", "DKK", "EUR", "GBP", "GHS", "HUF", "JPY",
    "KES", "KWD", "NGN", "NOK", "PLN", "SEK", "USD", "USDT_ERC20", "USDT_TRC20", "ZAR",
]  # fmt: skip


def bench_env(server_url: str) -> dict[str, str]:
    base = server_url.rsplit("/", 1)[0]
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "benchmarks.api_balances_settings",
            "DATABASE_URL": f"{base}/{BENCH_DB}",
            "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12"),
            "SECRET_KEY": "benchmark-only-secret-key-" + "x" * 40,
            "CREDENTIALS_ENCRYPTION_KEY": "VGVzdE9ubHlLZXlUZXN0T25seUtleVRlc3RPbmx5S2U=",
            "DEBUG": "0",
            "HTTPS_ONLY": "0",
            "STATIC_MANIFEST": "0",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "TASKS_IN_PROCESS": "1",
            "PROVIDER_SANDBOXES": "0",
            "API_THROTTLE_KEY": "100000000/min",
            "LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT),
        }
    )
    return env


def recreate_database(server_url: str, *, drop_only: bool = False) -> None:
    import psycopg

    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        if not drop_only:
            conn.execute(f'CREATE DATABASE "{BENCH_DB}"')


SERVICES_PAGE = 50  # the services list's default page size


def seed() -> None:
    """Run inside the benchmark's environment: a viewer with a key, a service, 20 balances;
    and 49 more services with 2 balances each, so that the services list is a page of 50."""
    import django

    django.setup()
    from decimal import Decimal

    from django.contrib.auth.models import Group, User

    from balances.models import Balance
    from services.accounts.actions import api_key_create
    from services.models import Service

    user = User.objects.create_user("bench")
    user.groups.add(Group.objects.get(name="viewer"))
    service = Service.objects.create(name="Benchmark", country="NG")
    for i, code in enumerate(CURRENCIES):
        Balance.objects.create(
            service=service, currency=code, available=Decimal(1000 + i) + Decimal("0.5")
        )
    for n in range(SERVICES_PAGE - 1):
        other = Service.objects.create(name=f"Benchmark {n:02d}", country="DE")
        for code in CURRENCIES[:2]:
            Balance.objects.create(service=other, currency=code, available=Decimal(n))
    _key, raw = api_key_create(user=user, name="benchmark", read_only=True)
    print(json.dumps({"service": service.public_id, "key": raw}))


def services_list(base: str, key: str, load: dict, rounds: int) -> None:
    """The services list (a page of 50 with each one's figures): its ETag is the page as
    read, so its 304 skips the serializing and the body but not the two queries."""
    url = f"{base}/api/v1/services"
    body, etag = fetch(url, key, with_etag=True)
    if len(json.loads(body)["results"]) != SERVICES_PAGE or not not_modified(url, key, etag):
        raise SystemExit("the services list is not a page of 50 answering 304 to its ETag")
    fresh, cached, gains = [], [], []
    for i in range(rounds):
        order = [(fresh, ""), (cached, etag)]
        for results, tag in order if i % 2 == 0 else reversed(order):
            results.append(wrk(url, key, **load, etag=tag))
        gains.append(cached[-1] / fresh[-1])
    print(f"GET /api/v1/services, a page of {SERVICES_PAGE} services, {rounds} alternating rounds")
    print(f"  200: {statistics.median(fresh):8.0f} req/s (median; {len(body)} bytes)")
    print(f"  304: {statistics.median(cached):8.0f} req/s (median)")
    print(f"  ratio 304 / 200: {statistics.median(gains):.2f} (median of the rounds' ratios)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(url: str, key: str, *, with_etag: bool = False) -> bytes | tuple[bytes, str]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200, response.status
        body = response.read()
        return (body, response.headers.get("ETag", "")) if with_etag else body


def not_modified(url: str, key: str, tag: str) -> bool:
    request = urllib.request.Request(
        url, headers={"Authorization": f"Bearer {key}", "If-None-Match": tag}
    )
    try:
        urllib.request.urlopen(request, timeout=10)
    except urllib.error.HTTPError as answer:
        return answer.code == 304 and answer.read() == b""
    return False


def wrk(
    url: str, key: str, *, seconds: int, connections: int, threads: int, etag: str = ""
) -> float:
    extra = ["-H", f"If-None-Match: {etag}"] if etag else []
    out = subprocess.run(
        [
            "wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency",
            "-H", f"Authorization: Bearer {key}", *extra, url,
        ],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    # 304 is a 3xx: wrk counts it as a success.
    if "Non-2xx" in out or "Socket errors" in out:
        raise SystemExit(f"wrk saw errors:\n{out}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=3, help="per round and endpoint")
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="gunicorn")
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install wrk")

    server_url = os.environ.get(
        "BENCH_DATABASE_SERVER", "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    env = bench_env(server_url)
    recreate_database(server_url)
    server = None
    try:
        subprocess.run(
            [PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True
        )
        seeded = json.loads(
            subprocess.run(
                [PYTHON, __file__, "--seed"], cwd=ROOT, env=env, check=True,
                capture_output=True, text=True,
            ).stdout.strip().splitlines()[-1]
        )  # fmt: skip
        port = free_port()
        server = subprocess.Popen(
            [
                PYTHON, "-m", "gunicorn", "config.wsgi:application",
                "--bind", f"127.0.0.1:{port}", "--workers", str(args.workers),
                "--log-level", "warning", "--chdir", str(ROOT),
            ],
            cwd=ROOT, env=env, start_new_session=True,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        api_url = f"{base}/api/v1/services/{seeded['service']}/balances"
        plain_url = f"{base}/bench/plain/services/{seeded['service']}/balances"
        for _ in range(100):
            try:
                api_body, etag = fetch(api_url, seeded["key"], with_etag=True)
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise SystemExit("gunicorn did not start")
        plain_body = fetch(plain_url, seeded["key"])
        if api_body != plain_body:
            raise SystemExit(f"The two views disagree:\n{api_body[:300]}\n{plain_body[:300]}")
        if len(json.loads(api_body)["balances"]) != len(CURRENCIES):
            raise SystemExit("expected 20 balances")
        if not etag or not not_modified(api_url, seeded["key"], etag):
            raise SystemExit("the endpoint did not answer 304 to its own ETag")

        load = {"seconds": args.seconds, "connections": args.connections, "threads": args.threads}
        wrk(api_url, seeded["key"], **{**load, "seconds": 2})  # warm-up, both
        wrk(plain_url, seeded["key"], **{**load, "seconds": 2})
        # Short rounds in alternating order (ABBA...): on a shared machine the background
        # load drifts, and each round's ratio compares two slices taken side by side.
        drf, plain, ratios, cached, gains = [], [], [], [], []
        for i in range(args.rounds):
            order = [(api_url, drf, ""), (plain_url, plain, ""), (api_url, cached, etag)]
            for url, results, tag in order if i % 2 == 0 else reversed(order):
                results.append(wrk(url, seeded["key"], **load, etag=tag))
            ratios.append(drf[-1] / plain[-1])
            gains.append(cached[-1] / drf[-1])
        drf_rps, plain_rps = statistics.median(drf), statistics.median(plain)
        print(
            f"GET /api/v1/services/{{id}}/balances, 20 balances, gunicorn {args.workers} sync "
            f"workers, wrk {args.threads} threads x {args.connections} connections, "
            f"{args.rounds} alternating rounds x {args.seconds} s"
        )
        print(f"  response: {len(api_body)} bytes, identical for both views")
        print(
            f"  DRF endpoint:       {drf_rps:8.0f} req/s (median; min {min(drf):.0f}, max {max(drf):.0f})"
        )
        print(
            f"  hand-written view:  {plain_rps:8.0f} req/s (median; min {min(plain):.0f}, max {max(plain):.0f})"
        )
        print(
            f"  ratio DRF / hand-written: {statistics.median(ratios):.2f} (median of the rounds' "
            f"ratios; target >= 0.70)"
        )
        print(
            f"  DRF endpoint, 304:  {statistics.median(cached):8.0f} req/s (median; min "
            f"{min(cached):.0f}, max {max(cached):.0f}); If-None-Match with the current ETag"
        )
        print(f"  ratio 304 / 200: {statistics.median(gains):.2f} (median of the rounds' ratios)")
        services_list(base, seeded["key"], load, max(2, args.rounds // 2))
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
        if not args.keep_db:
            recreate_database(server_url, drop_only=True)


if __name__ == "__main__":
    if sys.argv[1:] == ["--seed"]:
        seed()
    else:
        main()
