"""The probes answer whatever ``Host`` they are sent.

Load balancers, Kubernetes and Prometheus reach an instance by its own address
(``Host: 10.0.3.7:8000``), which no ``ALLOWED_HOSTS`` lists.  Django checks the host when
something asks for it, and ``CommonMiddleware`` asks on every request; ``/healthz``,
``/readyz`` and ``/metrics`` never use it (no link, no redirect, no cookie), so this
middleware, placed before the first that would ask, answers exactly those three paths
itself: the same views, with their request id, metrics label, security headers, allowed
methods and ``/metrics``' token.  Every other path still needs an allowed host.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.urls import resolve

PROBE_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


class ProbeMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info not in PROBE_PATHS:
            return self.get_response(request)
        match = resolve(request.path_info)
        request.resolver_match = match  # the metrics' view label, as after routing
        return match.func(request, *match.args, **match.kwargs)
