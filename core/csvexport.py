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
``CsvRenderer`` to ``renderer_classes`` (or, for a view with other methods than GET, put the
``CsvOnGet`` mixin first in its bases), so that ``Accept: text/csv`` and ``?format=csv`` are
negotiated, and return ``csv_response(...)`` when ``wants_csv(request)``; errors still answer
the JSON envelope.  ``CSV_FORMAT`` and ``csv_list_responses`` document it in the schema.

Rows come from ``iterate(queryset)``: one query on a PostgreSQL server-side cursor, read
``CHUNK_SIZE`` rows at a time.  Where server-side cursors are off
(``DISABLE_SERVER_SIDE_CURSORS``, as a transaction-pooling connection pooler needs), a
client-side cursor would load the whole result at once, so the rows are read in keyset
batches instead (two queries per batch of ``CHUNK_SIZE``, memory still constant).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import connections
from django.db.models import Q, QuerySet
from django.http import HttpRequest, StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework.renderers import BaseRenderer

from core.api.renderers import DecimalJSONRenderer
from core.api.schema import errors

CSV_CONTENT_TYPE = "text/csv; charset=utf-8"
_FORMULA_START = frozenset("=+-@\t\r")
_PLAIN_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_FILENAME_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
# Rows fetched per round trip: large enough to amortise it, small enough to stay a few MB.
CHUNK_SIZE = 2000
CHUNK_BYTES = 64 * 1024  # what the response hands the server at a time


def neutralise(value: str) -> str:
    """``value`` made safe to open in a spreadsheet (the OWASP rule, numbers left alone)."""
    if value and value[0] in _FORMULA_START and not _PLAIN_NUMBER.fullmatch(value):
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
    if type(value) is str:  # most cells: the fast path of a million-row export
        return neutralise(value)
    if value is None:
        return ""
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")  # never an exponent ("1E-8")
    return neutralise(str(value))


def seconds(span: timedelta | None) -> str:
    """A duration as exact seconds with microseconds (``"2.500000"``), or empty for None:
    computed in integers, never through a float."""
    if span is None:
        return ""
    micros = span // timedelta(microseconds=1)
    return format(Decimal(micros).scaleb(-6), "f")


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


def _in_chunks(lines: Iterable[bytes], size: int = CHUNK_BYTES) -> Iterator[bytes]:
    """Lines gathered into pieces of about ``size`` bytes: the server writes to the socket
    once per piece, not once per row."""
    pending: list[bytes] = []
    held = 0
    for line in lines:
        pending.append(line)
        held += len(line)
        if held >= size:
            yield b"".join(pending)
            pending, held = [], 0
    if pending:
        yield b"".join(pending)


def csv_response(
    header: Sequence[str], rows: Iterable[Sequence[Any]], *, filename: str
) -> StreamingHttpResponse:
    """A streamed CSV download (``filename`` without extension; a UTC time stamp is added)."""
    response = StreamingHttpResponse(
        _in_chunks(csv_lines(header, rows)), content_type=CSV_CONTENT_TYPE
    )
    response["Content-Disposition"] = f'attachment; filename="{export_filename(filename)}"'
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "no-store"
    return response


def iterate(queryset: QuerySet[Any], *, chunk_size: int | None = None) -> Iterator[Any]:
    """Every row of ``queryset`` (model instances, or the tuples of ``values_list``) in its
    order, holding at most ``chunk_size`` rows at once.

    One query through a server-side cursor (``QuerySet.iterator``) where the database offers
    one; keyset batches where PostgreSQL's server-side cursors are disabled.  Lazy: nothing
    is read before the first row is asked for, i.e. while the response streams."""
    chunk_size = chunk_size or CHUNK_SIZE
    connection = connections[queryset.db]
    if connection.vendor == "postgresql" and connection.settings_dict.get(
        "DISABLE_SERVER_SIDE_CURSORS"
    ):
        yield from _keyset_batches(queryset, chunk_size)
    else:
        yield from queryset.iterator(chunk_size=chunk_size)


def _ordering(queryset: QuerySet[Any]) -> list[tuple[str, bool]]:
    """(field, descending) of the queryset's ordering, ending with the primary key so that
    every row has one place.  Only non-null fields of the model itself can be walked."""
    meta = queryset.model._meta
    order: list[tuple[str, bool]] = []
    for name in queryset.query.order_by or meta.ordering:
        if not isinstance(name, str) or "__" in name or name.lstrip("-") == "?":
            raise ValueError(f"Keyset batches need plain field orderings, not {name!r}.")
        field = meta.pk if name.lstrip("-") == "pk" else meta.get_field(name.lstrip("-"))
        order.append((field.attname, name.startswith("-")))
    if not order or order[-1][0] != meta.pk.attname:
        order.append((meta.pk.attname, order[-1][1] if order else False))
    return order


def _after(order: list[tuple[str, bool]], key: Sequence[Any]) -> Q:
    """Rows strictly after ``key`` (the ordering's values of one row), spelled out as the
    lexicographic comparison it is, plus a bound on the first field alone: without it an
    index is scanned from its start for every batch (quadratic over a million rows)."""
    condition = Q()
    for index, (name, descending) in enumerate(order):
        step = Q(**{f"{name}__{'lt' if descending else 'gt'}": key[index]})
        for (earlier, _), value in zip(order[:index], key, strict=False):
            step &= Q(**{earlier: value})
        condition |= step
    first, descending = order[0]
    return Q(**{f"{first}__{'lte' if descending else 'gte'}": key[0]}) & condition


def _keyset_batches(queryset: QuerySet[Any], chunk_size: int) -> Iterator[Any]:
    """Walk the ordering's keys a batch at a time, then read each batch's rows by primary
    key: two queries per batch, for any queryset (models, ``values()``, ``values_list()``)."""
    if queryset.query.is_sliced:
        raise ValueError("Keyset batches walk a whole queryset, not a slice of one.")
    order = _ordering(queryset)
    walk = [f"{'-' if descending else ''}{name}" for name, descending in order]
    keys = queryset.order_by(*walk).values_list(*(name for name, _ in order))
    pk = queryset.model._meta.pk.attname
    batch = list(keys[:chunk_size])
    while batch:
        yield from queryset.order_by(*walk).filter(**{f"{pk}__in": [key[-1] for key in batch]})
        if len(batch) < chunk_size:
            return
        batch = list(keys.filter(_after(order, batch[-1]))[:chunk_size])


def wants_csv(request: Any) -> bool:
    """Did an API request negotiate CSV (``Accept: text/csv`` or ``?format=csv``)?  For a
    page: ``?format=csv``."""
    renderer = getattr(request, "accepted_renderer", None)
    if renderer is not None:
        return getattr(renderer, "format", "") == "csv"
    if isinstance(request, HttpRequest):
        return request.GET.get("format") == "csv"
    return False


# For ``extend_schema`` of a list that answers CSV too: the ``format`` parameter, and the
# responses (``csv_list_responses(paginated(ItemOut), 400, 404)``).
CSV_FORMAT = OpenApiParameter(
    "format",
    str,
    OpenApiParameter.QUERY,
    required=False,
    enum=["json", "csv"],
    description="`csv`: every row the filters select as a CSV file (the same as "
    "`Accept: text/csv`), streamed, not paginated.",
)
_CSV_OK = OpenApiResponse(
    response=OpenApiTypes.STR,
    description="With `Accept: text/csv` or `format=csv`: a header row, then every row the "
    "filters select (UTF-8, CRLF line ends); amounts as exact strings with the currency's "
    "digits, UTC ISO 8601 times, cells that could start a spreadsheet formula prefixed "
    "with `'`.",
)


def csv_list_responses(page: Any, *error_codes: int) -> dict[Any, Any]:
    """The list's page as JSON or every row as CSV on 200; errors in the JSON envelope only
    (whatever was asked for)."""
    return {
        (200, "application/json"): page,
        (200, "text/csv"): _CSV_OK,
        **{(code, "application/json"): answer for code, answer in errors(*error_codes).items()},
    }


class CsvOnGet:
    """Mixin for an API view whose GET also answers CSV (before ``ApiView`` in the bases):
    CSV is negotiated on GET only, so its other methods answer JSON (or a 406 to
    ``Accept: text/csv``), and the schema says so."""

    request: Any

    def get_renderers(self) -> list[BaseRenderer]:
        renderers: list[BaseRenderer] = super().get_renderers()  # type: ignore[misc]
        request = getattr(self, "request", None)
        if request is not None and request.method in ("GET", "HEAD"):
            renderers.append(CsvRenderer())
        return renderers


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
