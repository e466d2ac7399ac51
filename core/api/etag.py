"""ETag and ``304 Not Modified`` for the API's GET lists, for clients that poll.

A list view mixes in :class:`ListETagMixin` and says what its body depends on in
``etag_validator``: a cheap value (one aggregate or narrow query over the same filtered rows,
without serializing anything) that changes whenever anything the body shows changes.  The
mixin hashes it with what else shapes the body (the view, the path and query string, the
negotiated media type, the caller and their permissions) into a weak ETag sent with the 200,
and answers ``If-None-Match`` carrying it (or ``*``, or a list holding it; ``W/`` or not) with
a 304 without a body, before the view reads or serializes the list.

The tag is computed after authentication, throttling and the permission check, and before
the body is read: a write committed in between can only make the tag older than the body (one
more 200 later), never newer.  CSV answers and requests the view cannot validate cheaply
(``etag_validator`` returns None) carry no ETag.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from operator import itemgetter
from typing import Any

from django.db.models import Count, Max, Model, Q, QuerySet, Sum
from django.http.response import HttpResponseBase
from django.utils.cache import patch_vary_headers
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from core.csvexport import wants_csv

# Long enough for a real list of tags, short enough that a hostile header costs nothing.
MAX_IF_NONE_MATCH = 4096


class _NotModified(Exception):
    def __init__(self, tag: str) -> None:
        self.tag = tag


def aggregate(
    queryset: QuerySet,
    *latest: str,
    version: str = "",
    statuses: Iterable[str] = (),
    present: Iterable[str] = (),
) -> tuple | None:
    """One aggregate query over ``queryset`` (its filters, not its order or slice): how many
    rows, the sum and the largest of their ids (a delete and an insert never cancel out), the
    latest of each ``latest`` moment (set to "now" by every change), with ``version`` the sum
    of the versions (each edit adds one, even when two clocks disagree), how many rows are
    in each of ``statuses`` and how many have each of ``present`` set (a moment cleared, a
    link set to NULL).  None for an empty list (no tag: nothing to save)."""
    figures: dict[str, Any] = {"n": Count("pk"), "ids": Sum("pk"), "top": Max("pk")}
    for field in latest:
        figures[f"latest_{field}"] = Max(field)
    if version:
        figures["versions"] = Sum(version)
    for value in statuses:
        figures[f"status_{value}"] = Count("pk", filter=Q(status=value))
    for field in present:
        figures[f"present_{field}"] = Count(field)
    found = queryset.order_by().aggregate(**figures)
    if not found["n"]:
        return None
    return tuple(found[name] for name in sorted(found))


def appended(queryset: QuerySet) -> tuple | None:
    """The validator of an append-only log (rows are never edited or deleted): how many rows
    and the newest id; None when empty."""
    found = queryset.order_by().aggregate(n=Count("pk"), top=Max("pk"))
    return (found["n"], found["top"]) if found["n"] else None


def loaded_state(obj: Model, _seen: set[int] | None = None) -> tuple:
    """Everything a serializer can read from ``obj`` without a query: its loaded columns
    and annotations, the rows joined to it (``select_related``) and the lists prefetched
    with it, recursively (a row met again, as a prefetched child's link back to its
    parent, only by its identity)."""
    seen = set() if _seen is None else _seen
    if id(obj) in seen:
        return (type(obj).__name__, obj.pk)
    seen.add(id(obj))
    values = sorted(
        ((name, value) for name, value in vars(obj).items() if not name.startswith("_")),
        key=itemgetter(0),
    )
    joined = sorted(
        (
            (name, None if row is None else loaded_state(row, seen))
            for name, row in obj._state.fields_cache.items()
        ),
        key=itemgetter(0),
    )
    prefetched = sorted(
        (
            (name, [loaded_state(row, seen) for row in rows])
            for name, rows in getattr(obj, "_prefetched_objects_cache", {}).items()
        ),
        key=itemgetter(0),
    )
    return (type(obj).__name__, values, joined, prefetched)


def tags_of(header: str) -> Iterable[str]:
    """The opaque tags of an If-None-Match header, ``W/`` dropped (the weak comparison that
    RFC 9110 prescribes for If-None-Match); ``*`` as itself."""
    for part in header[:MAX_IF_NONE_MATCH].split(","):
        tag = part.strip()
        if tag.startswith(("W/", "w/")):
            tag = tag[2:]
        if tag:
            yield tag


def none_match(header: str | None, tag: str) -> bool:
    """True when If-None-Match names ``tag`` (weakly) or is ``*``: the client has it."""
    if not header:
        return False
    opaque = tag[2:] if tag.startswith("W/") else tag
    return any(candidate in ("*", opaque) for candidate in tags_of(header))


def list_etag(request: Request, *, view: str, validator: Any) -> str:
    """A weak tag over the validator and everything else that shapes the body."""
    user = request.user
    # Read from the set the permission check loaded (a superuser's is everything).
    perms = sorted(user.get_all_permissions()) if not user.is_superuser else ["*"]
    parts = (
        view,
        # The page links (next, previous) are absolute: the host and scheme shape them.
        request.scheme,
        request.get_host(),
        request.path,
        sorted(request.query_params.lists()),
        request.accepted_media_type,
        user.pk,
        user.is_superuser,
        perms,
        validator,
    )
    digest = hashlib.sha256(repr(parts).encode()).hexdigest()[:32]
    return f'W/"{digest}"'


IF_NONE_MATCH = OpenApiParameter(
    "If-None-Match",
    str,
    OpenApiParameter.HEADER,
    required=False,
    description="The ETag of the list as last received (W/ or not), several separated by "
    "commas, or *: answered 304 with no body while the list is unchanged.",
)
_ETAG_HEADER = {
    "schema": {"type": "string"},
    "description": "A weak validator of this list for If-None-Match.",
}


class ListETagSchema(AutoSchema):
    """The GET of a :class:`ListETagMixin` view: If-None-Match, the ETag header and the 304."""

    def get_override_parameters(self) -> list[Any]:
        found = list(super().get_override_parameters())
        return [*found, IF_NONE_MATCH] if self.method == "GET" else found

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        bodies = super()._get_response_bodies(direction)
        if self.method != "GET" or direction != "response":
            return bodies
        if "200" in bodies:
            bodies["200"].setdefault("headers", {})["ETag"] = _ETAG_HEADER
        bodies["304"] = {
            "description": "Not modified: If-None-Match names the list's current ETag. No body.",
            "headers": {"ETag": _ETAG_HEADER},
        }
        return bodies


class ListETagMixin:
    """For an ``ApiView`` with a GET list; override :meth:`etag_validator`."""

    _list_etag: str | None = None
    schema = ListETagSchema()

    def etag_validator(self, request: Request, **kwargs: Any) -> Any | None:
        """What the body depends on, cheaply; None: no ETag for this request.  Each list
        says it; a list that does not (yet) answers without an ETag, never a wrong one."""
        return None

    def etag_page(self, request: Request, queryset: QuerySet) -> tuple:
        """The validator of a list whose body is one page of ``queryset``, serialized from
        what the page loads and nothing else (no query of the serializer's own, nothing
        from the clock): that page as loaded (:func:`loaded_state`), and the count.  Right
        by construction, for lists that no aggregate describes cheaply; it costs the page's
        queries, which the GET then reuses (``ApiView.page_of``), and saves a 304 the
        serializing and the rendering."""
        paginator, page = self.page_of(request, queryset)  # type: ignore[attr-defined]
        return paginator.page.paginator.count, [loaded_state(row) for row in page]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        self._list_etag = None
        if request.method not in ("GET", "HEAD") or wants_csv(request):
            return
        validator = self.etag_validator(request, **kwargs)
        if validator is None:
            return
        self._list_etag = list_etag(request, view=type(self).__name__, validator=validator)
        if none_match(request.headers.get("If-None-Match"), self._list_etag):
            raise _NotModified(self._list_etag)

    def handle_exception(self, exc: Exception) -> HttpResponseBase:
        if isinstance(exc, _NotModified):
            return Response(status=status.HTTP_304_NOT_MODIFIED, headers={"ETag": exc.tag})
        return super().handle_exception(exc)  # type: ignore[misc]

    def finalize_response(
        self, request: Request, response: HttpResponseBase, *args: Any, **kwargs: Any
    ) -> HttpResponseBase:
        response = super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]
        tag = self._list_etag
        if tag and response.status_code in (200, 304):
            if response.status_code == 200 and not response.has_header("ETag"):
                response["ETag"] = tag
            # The tag depends on who asks: no shared cache may answer another caller with it.
            patch_vary_headers(response, ("Authorization", "Cookie"))
        return response
