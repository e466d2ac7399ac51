"""What a log line is about: the request id and the caller of the request being served, and
the service, sync run, payout or provider the code at hand works on.

Kept in one :class:`contextvars.ContextVar` so that it follows the code into threads started
with a copied context and is reset when the request or task ends.  The logging filter
(:mod:`core.observability.logs`) adds it to every record; Celery tasks receive the request id
in a message header (:mod:`core.observability.tasks`).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import Any

# The fields a log line may carry beyond time, level, logger and message.  Nothing else can be
# bound: a secret cannot slip into the log context by a typo.
FIELDS = (
    "request_id",
    "user",
    "api_key",
    "service_id",
    "sync_run_id",
    "payout_id",
    "provider",
    "task",
)

_context: ContextVar[Mapping[str, Any]] = ContextVar("log_context", default={})  # noqa: B039
# The request being served, to name its caller once authentication has found one (see
# :func:`caller`): Django's middleware or DRF decide that after the request id is bound.
_request: ContextVar[Any] = ContextVar("log_request", default=None)

# What a proxy's X-Request-ID may look like to be reused: anything else is replaced.
_SANE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def new_request_id() -> str:
    return uuid.uuid4().hex


def sane_request_id(value: str | None) -> str | None:
    """``value`` when it is a request id we may log and echo (≤ 64 of ``[A-Za-z0-9._-]``)."""
    if value and _SANE_ID.fullmatch(value):
        return value
    return None


def current() -> Mapping[str, Any]:
    """The fields bound now (read-only)."""
    return _context.get()


def request_id() -> str | None:
    value = _context.get().get("request_id")
    return str(value) if value else None


def push(**fields: Any) -> Token[Mapping[str, Any]]:
    """Bind ``fields`` on top of what is bound; undo with :func:`pop`.  ``None`` values are
    left out."""
    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise ValueError(f"not a log context field: {', '.join(sorted(unknown))}")
    merged = {**_context.get(), **{k: v for k, v in fields.items() if v is not None}}
    return _context.set(merged)


def pop(token: Token[Mapping[str, Any]]) -> None:
    _context.reset(token)


@contextmanager
def bound(**fields: Any) -> Iterator[None]:
    """``with bound(service_id=…, sync_run_id=…):`` every log line inside carries them."""
    token = push(**fields)
    try:
        yield
    finally:
        pop(token)


def replace(fields: Mapping[str, Any]) -> Token[Mapping[str, Any]]:
    """Start from ``fields`` alone (a new request or task); undo with :func:`pop`."""
    return _context.set({k: v for k, v in fields.items() if k in FIELDS and v is not None})


def serve(request: Any, request_id: str) -> None:
    """Bind a new request: its id, and the request itself for :func:`caller`.  Replaces what
    the thread had; :func:`clear` ends it once the response is finished (Django logs a 4xx or
    5xx response after the middleware returned it: that line carries the id too)."""
    _context.set({"request_id": request_id})
    _request.set(request)


def clear(**_: Any) -> None:
    """Nothing bound any more (``request_finished``)."""
    _context.set({})
    _request.set(None)


def caller() -> dict[str, str]:
    """``user`` (username) and ``api_key`` (the key's public prefix) of the request being
    served, as far as authentication has got: never triggers it (no query, no session load)."""
    request = _request.get()
    if request is None:
        return {}
    found: dict[str, str] = {}
    user = request.__dict__.get("user")
    # Django's lazy user (AuthenticationMiddleware) once evaluated, or the one DRF set.
    user = getattr(user, "_wrapped", user)
    if getattr(user, "is_authenticated", False) is True:
        found["user"] = user.get_username()
    prefix = getattr(request.__dict__.get("auth"), "prefix", None)
    if isinstance(prefix, str) and prefix:
        found["api_key"] = prefix
    return found
