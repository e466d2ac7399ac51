"""Domain errors raised by actions.  Pages turn them into form errors or messages; the API
turns them into its error envelope with ``http_status`` and ``code``."""

from __future__ import annotations

from typing import Any

from django.http import Http404


class DomainError(Exception):
    code = "invalid"
    http_status = 400

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        details: dict[str, Any] | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.details = details or {}
        if code:
            self.code = code


class ValidationFailed(DomainError):
    code = "validation_error"
    http_status = 400


class NotFound(DomainError, Http404):
    """Raised by the one getter per object in each ``queries`` module: pages render it as
    their 404 page (it is an ``Http404``), the API as its 404 envelope with ``code``."""

    code = "not_found"
    http_status = 404


class Conflict(DomainError):
    code = "conflict"
    http_status = 409


class AlreadyExists(Conflict):
    code = "already_exists"


class NotAllowed(Conflict):
    """The object's state forbids the operation (a balance with pending funds, a paid payout)."""

    code = "not_allowed"


class StaleVersion(DomainError):
    """The object changed since the caller read it; ``current`` is what it is now."""

    code = "stale_version"
    http_status = 412

    def __init__(self, message: str, *, current: Any = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.current = current


class Unprocessable(DomainError):
    code = "unprocessable"
    http_status = 422


class ServiceUnavailable(DomainError):
    """Something the operation needs is down for now (the task queue); nothing was done and
    the same request may simply be sent again after ``retry_after`` seconds."""

    code = "service_unavailable"
    http_status = 503
    retry_after = 60
