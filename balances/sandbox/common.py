"""Shared pieces of the sandboxes: the deterministic drift, JSON with exact numbers, auth."""

from __future__ import annotations

import base64
import binascii
import hashlib
import random
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import simplejson
from django.http import HttpRequest, HttpResponse

from core.exactjson import decimal_literal

TICK_SECONDS = 15
# The sandboxes' notion of "now"; tests replace it to pin or move the moment.
clock = time.time
_TICKS_PER_DAY = 86400 // TICK_SECONDS


def walk_minor(
    seed: str,
    base_minor: int,
    step_minor: int,
    *,
    now: float | None = None,
    floor: int | None = 0,
) -> int:
    """A pseudo-random walk in minor units: deterministic for ``seed`` and the moment.

    The walk restarts every UTC day from a seed-dependent start near ``base_minor`` and takes
    one step (uniform within ``±step_minor``) per tick, so that values change every
    ``TICK_SECONDS`` and never need any stored state.
    """
    moment = clock() if now is None else now
    day, tick = divmod(int(moment // TICK_SECONDS), _TICKS_PER_DAY)
    digest = hashlib.sha256(f"{seed}:{day}".encode()).digest()
    rng = random.Random(digest)
    start = base_minor + rng.randint(-step_minor * 20, step_minor * 20)
    # The sum of random bytes centred on zero: a walk computed in C, cheap even late in a day.
    drift = sum(rng.randbytes(tick)) * 2 - 255 * tick
    value = start + (drift * step_minor) // 255
    if floor is not None and value < floor:
        value = floor + (floor - value) // 4  # bounce off the floor instead of sticking to it
    return value


def credential_scale(seed: str) -> Decimal:
    """0.50 … 1.49: different credentials see differently sized accounts."""
    return Decimal(50 + hashlib.sha256(seed.encode()).digest()[0] * 100 // 256) / 100


def minor_to_decimal(minor: int, decimals: int) -> Decimal:
    return Decimal(minor).scaleb(-decimals) if decimals else Decimal(minor)


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> HttpResponse:
    # A Decimal as a JSON number digit for digit, without an exponent (Wise sends numbers).
    response = HttpResponse(
        simplejson.dumps(data, use_decimal=False, default=decimal_literal),
        status=status,
        content_type="application/json",
    )
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def bearer_token(request: HttpRequest) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def basic_credentials(request: HttpRequest) -> tuple[str, str] | None:
    header = request.headers.get("Authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, sep, password = decoded.partition(":")
    return (username, password) if sep else None


def iso_now(*, millis: bool = False) -> str:
    now = datetime.now(UTC)
    if millis:
        return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")
