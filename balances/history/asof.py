"""Balances as of a moment, exact, from the history.

Every change keeps the full figures after it (``new_available``, ``new_pending``,
``new_reserved``; a ``deleted`` entry has none), so the balance of (service, currency) at a
moment T is its latest entry at or before T (ties on ``created_at`` broken by id), unless
that entry is a deletion.  Which currencies to look at: those with a ``created`` entry at or
before T.

Both steps are index probes, so the cost grows with the number of currencies, never with the
length of the history:

* the partial index ``change_created_idx`` (kind = created) lists the (service, currency)
  pairs created by T;
* for each pair, ``change_service_cur_idx`` (service, currency, created_at DESC) finds the
  latest entry at or before T: one correlated subquery with ``LIMIT 1``.

One SQL statement whatever the number of currencies or services, written with the ORM
(``Subquery``/``OuterRef``) so that it runs on PostgreSQL and on SQLite alike.

What the history does not keep is not made up: what open payouts held (``held``, hence
"available for payout") and when a provider last confirmed a figure (a sync that changes
nothing writes no entry) are ``None`` in a balance of the past.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from balances.models import BalanceChange
from services.models import Service

MOMENT_MAX_LENGTH = 64
# RFC 3339 (and the ISO 8601 profile clients send): a date, a time, and an offset or Z.
# Seconds may be left out; fractions up to nanoseconds are read (and truncated to the
# microseconds the history keeps, which answers the same: no entry falls in between).
_RFC3339 = re.compile(
    r"(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})[Tt ]"
    r"(?P<time>[0-9]{2}:[0-9]{2}(?::[0-9]{2})?)(?:[.,](?P<fraction>[0-9]{1,9}))?"
    r"(?P<offset>[Zz]|[+-][0-9]{2}:[0-9]{2})",
    re.ASCII,
)
_UNENCODED_PLUS = re.compile(r".*[0-9] [0-9]{2}:[0-9]{2}", re.ASCII)
# The page's <input type="datetime-local">: no offset, read as UTC (the page says so).
_LOCAL = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,3})?)?", re.ASCII
)


class InvalidMoment(ValueError):
    """A moment that cannot be read, lacks its offset, or lies in the future.  ``str()`` is
    the message for the person who sent it."""


def _not_future(moment: datetime, now: datetime | None) -> datetime:
    # The future has no history yet: an answer would change as it arrives.  Refused rather
    # than answered with the current state, so that an answer for a moment never changes.
    if moment > (now or timezone.now()):
        raise InvalidMoment("The moment is in the future; balances are known up to now.")
    return moment


def parse_moment(raw: str, *, now: datetime | None = None) -> datetime:
    """An RFC 3339 date-time with an offset or ``Z`` (``2026-11-27T18:00:00Z``,
    ``2026-11-27T19:00:00+01:00``) as an aware UTC datetime, not in the future."""
    text = raw.strip() if isinstance(raw, str) else ""
    if len(text) > MOMENT_MAX_LENGTH:
        raise InvalidMoment(f"Enter at most {MOMENT_MAX_LENGTH} characters.")
    match = _RFC3339.fullmatch(text)
    if match is None:
        if _UNENCODED_PLUS.fullmatch(text):
            raise InvalidMoment(
                "The offset's + sign was read as a space: write it as %2B in a URL "
                "(e.g. 2026-11-27T19:00:00%2B01:00), or use Z."
            )
        raise InvalidMoment(
            "Enter a date and time with its offset (Z or ±hh:mm), e.g. 2026-11-27T18:00:00Z."
        )
    fraction = (match["fraction"] or "")[:6].ljust(6, "0")
    offset = "+00:00" if match["offset"] in "Zz" else match["offset"]
    try:
        moment = datetime.fromisoformat(f"{match['date']}T{match['time']}.{fraction}{offset}")
        moment = moment.astimezone(UTC)  # year 1 or 9999 may leave the calendar here
    except (ValueError, OverflowError):
        raise InvalidMoment("That date or time does not exist.") from None
    return _not_future(moment, now)


def parse_local_utc(raw: str, *, now: datetime | None = None) -> datetime:
    """The value of ``<input type="datetime-local">`` (``2026-11-27T18:00``), read as UTC."""
    text = raw.strip() if isinstance(raw, str) else ""
    if not _LOCAL.fullmatch(text):
        raise InvalidMoment("Enter a date and time, e.g. 2026-11-27 18:00 (UTC).")
    try:
        moment = datetime.fromisoformat(text).replace(tzinfo=UTC)
    except ValueError:
        raise InvalidMoment("That date or time does not exist.") from None
    return _not_future(moment, now)


def moment_label(moment: datetime) -> str:
    """``27 Nov 2026 18:00 UTC`` (seconds and fractions when the moment has them)."""
    moment = moment.astimezone(UTC)
    text = moment.strftime("%d %b %Y %H:%M")
    if moment.second or moment.microsecond:
        text += moment.strftime(":%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}".rstrip("0")
    return f"{text} UTC"


def local_input_value(moment: datetime) -> str:
    """The moment as the value of ``<input type="datetime-local" step="1">`` (UTC)."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S" if moment.second else "%Y-%m-%dT%H:%M")


# --- the query ----------------------------------------------------------------------------


def _latest_entry_at(moment: datetime) -> QuerySet[BalanceChange, Any]:
    """The id of the latest entry of the outer row's (service, currency) at or before
    ``moment``: one probe of ``change_service_cur_idx``.  Only entries that set the
    figures count (or delete the balance): an entry recording a decision without figures
    leaves the balance as it was."""
    return (
        BalanceChange.objects.filter(
            service_id=OuterRef("service_id"),
            currency=OuterRef("currency"),
            created_at__lte=moment,
        )
        .filter(Q(new_available__isnull=False) | Q(kind=BalanceChange.Kind.DELETED))
        .order_by("-created_at", "-id")
        .values("pk")[:1]
    )


def changes_as_of(
    moment: datetime,
    *,
    service_ids: Iterable[int] | None = None,
    currencies: Iterable[str] | None = None,
) -> QuerySet[BalanceChange]:
    """For each balance that existed at ``moment``, the history entry that set its figures
    then (``new_available`` etc. are the balance at that moment).  Optionally only some
    services (primary keys) or currencies.  One query; join the service if you need it."""
    created = BalanceChange.objects.filter(kind=BalanceChange.Kind.CREATED, created_at__lte=moment)
    if service_ids is not None:
        created = created.filter(service_id__in=list(service_ids))
    if currencies is not None:
        created = created.filter(currency__in=list(currencies))
    latest = (
        created.order_by()
        .annotate(latest_id=Subquery(_latest_entry_at(moment)))
        .values("latest_id")
        .distinct()
    )
    return BalanceChange.objects.filter(pk__in=latest).exclude(kind=BalanceChange.Kind.DELETED)


@dataclass(frozen=True)
class BalanceThen:
    """A balance as it was at a moment, with the attributes of ``Balance`` that the
    balances serializer and the cards read.  What the history does not keep is ``None``."""

    service: Service
    currency: str
    available: Decimal
    pending: Decimal
    reserved: Decimal
    version: int | None
    updated_at: datetime
    updated_by_label: str
    held: Decimal | None = None
    last_synced_at: datetime | None = None

    @property
    def available_for_payout(self) -> Decimal | None:
        return None

    @classmethod
    def of(cls, change: BalanceChange, service: Service | None = None) -> BalanceThen:
        zero = Decimal(0)
        return cls(
            service=service or change.service,
            currency=change.currency,
            available=change.new_available if change.new_available is not None else zero,
            pending=change.new_pending if change.new_pending is not None else zero,
            reserved=change.new_reserved if change.new_reserved is not None else zero,
            version=change.version,
            updated_at=change.created_at,
            updated_by_label=change.actor_label,
        )


def balances_as_of(service: Service, moment: datetime) -> list[BalanceThen]:
    """The service's balances as they were at ``moment``, sorted by currency.  Queries: 1."""
    changes = changes_as_of(moment, service_ids=[service.pk]).order_by("currency")
    return [BalanceThen.of(change, service) for change in changes]
