"""``GET /api/v1/audit``: the audit log, filtered, in keyset pages, as JSON or a streamed CSV
file (``Accept: text/csv`` or ``?format=csv``).  Same permission as the page (admins)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.settings import api_settings

from core.api.etag import ListETagMixin, appended
from core.api.pagination import keyset_page_size, keyset_response
from core.api.schema import (
    CSV_FORMAT,
    CURSOR,
    DATE_FROM,
    DATE_TO,
    PAGE_SIZE,
    errors,
    keyset_paginated,
)
from core.api.views import ApiView
from core.csvexport import CsvRenderer, csv_response, wants_csv
from core.filters import raise_for_api
from core.keyset import parse_cursor
from services.audit import queries
from services.audit.api.serializers import AuditEntryOut
from services.audit.forms import AuditFilterForm
from services.audit.links import KNOWN_TYPES


def _query(name: str, description: str, **kwargs: Any) -> OpenApiParameter:
    return OpenApiParameter(
        name, str, OpenApiParameter.QUERY, required=False, description=description, **kwargs
    )


class AuditLogView(ListETagMixin, ApiView):
    required_perms = {"GET": ("services.view_audit_log",)}
    renderer_classes = [*api_settings.DEFAULT_RENDERER_CLASSES, CsvRenderer]

    def etag_validator(self, request: Request, **kwargs: Any) -> Any | None:
        """Entries are only ever added."""
        form = AuditFilterForm(request.query_params)
        if not form.is_valid():
            return None  # the list answers the 400
        return appended(queries.filtered_audit(form.cleaned_data))

    @extend_schema(
        operation_id="audit_log",
        summary="Audit log",
        description="Every write by a person, an API key or the system, newest first, in "
        "keyset pages (`next` goes to older entries).  `before`/`after` hold the fields "
        'that changed (credentials only as "changed", never their values).  JSON, or CSV '
        "with `Accept: text/csv` / `?format=csv` (columns: " + ", ".join(queries.CSV_HEADER) + ").",
        parameters=[
            CURSOR,
            PAGE_SIZE,
            DATE_FROM,
            DATE_TO,
            _query("actor", "The actor's label contains this, or the username is exactly it."),
            _query("objectType", "The kind of object.", enum=list(KNOWN_TYPES)),
            _query("objectId", "The object's id (a service's srv_…, a payout's po_…)."),
            _query("action", "The action contains this, e.g. `payout` or `balance_updated`."),
            CSV_FORMAT,
        ],
        responses={
            (200, "application/json"): keyset_paginated(AuditEntryOut),
            (200, "text/csv"): OpenApiResponse(
                response={"type": "string"}, description="Every matching entry as CSV."
            ),
            **errors(400),
        },
    )
    def get(self, request: Request) -> Any:
        form = AuditFilterForm(request.query_params)
        raise_for_api(form)
        qs = queries.filtered_audit(form.cleaned_data)
        if wants_csv(request):
            return csv_response(queries.CSV_HEADER, queries.csv_rows(qs), filename="audit-log")
        cursor = parse_cursor(form.cleaned_data["cursor"], queries.CURSOR_SALT)
        page = queries.audit_page(qs, cursor=cursor, size=keyset_page_size(request))
        return keyset_response(request, page, AuditEntryOut(page.rows, many=True).data)
