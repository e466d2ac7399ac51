"""Refuse, once for every page and endpoint, what PostgreSQL cannot store or compare.

A NUL character in a path parameter (``/api/v1/payouts/%00``) or a query parameter
(``?run=%00``) would reach a lookup and make PostgreSQL raise, a 500.  No identifier, code or
search term of ours contains one, so such a request is answered 404 (the API's 404 envelope
under /api/, the 404 page elsewhere) before any view runs.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import Http404, HttpRequest, HttpResponse

_REFUSED = "\x00"


class RefuseUnstorableInputMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if _REFUSED in request.path_info or any(
            _REFUSED in key or any(_REFUSED in value for value in values)
            for key, values in request.GET.lists()
        ):
            raise Http404("No such page.")
        return self.get_response(request)
