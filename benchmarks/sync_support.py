"""Processes for the sync benchmark: a private Redis, the fake provider, Celery workers, and
CPU accounting from /proc.

A private ``redis-server`` rather than a database of the shared one: test sessions running at
the same time in this tree flush their Redis databases, which would drop the benchmark's
queue half-way (``BENCH_REDIS_URL`` uses an existing server instead).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CELERY = str(Path(sys.executable).with_name("celery"))
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def private_redis() -> Iterator[tuple[str, int | None]]:
    """Yields the URL and the server's pid (None for ``BENCH_REDIS_URL``)."""
    given = os.environ.get("BENCH_REDIS_URL")
    if given:
        yield given, None
        return
    import redis

    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server not found: install it or set BENCH_REDIS_URL")
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="bench-redis-")
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", workdir, "--loglevel", "warning"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=0.5)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"redis-server on port {port} did not start") from None
                time.sleep(0.05)
        client.close()
        yield url, process.pid
    finally:
        stop_group(process)
        shutil.rmtree(workdir, ignore_errors=True)


@contextmanager
def fake_provider(latency_ms: float) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """The fake SyncPay in its own process; yields its base URL and the process."""
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "benchmarks" / "sync_fake_provider.py"),
         "--latency-ms", str(latency_ms)],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = process.stdout.readline().split()
        if not line or line[0] != "ready":
            raise SystemExit("the fake provider did not start")
        yield f"http://127.0.0.1:{line[1]}", process
    finally:
        stop_group(process, sig=signal.SIGTERM)


def start_worker(
    env: Mapping[str, str], *, pool: str, concurrency: int, hostname: str, queue: str
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [CELERY, "-A", "config", "worker", "--pool", pool, "--concurrency", str(concurrency),
         "--hostname", hostname, "--queues", queue, "--loglevel", "WARNING",
         "--without-heartbeat", "--without-mingle", "--without-gossip"],
        cwd=ROOT,
        env=dict(env),
        stdout=subprocess.DEVNULL,
        stderr=None,  # warnings and errors reach the benchmark's terminal
        start_new_session=True,  # its own process group, killed as a whole
    )  # fmt: skip


def stop_group(process: subprocess.Popen, *, sig: int = signal.SIGKILL) -> None:
    with suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _stat(pid: int | str) -> list[str] | None:
    try:
        # After the command: state ppid pgrp ... utime stime (0-based 11 and 12).
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None


def process_cpu(pids: dict[int, float]) -> dict[int, float]:
    """User + system CPU seconds of each pid still alive."""
    result = {}
    for pid in pids:
        fields = _stat(pid)
        if fields is not None:
            result[pid] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return result


def group_cpu_seconds(pgids: set[int]) -> float:
    """User + system CPU of every live process in the given process groups."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat(entry.name)
        if fields is not None and int(fields[2]) in pgids:
            total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])
    return (total - idle) / CLOCK_TICKS, total / CLOCK_TICKS
