"""The audit log page: who changed what across the system.  Who: admins (the
``services.view_audit_log`` permission), superusers."""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from core.csvexport import csv_response, wants_csv
from core.errors import ValidationFailed
from core.keyset import parse_cursor
from core.permissions import require_perms
from services.audit import queries
from services.audit.forms import AuditFilterForm
from services.audit.links import links_for

AUDIT_LOG = "services.view_audit_log"


@require_perms(AUDIT_LOG)
def audit_log(request: HttpRequest) -> HttpResponse:
    """Newest first, filtered, one keyset page at a time; ``?format=csv`` exports every
    matching entry (filters carried, cursor ignored).  Bad filters or cursor: form errors
    and a 400.  Queries: the page, plus one per object type linked."""
    form = AuditFilterForm(request.GET)
    page = None
    if form.is_valid():
        qs = queries.filtered_audit(form.cleaned_data)
        if wants_csv(request):
            return csv_response(queries.CSV_HEADER, queries.csv_rows(qs), filename="audit-log")
        try:
            cursor = parse_cursor(form.cleaned_data["cursor"], queries.CURSOR_SALT)
            page = queries.audit_page(qs, cursor=cursor)
        except ValidationFailed as exc:
            form.add_error("cursor", exc.message)
    links = links_for(page.rows) if page else {}
    rows = [(e, links.get(e.pk), *queries.before_after(e)) for e in page.rows] if page else []
    return render(
        request,
        "audit/audit_log.html",
        {"form": form, "page": page, "rows": rows, "filters": urlencode(form.active_filters())},
        status=400 if form.errors else 200,
    )
