"""Page-number pagination for the API's lists: ``?page=2&pageSize=100``; keyset pagination
(``?cursor=…``, ``next``/``previous`` links) for the logs that grow without end (balance
history, audit log), where deep pages must stay as fast as the first.

The envelope is DRF's (``count``, ``next``, ``previous``, ``results``); ``pageSize`` is capped
so that no request can ask for an unbounded list.
"""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from core.keyset import KeysetPage

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


class ApiPagination(PageNumberPagination):
    page_size = DEFAULT_PAGE_SIZE
    page_size_query_param = "pageSize"
    max_page_size = MAX_PAGE_SIZE
    page_query_param = "page"


def keyset_page_size(request: Request) -> int:
    """``pageSize`` of a keyset list: 1 to ``MAX_PAGE_SIZE`` (more is capped), else a 400."""
    raw = request.query_params.get("pageSize")
    if raw in (None, ""):
        return DEFAULT_PAGE_SIZE
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 6) or int(raw) < 1:
        raise ValidationError({"pageSize": ["Must be a whole number from 1."]})
    return min(int(raw), MAX_PAGE_SIZE)


def _cursor_link(request: Request, cursor: str | None) -> str | None:
    if cursor is None:
        return None
    return replace_query_param(request.build_absolute_uri(), "cursor", cursor)


def keyset_response(
    request: Request, page: KeysetPage, results: Any, *, count: int | None = None
) -> Response:
    """A keyset page (``core.keyset``): ``next`` goes to older entries, ``previous`` to newer
    ones; both carry the request's filters, and are null at either end.  ``count`` (how many
    entries match) is included when given, on a list's first page."""
    body: dict[str, Any] = {} if count is None else {"count": count}
    body.update(
        {
            "next": _cursor_link(request, page.older),
            "previous": _cursor_link(request, page.newer),
            "results": results,
        }
    )
    return Response(body)
