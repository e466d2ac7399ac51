"""What an unexpected exception in a sync becomes.

Anything that is not a provider's error (``ProviderError``) or a concurrent edit — a bug, a
database error after a restart, Redis gone, a number no decimal context holds — ends the run
as ``failed`` with the ``internal`` category, so that the service's next sync can start at
once instead of finding the run still ``running`` until the reaper closes it.

The message shown to operators is fixed text and the exception's class name, never the
exception's own text: that may hold anything (a provider's body, a URL with a token, a SQL
fragment).  The log has the traceback.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from core.redis import RedisError

log = logging.getLogger("balances.sync")

INTERNAL_CATEGORY = "internal"
INTERNAL_LABEL = "Internal error"

# Where in a sync the exception happened, in words for the message.
BEFORE_FETCH = "before the provider was asked"
FETCH = "while reading the provider's answer"
APPLY = "while applying the provider's figures"
QUEUE = "while it was being queued"
PREVIEW = "while working out what a sync would change"


class StepFailed(Exception):
    """Raised from an unexpected exception (its ``__cause__``) to say in which step it came."""

    def __init__(self, step: str) -> None:
        super().__init__(step)
        self.step = step


@dataclass(frozen=True)
class _Category:
    value: str = INTERNAL_CATEGORY
    label: str = INTERNAL_LABEL


@dataclass(frozen=True)
class InternalFailure:
    """An unexpected exception as operators see it (a run's error, a Test connection's
    result): ``category.label`` and ``message``, like a ``ProviderError``."""

    exc_type: str
    step: str
    redis: bool = False
    category: _Category = _Category()

    @classmethod
    def of(cls, exc: BaseException, step: str) -> InternalFailure:
        if isinstance(exc, StepFailed) and exc.__cause__ is not None:
            step, exc = exc.step, exc.__cause__
        return cls(type(exc).__name__, step, redis=isinstance(exc, RedisError))

    @property
    def message(self) -> str:
        if self.redis:
            return (
                f"Redis, which keeps one sync per service, could not be reached {self.step} "
                f"({self.exc_type}); nothing was changed. Try again in a minute."
            )
        return (
            f"An unexpected error ({self.exc_type}) happened {self.step}; nothing was "
            "changed. It has been logged: try again, and tell an administrator if it keeps "
            "happening."
        )


def log_unexpected(what: str, failure: InternalFailure, exc: BaseException) -> None:
    log.error("%s failed %s: %s", what, failure.step, failure.exc_type, exc_info=exc)
