"""Running SQL as a deploy's migration would: on a connection of its own."""

from __future__ import annotations

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
