"""Running SQL as a deploy's migration would: on a connection of its own; and a thread
that runs an action on its own connection, for the concurrency tests."""

from __future__ import annotations

import threading
from collections.abc import Callable

import psycopg
from django.db import connection


def elsewhere(sql: str) -> None:
    """``sql`` on a connection of its own (autocommit), beside the tests' connection."""
    settings = connection.settings_dict
    with psycopg.connect(
        dbname=settings["NAME"],
        user=settings["USER"],
        host=settings["HOST"],
        port=settings["PORT"] or 5432,
        password=settings["PASSWORD"] or None,
        autocommit=True,
    ) as other:
        other.execute(sql)


class Worker(threading.Thread):
    """Runs ``target`` on a thread (and so a database connection) of its own; ``outcome()``
    waits up to ``wait`` seconds and gives its result, or the exception it raised."""

    def __init__(
        self, target: Callable[[], object], name: str | None = None, *, wait: float = 10
    ) -> None:
        super().__init__(daemon=True, name=name)
        self.target = target
        self.wait = wait
        self.result: object = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self.target()
        except BaseException as exc:  # handed back to the test thread
            self.error = exc
        finally:
            connection.close()

    def outcome(self) -> object:
        self.join(self.wait)
        assert not self.is_alive(), "worker thread did not finish"
        return self.error if self.error is not None else self.result
