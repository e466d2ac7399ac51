"""core/csvexport.py: the cell rules (formulas neutralised, numbers kept, UTC times), the
streamed file, constant-memory iteration (server-side cursor, or keyset batches where
server-side cursors are off), and the negotiation of CSV by the API."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from django.db import connection
from django.test import RequestFactory

from core import csvexport
from core.csvexport import cell, csv_lines, csv_response, iso_utc, neutralise, seconds
from services.models import Service
from tests.config.helpers import assert_error
from tests.factories import ServiceFactory


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ("=1+1", "'=1+1"),
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+33 6 12", "'+33 6 12"),
        ("-1+1", "'-1+1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tTAB", "'\tTAB"),
        ("\rCR", "'\rCR"),
        ("-12.50", "-12.50"),
        ("-5", "-5"),
        ("12.50", "12.50"),
        ("plain text", "plain text"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_neutralise_prefixes_formulas_and_keeps_numbers(raw, safe):
    assert neutralise(raw) == safe


def test_cells_are_written_exactly():
    assert cell(None) == ""
    assert cell(True) == "true" and cell(False) == "false"
    assert cell(Decimal("1E-8")) == "0.00000001"
    assert cell(Decimal("-8400.00")) == "-8400.00"
    assert cell(7) == "7"
    assert cell("=cmd") == "'=cmd"
    paris = timezone(timedelta(hours=1))
    assert cell(datetime(2026, 11, 27, 19, 0, tzinfo=paris)) == "2026-11-27T18:00:00Z"


def test_iso_utc_is_utc_with_z_and_keeps_microseconds():
    assert iso_utc(None) == ""
    moment = datetime(2026, 11, 27, 18, 0, 0, 123456, tzinfo=UTC)
    assert iso_utc(moment) == "2026-11-27T18:00:00.123456Z"
    assert iso_utc(datetime(2026, 11, 27, 18, 0)) == "2026-11-27T18:00:00Z"  # naive: UTC


def test_seconds_are_exact():
    assert seconds(None) == ""
    assert seconds(timedelta(seconds=2, microseconds=500000)) == "2.500000"
    assert seconds(timedelta(days=1, microseconds=1)) == "86400.000001"
    assert seconds(timedelta(0)) == "0.000000"


def test_lines_parse_back_with_quotes_commas_and_line_breaks():
    rows = [["a,b", 'say "hi"', "two\nlines", None, Decimal("0.10")], ["é€", "", "x", 1, "-3"]]
    text = b"".join(csv_lines(["h1", "=h2", "h3", "h4", "h5"], rows)).decode()
    assert text.startswith("h1,'=h2,h3,h4,h5\r\n")
    parsed = list(csv.reader(io.StringIO(text, newline="")))
    assert parsed == [
        ["h1", "'=h2", "h3", "h4", "h5"],
        ["a,b", 'say "hi"', "two\nlines", "", "0.10"],
        ["é€", "", "x", "1", "-3"],
    ]


def test_lines_are_produced_one_by_one():
    produced = []

    def rows():
        for n in range(3):
            produced.append(n)
            yield [n]

    lines = csv_lines(["n"], rows())
    assert next(lines) == b"n\r\n" and produced == []
    assert next(lines) == b"0\r\n" and produced == [0]


def test_a_response_is_a_streamed_attachment_with_a_safe_name():
    response = csv_response(["a"], iter([[1]]), filename='pay"outs/../x y')
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Cache-Control"] == "no-store"
    assert response["X-Content-Type-Options"] == "nosniff"
    disposition = response["Content-Disposition"]
    assert disposition.startswith('attachment; filename="pay-outs-..-x-y-')
    assert disposition.endswith('Z.csv"') and disposition.count('"') == 2
    assert b"".join(response.streaming_content) == b"a\r\n1\r\n"


def test_a_page_request_wants_csv_only_with_format_csv():
    factory = RequestFactory()
    assert csvexport.wants_csv(factory.get("/x/?format=csv"))
    assert not csvexport.wants_csv(factory.get("/x/"))
    assert not csvexport.wants_csv(factory.get("/x/", headers={"Accept": "text/csv"}))


# --- iterating in constant memory ---------------------------------------------------------


@pytest.fixture
def services(db):
    made = [ServiceFactory(name=f"Svc {n:02d}") for n in range(7)]
    # Two services created at the same moment: the id decides their order.
    same = made[0].created_at
    Service.objects.filter(pk__in=[made[3].pk, made[4].pk]).update(created_at=same)
    return made


def test_iterate_uses_one_query_on_a_server_side_cursor(services, django_assert_num_queries):
    ordered = Service.objects.order_by("-created_at", "-id")
    with django_assert_num_queries(1) as captured:
        got = list(csvexport.iterate(ordered, chunk_size=2))
    assert got == list(ordered)
    assert "DECLARE" in captured.captured_queries[0]["sql"]  # a named, server-side cursor


def test_without_server_side_cursors_rows_come_in_keyset_batches(
    services, django_assert_num_queries, monkeypatch
):
    monkeypatch.setitem(connection.settings_dict, "DISABLE_SERVER_SIDE_CURSORS", True)
    for ordering, walked in [
        (["-created_at", "-id"], ["-created_at", "-id"]),
        (["name"], ["name"]),
        (["-name", "pk"], ["-name", "pk"]),
        # Ties are broken by the primary key, in the direction of the last field.
        (["created_at"], ["created_at", "id"]),
        (["-created_at"], ["-created_at", "-id"]),
    ]:
        expected = list(Service.objects.order_by(*walked))
        # 7 rows by 3: the keys and the rows of two full batches, then of one of 1 row.
        with django_assert_num_queries(6):
            assert list(csvexport.iterate(Service.objects.order_by(*ordering), chunk_size=3)) == (
                expected
            )
    six = Service.objects.exclude(pk=services[6].pk)
    with django_assert_num_queries(5):  # 6 rows: two full batches, then no more keys
        assert len(list(csvexport.iterate(six, chunk_size=3))) == 6
    # Tuples too: the keys are read apart from the row's own columns.
    names = Service.objects.order_by("-created_at", "-id").values_list("name", flat=True)
    assert list(csvexport.iterate(names, chunk_size=2)) == list(names)


def test_keyset_batches_refuse_orderings_they_cannot_walk(services, monkeypatch):
    monkeypatch.setitem(connection.settings_dict, "DISABLE_SERVER_SIDE_CURSORS", True)
    with pytest.raises(ValueError, match="plain field"):
        list(csvexport.iterate(Service.objects.order_by("fee_profile__name")))


# --- negotiation ---------------------------------------------------------------------------


def test_csv_asked_of_an_endpoint_without_csv_is_a_406_envelope(viewer_api, db):
    by_accept = viewer_api.get("/api/v1/overview", headers={"Accept": "text/csv"})
    assert_error(by_accept, 406, "not_acceptable")
    by_format = viewer_api.get("/api/v1/overview?format=csv")
    error = assert_error(by_format, 406, "not_acceptable")
    assert "csv" in error["message"] and "json" in error["message"]
    assert viewer_api.get("/api/v1/overview?format=json").status_code == 200


def test_the_response_hands_over_lines_in_pieces_of_about_64_kib():
    rows = ([n, "x" * 100] for n in range(2000))
    pieces = list(csv_response(["n", "text"], rows, filename="big").streaming_content)
    assert len(pieces) == 4  # about 213 KB
    assert all(len(piece) >= csvexport.CHUNK_BYTES for piece in pieces[:-1])
    assert all(piece.endswith(b"\r\n") for piece in pieces)


def test_server_side_cursors_can_be_turned_off_for_a_transaction_pooler():
    from tests.config.test_settings import PRODUCTION, run

    script = (
        "import os; os.environ['DJANGO_SETTINGS_MODULE'] = 'config.settings'; "
        "from django.conf import settings; "
        "print(settings.DATABASES['default']['DISABLE_SERVER_SIDE_CURSORS'])"
    )
    default = run(["-c", script], **PRODUCTION)
    assert default.stdout.strip() == "False", default.stderr[-500:]
    pooled = run(["-c", script], **PRODUCTION, DATABASE_DISABLE_SERVER_SIDE_CURSORS="1")
    assert pooled.stdout.strip() == "True", pooled.stderr[-500:]
