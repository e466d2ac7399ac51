"""Real Celery workers for the integration tests: ``celery -A config worker`` in a subprocess,
pointed at the pytest test database and a Redis server of their own.

Why not Redis database 15 like the rest of the suite: every test deletes its session's keys
when it starts (tests/conftest.py ``_clean_redis``; only under the session's
``REDIS_KEY_PREFIX`` now, but sessions of older code flushed the whole database, and several
sessions run at once in this tree).  A flush in the middle of a worker test wipes the broker's
queue, its unacknowledged messages and the sync locks — seen here as a redelivery that never
came and runs that never ended.  So each session starts a private ``redis-server`` on a free
port (``WORKER_TEST_REDIS_URL`` points the tests at an existing one instead, e.g. in CI).
The workers inherit the session's ``REDIS_KEY_PREFIX`` (see config/test_settings.py), so
kombu's keys (the ``celery`` queue, ``unacked_index``…) carry it too.

Each worker runs in its own session (process group) so that a test can SIGKILL the whole
worker — main process and pool — exactly as the OOM killer or a lost host would, and so that
the finaliser never leaves a process behind.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import redis

PROJECT_DIR = Path(__file__).resolve().parents[3]
CELERY_BIN = Path(sys.executable).with_name("celery")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def private_redis() -> Iterator[str]:
    """A throw-away ``redis-server`` (no persistence) for this session; yields its URL."""
    given = os.environ.get("WORKER_TEST_REDIS_URL")
    if given:
        yield given
        return
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server not found: install it or set WORKER_TEST_REDIS_URL")
    port = _free_port()
    workdir = tempfile.mkdtemp(prefix="worker-redis-")
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            workdir,
            "--loglevel",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
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
                    raise RuntimeError(f"redis-server on port {port} did not start") from None
                time.sleep(0.05)
        client.close()
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(workdir, ignore_errors=True)


def flush_redis(url: str) -> None:
    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


def _kombu_key(name: str) -> str:
    # The broker transport's global_keyprefix (config/settings.py) is the session's prefix.
    return os.environ.get("REDIS_KEY_PREFIX", "") + name


def unacked_since(url: str) -> list[float]:
    """When each unacknowledged message was handed to a worker (kombu's index in Redis)."""
    client = redis.Redis.from_url(url)
    try:
        index = _kombu_key("unacked_index")
        return [score for _tag, score in client.zrange(index, 0, -1, withscores=True)]
    finally:
        client.close()


def broker_state(url: str) -> str:
    """What kombu keeps in Redis about messages in flight, for failure messages."""
    client = redis.Redis.from_url(url)
    try:
        return (
            f"now={time.time():.3f} queue={client.llen(_kombu_key('celery'))} "
            f"unacked={client.zrange(_kombu_key('unacked_index'), 0, -1, withscores=True)} "
            f"unacked_mutex_ttl={client.ttl(_kombu_key('unacked_mutex'))} "
            f"keys={sorted(client.keys('*'))}"
        )
    finally:
        client.close()


@contextmanager
def publishing_to(app: Any, url: str) -> Iterator[Any]:
    """Make ``app`` publish to the broker at ``url`` instead of running tasks inline."""
    names = ("task_always_eager", "broker_url", "broker_read_url", "broker_write_url")
    saved = {name: app.conf[name] for name in names}

    def reset_pools() -> None:
        # The connection and producer pools are created once, for the first broker URL.
        app._pool = None
        app.amqp._producer_pool = None

    app.conf.update(
        task_always_eager=False, broker_url=url, broker_read_url=url, broker_write_url=url
    )
    reset_pools()
    try:
        yield app
    finally:
        app.conf.update(saved)
        reset_pools()


def database_url(settings_dict: Mapping[str, Any]) -> str:
    """A DATABASE_URL for the database pytest-django created (``test_…``, ``…_gw0`` under
    xdist), so that the worker and the test read and write the same rows."""
    user = quote(str(settings_dict.get("USER") or ""), safe="")
    password = settings_dict.get("PASSWORD") or ""
    auth = f"{user}:{quote(str(password), safe='')}@" if password else (f"{user}@" if user else "")
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{auth}{host}:{port}/{settings_dict['NAME']}"


def worker_env(
    db_settings: Mapping[str, Any], redis_url: str, overrides: Mapping[str, str] | None = None
) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.test_settings",
            "DATABASE_URL": database_url(db_settings),
            # A worker keeps no idle connection: the test database is dropped at the end of
            # the session and PostgreSQL refuses that while a connection is open.
            "DATABASE_CONN_MAX_AGE": "0",
            "REDIS_URL": redis_url,
            "TASKS_IN_PROCESS": "0",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_DIR), env.get("PYTHONPATH")])),
            "PYTHONUNBUFFERED": "1",
            "LOG_LEVEL": "INFO",
        }
    )
    env.update(overrides or {})
    return env


class CeleryWorker:
    """One ``celery -A config worker`` process group with its log in a temporary file."""

    def __init__(
        self,
        app: Any,
        env: Mapping[str, str],
        *,
        pool: str = "threads",
        concurrency: int = 2,
        name: str = "w",
    ) -> None:
        self.app = app
        self.redis_url = env["REDIS_URL"]
        self.hostname = f"{name}-{uuid.uuid4().hex[:8]}@pytest"
        self._log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - lives as long as the worker
            prefix=f"celery-{name}-", suffix=".log", delete=False
        )
        self.log_path = Path(self._log.name)
        # Nothing to gossip or synchronise with: each test starts its own workers, and mingle
        # alone would add seconds to every start.
        cmd = [
            str(CELERY_BIN), "-A", "config", "worker",
            "--pool", pool, "--concurrency", str(concurrency), "--hostname", self.hostname,
            "--without-heartbeat", "--without-mingle", "--without-gossip", "--loglevel", "INFO",
        ]  # fmt: skip
        self.process = subprocess.Popen(
            cmd,
            cwd=PROJECT_DIR,
            env=dict(env),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: killpg reaches the pool too
        )

    @property
    def pgid(self) -> int:
        return self.process.pid  # session leader: its pid is the group id

    def alive(self) -> bool:
        return self.process.poll() is None

    def pool_processes(self) -> list[int]:
        """The pids of the prefork pool's processes (children of the main process)."""
        pid = self.process.pid
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        return [int(child) for child in children]

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Block until the worker answers a broadcast ping (it consumes from then on)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(
                    f"worker exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            replies = self.app.control.ping(destination=[self.hostname], timeout=0.5)
            if any(self.hostname in reply for reply in replies):
                return
        raise TimeoutError(
            f"worker {self.hostname} not ready after {timeout} s:\n{self.log_tail()}"
        )

    def kill(self) -> None:
        """SIGKILL the whole group: no warm shutdown, no ack, no requeue by the worker."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pgid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        """SIGKILL the group (a test has nothing to lose in a worker; a warm shutdown costs
        seconds per worker) and reap it, so no process or database connection outlives the
        test."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pgid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self._log.close()

    def log_text(self) -> str:
        # Only the worker writes to the file (unbuffered); our handle is never written to.
        return self.log_path.read_text(errors="replace")

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])
