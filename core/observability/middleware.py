"""Every request: a request id (bound for the log lines, sent back in ``X-Request-ID``) and
the HTTP metrics by view.

First in ``MIDDLEWARE``, so that everything after it logs with the id and is timed.  A
client's ``X-Request-ID`` is reused only when our own proxy is in front (``BEHIND_PROXY``,
the rule of core/net.py: anyone else could write it) and only when it looks like an id (at
most 64 of ``[A-Za-z0-9._-]``); otherwise a fresh one is made.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from core.net import trusted_proxy_hops
from core.observability import context, metrics

HEADER = "X-Request-ID"
UNRESOLVED = "unresolved"


def request_id_for(request: HttpRequest) -> str:
    if trusted_proxy_hops():
        given = context.sane_request_id(request.headers.get(HEADER))
        if given:
            return given
    return context.new_request_id()


def view_label(request: HttpRequest) -> str:
    """The URL pattern's name (``services:detail``), never the path: bounded."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return UNRESOLVED
    return match.view_name or match.route or UNRESOLVED


class RequestObservabilityMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request_id_for(request)
        request.request_id = request_id  # type: ignore[attr-defined]
        # Unbound when the response is finished (request_finished, CoreConfig.ready).
        context.serve(request, request_id)
        started = time.perf_counter()
        response = self.get_response(request)
        metrics.http_request(
            view_label(request), request.method or "", response.status_code,
            time.perf_counter() - started,
        )  # fmt: skip
        response[HEADER] = request_id
        return response
