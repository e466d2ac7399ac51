"""Keyset pagination of append-only logs, newest first, by ``(created_at, id)``.

Offsets get slower the deeper one pages (the database walks every skipped row) and shift
when new rows arrive; a keyset page starts right after the last row seen, so page 10 000
costs what page 1 costs: one index range scan of ``page size + 1`` rows.

Cursors are opaque and tamper-safe: the position and the direction are signed
(``django.core.signing``, salted per log), so a cursor cannot be forged or edited, and any
garbage is refused with :class:`~core.errors.ValidationFailed` naming the ``cursor`` field
(a 400, or a form error), never a 500.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core import signing
from django.db.models import Q, QuerySet
from django.utils.dateparse import parse_datetime

from core.errors import ValidationFailed

OLDER = "o"
NEWER = "n"
# A signed cursor is ~80 characters; anything much longer is not one of ours.
CURSOR_MAX_LENGTH = 200
INVALID_CURSOR = "This cursor is not valid here; start again from the first page."


@dataclass(frozen=True)
class Cursor:
    """Where a page starts: rows strictly older (or newer) than ``(created_at, pk)``."""

    direction: str
    created_at: datetime
    pk: int

    def encode(self, salt: str) -> str:
        payload = [self.direction, self.created_at.isoformat(), self.pk]
        return signing.dumps(payload, salt=f"keyset:{salt}", compress=False)

    @classmethod
    def decode(cls, raw: str, salt: str) -> Cursor:
        """The cursor ``raw`` encodes for the log ``salt``; ``ValidationFailed`` otherwise."""
        if not raw or len(raw) > CURSOR_MAX_LENGTH or "\x00" in raw:
            raise ValidationFailed(INVALID_CURSOR, field="cursor")
        try:
            direction, moment, pk = signing.loads(raw, salt=f"keyset:{salt}")
            created_at = parse_datetime(moment)
        except (signing.BadSignature, ValueError, TypeError) as exc:
            raise ValidationFailed(INVALID_CURSOR, field="cursor") from exc
        if direction not in (OLDER, NEWER) or created_at is None or type(pk) is not int:
            raise ValidationFailed(INVALID_CURSOR, field="cursor")
        return cls(direction=direction, created_at=created_at, pk=pk)


@dataclass(frozen=True)
class KeysetPage:
    """One page, newest first, with the cursors of its neighbours (None at either end)."""

    rows: list[Any]
    older: str | None
    newer: str | None

    @property
    def has_other_pages(self) -> bool:
        return bool(self.older or self.newer)


def past(cursor: Cursor) -> Q:
    """Rows past the cursor in its direction.  The plain bound on ``created_at`` lets the
    database range-scan its index; the OR settles ties on ``created_at`` by id."""
    t, pk = cursor.created_at, cursor.pk
    if cursor.direction == OLDER:
        return Q(created_at__lte=t) & (Q(created_at__lt=t) | Q(pk__lt=pk))
    return Q(created_at__gte=t) & (Q(created_at__gt=t) | Q(pk__gt=pk))


def keyset_page(
    queryset: QuerySet[Any], *, cursor: Cursor | None, size: int, salt: str
) -> KeysetPage:
    """The page of ``queryset`` (any filters applied, ordering replaced) that ``cursor``
    points at; the first (newest) page without one.  One query."""
    if cursor is None or cursor.direction == OLDER:
        qs = queryset.order_by("-created_at", "-pk")
    else:
        qs = queryset.order_by("created_at", "pk")
    if cursor is not None:
        qs = qs.filter(past(cursor))
    rows = list(qs[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    if cursor is not None and cursor.direction == NEWER:
        rows.reverse()
        has_older, has_newer = True, more
    else:
        has_older, has_newer = more, cursor is not None
    if not rows:
        # Nothing past the cursor (the filters changed under it): no neighbours to link;
        # the page says so and its filters lead back to the first page.
        return KeysetPage(rows=[], older=None, newer=None)
    first, last = rows[0], rows[-1]
    return KeysetPage(
        rows=rows,
        older=Cursor(OLDER, last.created_at, last.pk).encode(salt) if has_older else None,
        newer=Cursor(NEWER, first.created_at, first.pk).encode(salt) if has_newer else None,
    )


def parse_cursor(raw: str | None, salt: str) -> Cursor | None:
    """``None`` for no cursor (the first page); a :class:`Cursor` or ``ValidationFailed``."""
    if raw is None or raw == "":
        return None
    return Cursor.decode(raw, salt)
