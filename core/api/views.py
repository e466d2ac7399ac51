"""The base class of every API view, and the schema and docs views."""

from __future__ import annotations

import re
from typing import Any, ClassVar

from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponse
from drf_spectacular.renderers import (
    OpenApiJsonRenderer,
    OpenApiJsonRenderer2,
    OpenApiYamlRenderer,
    OpenApiYamlRenderer2,
)
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.views import APIView

from core.api.pagination import ApiPagination
from core.api.permissions import HasRolePermission

_ETAG = re.compile(r'^\s*(?:W/)?"?(\d{1,10})"?\s*$', re.ASCII)
# Versions start at 1 and only grow: an unreadable tag can never match.
UNMATCHABLE_VERSION = 0


def expected_version(request: Request) -> int | None:
    """The version named by If-Match; None when there is none (empty, or "*": any version)."""
    raw = (request.headers.get("If-Match") or "").strip()
    if raw in ("", "*"):
        return None
    match = _ETAG.match(raw.split(",")[0])
    return int(match.group(1)) if match else UNMATCHABLE_VERSION


class ThrottledAuthMixin(APIView):
    """Throttles before permissions, failed authentications counted (see ``initial``)."""

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # DRF's order is authenticate, permissions, throttles: an anonymous caller or a bad
        # key would get its 401 before any throttle counted it, so the per-IP limit could
        # never apply.  Here throttles run before permissions, and a failed authentication
        # is counted against the caller's IP before its 401.
        self.format_kwarg = self.get_format_suffix(**kwargs)
        request.accepted_renderer, request.accepted_media_type = self.perform_content_negotiation(
            request
        )
        request.version, request.versioning_scheme = self.determine_version(
            request, *args, **kwargs
        )
        try:
            self.perform_authentication(request)
        except exceptions.AuthenticationFailed:
            self.check_throttles(request)
            raise
        self.check_throttles(request)
        self.check_permissions(request)


class ApiView(ThrottledAuthMixin):
    """One view per resource or operation.  Subclasses declare ``required_perms`` per HTTP
    method and stay thin: parse with an input serializer, call one action or query, answer
    with an output serializer."""

    permission_classes = [HasRolePermission]
    required_perms: ClassVar[dict[str, tuple[str, ...]]] = {}

    # The page of this request's list, when its ETag was computed from it (core.api.etag).
    kept_page: tuple[Any, ApiPagination, Any] | None = None

    def paginate(self, request: Request, queryset: Any, serializer_class: Any) -> Any:
        paginator, page = self.page_of(request, queryset)
        data = serializer_class(page, many=True).data
        return paginator.get_paginated_response(data)

    def page_of(self, request: Request, queryset: Any) -> tuple[ApiPagination, Any]:
        """The page of ``queryset`` this request asks for, and its paginator; read once per
        request (the ETag's validator may have read it already)."""
        kept = self.kept_page
        if kept is not None and kept[0] is request:
            return kept[1], kept[2]
        paginator = ApiPagination()
        page: Any = paginator.paginate_queryset(queryset, request, view=self)
        self.kept_page = (request, paginator, page)
        return paginator, page


class SchemaView(ThrottledAuthMixin, SpectacularAPIView):
    """The OpenAPI 3 document, JSON unless YAML is asked for (JSON is also valid YAML).  Like
    every endpoint it needs a key or a session: 401 in the error envelope without."""

    permission_classes = [HasRolePermission]
    renderer_classes = [
        OpenApiJsonRenderer2,
        OpenApiJsonRenderer,
        OpenApiYamlRenderer,
        OpenApiYamlRenderer2,
    ]


class DocsView(ThrottledAuthMixin, SpectacularSwaggerSplitView):
    """Swagger UI, served from drf-spectacular-sidecar's static files (no CDN), for signed-in
    users (anyone else is sent to the login page).

    The split view serves Swagger UI's start-up script from this URL (``?script``) instead of
    inline, and our template has no inline style, so the page runs under the site's strict
    Content-Security-Policy unchanged."""

    permission_classes = [HasRolePermission]
    template_name = "api/swagger_ui.html"

    def handle_exception(self, exc: Exception) -> HttpResponse:  # type: ignore[override]
        if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
            return redirect_to_login(self.request.get_full_path())
        return super().handle_exception(exc)
