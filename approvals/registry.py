"""What each kind of request means, told by the apps that own the objects.

``approvals`` sits below ``balances`` and ``payouts`` and never imports them: their
AppConfig.ready() registers, per kind,

* ``apply(request, approver)``: carry the change out, inside the approving transaction,
  with the same rules as a direct change; raise a ``DomainError`` to refuse (nothing is
  then written, the request stays pending);
* ``cancel(request, actor)``: undo what waiting held (a payout's hold) when the request is
  rejected or expires; may do nothing;
* ``describe(request)``: what the request's page shows of the object now (its current
  value, whether it moved, its recent history), as a :class:`Description`;
* ``renew(request)``: for kinds that can be asked again against the current state: the
  (version, current value) to ask against, read under the object's lock; None when the
  kind cannot be renewed;
* ``perm``: the permission a user needs to ask (or renew) a request of this kind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from core.actors import Actor


@dataclass(frozen=True)
class Description:
    exists: bool
    moved: bool = False
    current_value: Decimal | None = None
    current_version: int | None = None
    summary: str = ""
    history: list[Any] = field(default_factory=list)
    link: str = ""


@dataclass(frozen=True)
class Handler:
    apply: Callable[[Any, Actor], None]
    describe: Callable[[Any], Description]
    perm: str
    cancel: Callable[[Any, Actor], None] | None = None
    renew: Callable[[Any], tuple[int, Decimal | None]] | None = None


_HANDLERS: dict[str, Handler] = {}


def register(kind: str, handler: Handler) -> None:
    _HANDLERS[kind] = handler


def handler_for(kind: str) -> Handler:
    try:
        return _HANDLERS[kind]
    except KeyError:  # pragma: no cover - every kind's app registers it in ready()
        raise LookupError(f"No handler for approval requests of kind {kind!r}.") from None
