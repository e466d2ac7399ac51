"""The embedded default runs the schedule: started exactly as `make run` starts it (the
Makefile's own commands, autoreloader included) on a fresh SQLite file, with nothing created
by hand, the demo services connected to the built-in sandboxes get synchronised by the
schedule alone; stopping the server leaves no process behind."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings

from payouts.management.commands.demo_data import DEMO_SERVICES

ROOT = Path(__file__).resolve().parents[2]
CONNECTED = {name for name, _country, kind, _balances in DEMO_SERVICES if kind}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_run_commands(port: int) -> list[list[str]]:
    """The recipe of the Makefile's `run` target, as the commands it runs."""
    recipe = re.search(r"^run:[^\n]*\n((?:\t[^\n]*\n)+)", (ROOT / "Makefile").read_text(), re.M)
    assert recipe, "no run target in the Makefile"
    commands = []
    for line in recipe.group(1).splitlines():
        line = line.strip().replace("$(PY)", sys.executable).replace("$(PORT)", str(port))
        assert "$" not in line, f"unexpected variable in the run recipe: {line}"
        commands.append(line.split())
    return commands


def children_of(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:  # ended meanwhile
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def scheduled_runs(database: Path) -> list[tuple[str, str, str]]:
    if not database.exists():
        return []
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5) as db:
        try:
            return db.execute(
                "SELECT s.name, r.trigger, r.status FROM balances_syncrun r "
                "JOIN services_service s ON s.id = r.service_id"
            ).fetchall()
        except sqlite3.OperationalError:  # not migrated yet, or busy: look again
            return []


def test_make_run_synchronises_the_demo_services_on_schedule_and_stops_cleanly(tmp_path):
    port = _free_port()
    database = tmp_path / "db.sqlite3"
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "SQLITE_PATH": str(database),
        "DEMO_LOGIN_FILE": str(tmp_path / "demo-login.txt"),
        "PYTHONUNBUFFERED": "1",
        "PORT": str(port),  # the Makefile exports it
        # The beat entry that looks for due services, every second instead of every minute.
        "SYNC_SCHEDULER_TICK_SECONDS": "1",
    }
    *setup, serve = make_run_commands(port)
    assert "serve_embedded" in serve, serve
    for command in setup:
        subprocess.run(
            command, env=env, cwd=ROOT, check=True, timeout=120, capture_output=True, text=True
        )
    assert scheduled_runs(database) == []  # nothing synchronised before the server runs

    log = tmp_path / "server.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            serve, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 60
        succeeded: set[str] = set()
        while succeeded != CONNECTED:
            assert time.monotonic() < deadline, (scheduled_runs(database), log.read_text())
            assert server.poll() is None, log.read_text()
            time.sleep(0.5)
            runs = scheduled_runs(database)
            assert all(trigger == "schedule" for _, trigger, _ in runs), runs
            assert not [run for run in runs if run[2] == "failed"], (runs, log.read_text())
            succeeded = {name for name, _, status in runs if status == "succeeded"}

        output = log.read_text()
        # Only the process that serves (the autoreloader's child) runs the schedule, and it
        # runs every entry of it.
        started = re.findall(r"^Periodic tasks run in this process: (.*)$", output, re.M)
        assert len(started) == output.count("Starting development server at"), output
        for name in settings.CELERY_BEAT_SCHEDULE:
            assert name in started[-1]
        children = children_of(server.pid)
        assert children, "the autoreloader serves from a child process"
    finally:
        # As `kill <pid>` of `make run` would: the server's parent process only.
        server.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(20)
        left_behind = group_alive(server.pid)
        if left_behind:
            os.killpg(server.pid, signal.SIGKILL)
    assert server.returncode is not None, "the server did not stop"
    assert not left_behind, "a process of the server outlived it"
    assert not any(Path(f"/proc/{pid}").exists() for pid in children)


def settings_of(**env: str) -> subprocess.CompletedProcess:
    code = "from django.conf import settings; print(settings.SCHEDULE_IN_PROCESS)"
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={"PATH": os.environ.get("PATH", ""), "DJANGO_SETTINGS_MODULE": "config.settings"} | env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_only_the_embedded_default_runs_the_schedule_in_process():
    assert settings_of().stdout.strip() == "True"
    production = settings_of(
        DATABASE_URL="postgres://backoffice@db.example.com:5432/backoffice",
        SECRET_KEY="k3J9-qLx7_vB2mZp8RtY4wNc6HdF1sGa0UeOiKjT5yXlVrQbCnMoEz",
        CREDENTIALS_ENCRYPTION_KEY="VGVzdE9ubHlLZXlUZXN0T25seUtleVRlc3RPbmx5S2U=",
    )
    assert production.stdout.strip() == "False", production.stderr


def test_the_schedule_in_process_needs_tasks_in_process():
    refused = settings_of(TASKS_IN_PROCESS="0", SCHEDULE_IN_PROCESS="1")
    assert refused.returncode != 0
    assert "SCHEDULE_IN_PROCESS" in refused.stderr and "celery -A config beat" in refused.stderr
