"""One error envelope for the whole API:

    {"error": {"code": "…", "message": "…", "details": {…}}}

``code`` is stable and machine-readable, ``message`` is for humans, ``details`` holds field
errors (``{"amount": ["…"]}``, camelCase keys) and anything else a client can act on (the
current version of a stale balance, why a deletion is refused).  Domain errors raised by the
actions carry their own HTTP status and code, so views never translate them one by one.

The same envelope is produced outside DRF views by the ``handler*`` functions below (unknown
URLs, errors raised by middleware) for paths under ``/api/``; other paths keep HTML pages.
"""

from __future__ import annotations

import logging
import re
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseServerError, JsonResponse
from django.template import loader
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

from core.api.renderers import DecimalJSONRenderer
from core.errors import DomainError, StaleVersion
from core.money.currencies import plain_amount
from core.observability import context as log_context

logger = logging.getLogger("config.api")

API_PREFIX = "/api/"
SERVER_ERROR_MESSAGE = "An unexpected error occurred. It has been logged; try again later."

# A default code per DRF exception, where DRF's own is vaguer than ours.
_CODES: dict[type[exceptions.APIException], str] = {
    exceptions.ValidationError: "validation_error",
    exceptions.ParseError: "parse_error",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
}


class BadRequest(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "Bad request."
    default_code = "bad_request"


_CAMEL = re.compile(r"_([a-z0-9])")


def camel(key: str) -> str:
    return _CAMEL.sub(lambda m: m.group(1).upper(), key)


def _plain(detail: Any) -> Any:
    """DRF error details (ErrorDetail, nested dicts and lists) as plain JSON with camelCase
    keys."""
    if isinstance(detail, dict):
        return {camel(str(k)): _plain(v) for k, v in detail.items()}
    if isinstance(detail, list | tuple):
        return [_plain(v) for v in detail]
    return str(detail)


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def _first_message(details: Any, path: str = "") -> str:
    """The first error, prefixed by where it is ("amount: …", "credentials.apiKey: …")."""
    if isinstance(details, dict):
        for key, value in details.items():
            where = path if key == "nonFieldErrors" else (f"{path}.{key}" if path else key)
            found = _first_message(value, where)
            if found:
                return found
        return ""
    if isinstance(details, list):
        return next((m for m in (_first_message(v, path) for v in details) if m), "")
    return f"{path}: {details}" if path else str(details)


def _from_api_exception(exc: exceptions.APIException) -> tuple[int, dict[str, Any], dict]:
    headers: dict[str, str] = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header  # type: ignore[attr-defined]
    code = next(
        (c for cls, c in _CODES.items() if isinstance(exc, cls)), exc.default_code or "error"
    )
    details: dict[str, Any] = {}
    if isinstance(exc, exceptions.ValidationError):
        plain = _plain(exc.detail)
        details = plain if isinstance(plain, dict) else {"nonFieldErrors": plain}
        message = _first_message(details) or "The request is invalid."
    else:
        # An exception raised with an explicit code (PermissionDenied(code="read_only_key"))
        # keeps it.
        detail_code = getattr(exc.detail, "code", None)
        if isinstance(detail_code, str) and detail_code != exc.default_code:
            code = detail_code
        message = str(exc.detail)
    throttle_wait = getattr(exc, "wait", None) if isinstance(exc, exceptions.Throttled) else None
    if throttle_wait is not None:
        wait = max(1, int(throttle_wait + 0.999))
        headers["Retry-After"] = str(wait)
        details = {"retryAfter": wait}
        message = f"Too many requests; retry in {wait} second{'s' if wait != 1 else ''}."
    return exc.status_code, error_body(code, message, details), headers


def _from_domain_error(exc: DomainError) -> tuple[int, dict[str, Any], dict]:
    details: dict[str, Any] = {}
    if exc.field:
        details[camel(exc.field)] = [exc.message]
    details.update({camel(k): v for k, v in exc.details.items()})
    headers: dict[str, str] = {}
    current = getattr(exc, "current", None)
    if isinstance(exc, StaleVersion) and current is not None and current.version is not None:
        # The client can retry against what is there now without another GET.
        headers["ETag"] = f'"{current.version}"'
        if hasattr(current, "available") and hasattr(current, "currency"):
            # An amount is an exact JSON number everywhere in the API, here too.
            details["currentAmount"] = Decimal(plain_amount(current.available, current.currency))
    retry_after = getattr(exc, "retry_after", None)
    if retry_after:  # ServiceUnavailable: when sending the same request again makes sense
        headers["Retry-After"] = str(int(retry_after))
    return exc.http_status, error_body(exc.code, exc.message, details), headers


def server_error_body() -> dict[str, Any]:
    """The 500 envelope, with the request id a user can quote (also in X-Request-ID)."""
    request_id = log_context.request_id()
    return error_body(
        "server_error",
        SERVER_ERROR_MESSAGE,
        {"requestId": request_id} if request_id else None,
    )


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF's EXCEPTION_HANDLER.  Never returns None: an unexpected exception becomes a logged
    500 in the envelope rather than Django's HTML page or a traceback."""
    if isinstance(exc, DomainError):
        pass  # our own errors carry their status and code (NotFound is also an Http404)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) if exc.args else "Not found.")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) if exc.args else None)
    elif isinstance(exc, SuspiciousOperation):
        # A body over DATA_UPLOAD_MAX_MEMORY_SIZE, too many fields...: the client's doing.
        exc = BadRequest("The request was refused as malformed or too large.")
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        )

    if isinstance(exc, exceptions.APIException):
        status_code, body, headers = _from_api_exception(exc)
    elif isinstance(exc, DomainError):
        status_code, body, headers = _from_domain_error(exc)
    else:
        view = context.get("view")
        logger.error(
            "Unhandled error in API view %s", type(view).__name__ if view else "?", exc_info=exc
        )
        status_code = status.HTTP_500_INTERNAL_SERVER_ERROR
        body, headers = server_error_body(), {}

    set_rollback()
    request = context.get("request")
    if request is not None:
        # Errors are JSON even for a browser asking for the browsable API's HTML.
        request.accepted_renderer = DecimalJSONRenderer()
        request.accepted_media_type = DecimalJSONRenderer.media_type
    return Response(body, status=status_code, headers=headers)


# --- Django-level handlers (config/urls.py) -----------------------------------------------


def is_api_request(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


def json_error(status_code: int, code: str, message: str) -> HttpResponse:
    return JsonResponse(error_body(code, message), status=status_code)


def handler400(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if is_api_request(request):
        return json_error(400, "bad_request", "The request could not be understood.")
    return defaults.bad_request(request, exception or BadRequest())


def handler403(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if is_api_request(request):
        return json_error(403, "permission_denied", "You may not do this.")
    return defaults.permission_denied(request, exception or DjangoPermissionDenied())


def handler404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if is_api_request(request):
        return json_error(404, "not_found", "There is no API endpoint at this address.")
    return defaults.page_not_found(request, exception)


def handler500(request: HttpRequest) -> HttpResponse:
    if is_api_request(request):
        return JsonResponse(server_error_body(), status=500)
    # Django's own server_error renders without context; ours shows the request id.
    page = loader.get_template("500.html").render({"request_id": log_context.request_id()})
    return HttpResponseServerError(page)
