"""CSV exports, streamed: pages and the API answer the same lists as CSV row by row, so a
million rows take constant memory (rows come from an iterator, e.g. a keyset walk or
``QuerySet.iterator()``, and are written as they are produced).

Rules every export follows:

* a header row; one value per cell; amounts as exact plain strings with their currency's
  digits (``core.money.currencies.plain_amount``) and the currency in a column of its own;
  timestamps in UTC ISO 8601 (``iso_utc``); empty cells for missing values;
* formula injection neutralised (OWASP "CSV injection"): a cell beginning with ``=``, ``+``,
  ``-``, ``@``, a tab or a carriage return gets a leading ``'``, unless the whole cell is a
  plain number (``-12.50`` stays a number, ``-1+1`` or ``=HYPERLINK(...)`` do not);
* UTF-8 without a byte-order mark, ``\\r\\n`` line ends (RFC 4180), a file name in
  ``Content-Disposition``.

Pages: ``return csv_response(header, rows, filename="payouts")``.  API views: add
``CsvRenderer`` to ``renderer_classes`` (so ``Accept: text/csv`` and ``?format=csv`` are
negotiated) and return ``csv_response(...)`` when ``wants_csv(request)``; errors still answer
the JSON envelope.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from django.http import HttpRequest, StreamingHttpResponse
from django.utils import timezone
from rest_framework.renderers import BaseRenderer

from core.api.renderers import DecimalJSONRenderer

CSV_CONTENT_TYPE = "text/csv; charset=utf-8"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_FILENAME_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def neutralise(value: str) -> str:
    """``value`` made safe to open in a spreadsheet (the OWASP rule, numbers left alone)."""
    if value.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def iso_utc(moment: datetime | None) -> str:
    """``2026-11-27T18:00:00.123456Z`` (UTC, ``Z``), or empty for None."""
    if moment is None:
        return ""
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def cell(value: Any) -> str:
    """One value as a CSV cell: None → empty, datetimes → UTC ISO, the rest ``str()``.
    Amounts should be formatted by the caller (``plain_amount``) to carry their digits."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return neutralise(str(value))


class _Echo:
    """A file-like object whose ``write`` hands the line back instead of storing it."""

    def write(self, value: str) -> str:
        return value


def csv_lines(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterator[bytes]:
    """The encoded lines of a CSV file: the header, then one line per row."""
    writer = csv.writer(_Echo(), lineterminator="\r\n")
    yield writer.writerow([neutralise(name) for name in header]).encode()
    for row in rows:
        yield writer.writerow([cell(value) for value in row]).encode()


def export_filename(stem: str, *, at: datetime | None = None) -> str:
    """``payouts-20261203T161000Z.csv``: what, and when it was exported (UTC)."""
    moment = (at or timezone.now()).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{_FILENAME_SAFE.sub('-', stem).strip('-') or 'export'}-{moment}.csv"


def csv_response(
    header: Sequence[str], rows: Iterable[Sequence[Any]], *, filename: str
) -> StreamingHttpResponse:
    """A streamed CSV download (``filename`` without extension; a UTC time stamp is added)."""
    response = StreamingHttpResponse(csv_lines(header, rows), content_type=CSV_CONTENT_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{export_filename(filename)}"'
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "no-store"
    return response


def wants_csv(request: Any) -> bool:
    """Did an API request negotiate CSV (``Accept: text/csv`` or ``?format=csv``)?  For a
    page: ``?format=csv``."""
    renderer = getattr(request, "accepted_renderer", None)
    if renderer is not None:
        return getattr(renderer, "format", "") == "csv"
    if isinstance(request, HttpRequest):
        return request.GET.get("format") == "csv"
    return False


class CsvRenderer(BaseRenderer):
    """Lets DRF negotiate CSV.  The rows themselves are streamed by ``csv_response``; what
    reaches this renderer is an error body (or a plain list view's data), answered as the
    usual JSON envelope with its own content type."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        response = (renderer_context or {}).get("response")
        if response is not None:
            response["Content-Type"] = "application/json"
        return DecimalJSONRenderer().render(data, "application/json", renderer_context)
