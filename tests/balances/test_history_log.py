"""The balance history: filters, keyset pages (ties on created_at, garbage cursors), the
change column and the CSV export, on the page and through the API."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import quote

import pytest
from django.db import connection

from balances import actions, history_queries
from balances.models import BalanceChange
from core.actors import Actor, ActorType
from core.keyset import Cursor, keyset_page, past
from tests.config.helpers import assert_error, body
from tests.factories import ServiceFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)


def change(
    service,
    *,
    at,
    currency="EUR",
    kind="updated",
    actor_type=ActorType.USER,
    label="otto",
    reason="",
    old="1",
    new="2",
    approved_by="",
    user=None,
):
    return BalanceChange.objects.create(
        service=service,
        currency=currency,
        kind=kind,
        actor_type=actor_type,
        actor_label=label,
        actor_user=user,
        old_available=Decimal(old) if old is not None else None,
        new_available=Decimal(new) if new is not None else None,
        reason=reason,
        approved_by_label=approved_by,
        created_at=at,
    )


def page_url(service, currency=None) -> str:
    base = f"/services/{service.public_id}/balances/"
    return f"{base}{currency}/history/" if currency else f"{base}history/"


def api_url(service, currency=None) -> str:
    base = f"/api/v1/services/{service.public_id}/balances"
    return f"{base}/{currency}/history" if currency else f"{base}/history"


def read_csv(response) -> list[dict[str, str]]:
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture
def cast(service, operator):
    """One change per kind of actor, at known moments, in EUR and USD."""
    return {
        "person": change(service, at=T0, label="otto", user=operator, reason="Opening float"),
        "sync": change(
            service,
            at=T0 + timedelta(hours=1),
            actor_type=ActorType.SYNC,
            label="sync:wise",
            reason="Provider says so",
        ),
        "payout": change(
            service,
            at=T0 + timedelta(hours=2),
            actor_type=ActorType.PAYOUT,
            label="payout:po_1",
            kind="payout",
        ),
        "approval": change(
            service,
            at=T0 + timedelta(days=1),
            label="ada",
            approved_by="bert",
            reason="Correction after the audit",
        ),
        "system": change(
            service,
            at=T0 + timedelta(days=2),
            currency="USD",
            actor_type=ActorType.SYSTEM,
            label="system",
        ),
    }


def ids_of(response) -> list[int]:
    return [c["id"] for c in body(response)["results"]]


# --- Filters -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, ["system", "approval", "payout", "sync", "person"]),
        ({"actorKind": "person"}, ["approval", "person"]),
        ({"actorKind": "sync"}, ["sync"]),
        ({"actorKind": "payout"}, ["payout"]),
        ({"actorKind": "approval"}, ["approval"]),
        ({"actorKind": "system"}, ["system"]),
        ({"actor": "SYNC:"}, ["sync"]),  # label contains, any case
        ({"actor": "otto"}, ["person"]),  # exact username (and label)
        ({"actor": "bert"}, ["approval"]),  # approvers count
        ({"currency": "usd"}, ["system"]),
        ({"reason": "AUDIT"}, ["approval"]),
        ({"from": "2026-11-28"}, ["system", "approval"]),
        ({"to": "2026-11-27"}, ["payout", "sync", "person"]),  # the whole day
        ({"from": "2026-11-27T18:30", "to": "2026-11-27T19:00:00Z"}, ["sync"]),
        ({"from": "2026-11-27T20:00:00+01:00", "to": "2026-11-27T19:00"}, ["sync"]),
    ],
)
def test_each_filter_of_the_service_history_api(viewer_api, service, cast, params, expected):
    response = viewer_api.get(api_url(service), params)

    assert response.status_code == 200, response.content
    assert ids_of(response) == [cast[name].pk for name in expected]


def test_the_page_filters_like_the_api(viewer_client, service, cast):
    response = viewer_client.get(page_url(service), {"actorKind": "sync", "reason": "provider"})

    assert response.status_code == 200
    assert [r.change.pk for r in response.context["rows"]] == [cast["sync"].pk]
    assert b"Provider says so" in response.content and b"Opening float" not in response.content


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "yesterday"}, "from"),
        ({"to": "2026-02-30"}, "to"),
        ({"from": "2026-11-28", "to": "2026-11-27"}, "to"),
        ({"actorKind": "alien"}, "actorKind"),
        ({"currency": "ZZZ"}, "currency"),
        ({"reason": "r" * 201}, "reason"),
        ({"actor": "x" * 1000}, "actor"),
        ({"cursor": "garbage"}, "cursor"),
    ],
)
def test_bad_filters_are_a_400_naming_the_parameter_and_a_form_error(
    viewer_api, viewer_client, service, cast, params, field
):
    error = assert_error(viewer_api.get(api_url(service), params), 400)
    assert field in error["details"], error

    page = viewer_client.get(page_url(service), params)
    assert page.status_code == 400
    assert page.context["form"].errors[field]
    assert f'id="id_{field}_error"'.encode() in page.content
    if field != "cursor":  # the cursor has no input; its error is shown above the table
        assert (
            f'aria-describedby="id_{field}_helptext id_{field}_error"'.encode() in (page.content)
            or f'aria-describedby="id_{field}_error"'.encode() in page.content
        )


def test_a_nul_in_a_filter_is_refused_before_any_query(viewer_api, service, cast):
    assert_error(viewer_api.get(api_url(service), {"reason": "a\x00b"}), 404)


@pytest.mark.parametrize("size", ["0", "-1", "abc", "1e3", "٣"])
def test_a_bad_page_size_is_a_400(viewer_api, service, cast, size):
    error = assert_error(viewer_api.get(api_url(service), {"pageSize": size}), 400)
    assert "pageSize" in error["details"]


def test_the_currency_filter_is_only_for_the_service_wide_history(viewer_client, service, cast):
    response = viewer_client.get(page_url(service, "EUR"), {"currency": "USD"})

    assert response.status_code == 200  # ignored: the page is the EUR history
    assert "currency" not in response.context["form"].fields
    assert len(response.context["rows"]) == 4


# --- Keyset pagination ---------------------------------------------------------------------------


@pytest.fixture
def ties(service):
    """Twelve changes, seven of them at the very same moment: the id settles their order."""
    rows = [change(service, at=T0 + timedelta(minutes=i), new=str(i)) for i in range(5)]
    rows += [change(service, at=T0 + timedelta(minutes=2), new=f"2{i}") for i in range(7)]
    return sorted(rows, key=lambda c: (c.created_at, c.pk), reverse=True)


def test_api_pages_forward_and_back_through_ties(viewer_api, service, ties):
    pages, response = [], viewer_api.get(api_url(service, "EUR"), {"pageSize": 5})
    while True:
        data = body(response)
        pages.append([c["id"] for c in data["results"]])
        if not data["next"]:
            break
        response = viewer_api.get(data["next"])

    assert [len(p) for p in pages] == [5, 5, 2]
    assert [i for p in pages for i in p] == [c.pk for c in ties]
    assert "pageSize=5" in data["previous"]

    back = []
    while data["previous"]:
        data = body(viewer_api.get(data["previous"]))
        back.insert(0, [c["id"] for c in data["results"]])
    assert back == pages[:-1]
    assert data["previous"] is None


def test_page_pages_forward_and_back_keeping_the_filters(viewer_client, service, ties, monkeypatch):
    monkeypatch.setattr(history_queries, "PAGE_SIZE", 4)
    first = viewer_client.get(page_url(service, "EUR"), {"actorKind": "person"})
    older = first.context["page"].older

    assert [r.change.pk for r in first.context["rows"]] == [c.pk for c in ties[:4]]
    assert f"actorKind=person&amp;cursor={quote(older, safe='/')}".encode() in first.content
    assert b"actorKind=person&amp;format=csv" in first.content  # the CSV link keeps them too

    second = viewer_client.get(page_url(service, "EUR"), {"actorKind": "person", "cursor": older})
    assert [r.change.pk for r in second.context["rows"]] == [c.pk for c in ties[4:8]]
    back = viewer_client.get(
        page_url(service, "EUR"),
        {"actorKind": "person", "cursor": second.context["page"].newer},
    )
    assert [r.change.pk for r in back.context["rows"]] == [c.pk for c in ties[:4]]
    assert back.context["page"].newer is None


def test_a_tampered_or_foreign_cursor_is_refused(viewer_api, viewer_client, service, ties):
    good = body(viewer_api.get(api_url(service, "EUR"), {"pageSize": 2}))["next"]
    cursor = good.split("cursor=")[1].split("&")[0]
    tampered = cursor[:-3] + ("AAA" if not cursor.endswith("AAA") else "BBB")
    foreign = Cursor("o", T0, ties[0].pk).encode("audit-log")

    for bad in (tampered, foreign, "x" * 5000):
        assert (
            "cursor"
            in assert_error(viewer_api.get(api_url(service, "EUR"), {"cursor": bad}), 400)[
                "details"
            ]
        )
        assert viewer_client.get(page_url(service, "EUR"), {"cursor": bad}).status_code == 400


def test_a_deep_page_probes_the_index(service):
    """EXPLAIN of a page 2 900 rows deep: an index scan bounded by the cursor, no sequential
    scan of the history and no sort of it."""
    other = ServiceFactory()
    BalanceChange.objects.bulk_create(
        BalanceChange(
            service=svc,
            currency=code,
            kind="updated",
            actor_type="user",
            actor_label="x",
            old_available=Decimal(i),
            new_available=Decimal(i + 1),
            created_at=T0 + timedelta(seconds=i // 3),
        )
        for svc in (service, other)
        for code in ("EUR", "USD")
        for i in range(3000)
    )
    with connection.cursor() as cur:
        cur.execute("ANALYZE balances_balancechange")
    qs = history_queries.filtered_history(service=service, currency="EUR", filters={})
    deep = qs.order_by("-created_at", "-pk")[2900]
    cursor = Cursor("o", deep.created_at, deep.pk)
    page = keyset_page(qs, cursor=cursor, size=50, salt=history_queries.CURSOR_SALT)
    assert len(page.rows) == 50

    ordered = qs.filter(past(cursor)).order_by("-created_at", "-pk")
    plan = ordered[:51].explain()

    assert "Index Scan using change_service_cur_idx on balances_balancechange" in plan, plan
    assert "Seq Scan on balances_balancechange" not in plan, plan


# --- Change column -------------------------------------------------------------------------------


def test_the_change_column_shows_signed_moves_with_the_currency_digits(
    viewer_client, service, operator
):
    actor = Actor.for_user(operator)
    actions.balance_create(service=service, currency="KWD", amount="10.5", actor=actor)
    actions.balance_update(
        service=service,
        currency="KWD",
        amount="7.25",
        expected_version=None,
        actor=actor,
        reason="fix",
    )
    actions.balance_delete(service=service, currency="KWD", actor=actor)

    response = viewer_client.get(page_url(service, "KWD"))
    deltas = [r.figures[0][3] for r in response.context["rows"]]

    assert deltas == [Decimal("-7.25"), Decimal("-3.25"), Decimal("10.5")]
    text = response.content.decode()
    assert "+10.500" in text and "\u22123.250" in text and "\u22127.250" in text
    assert '<th scope="col" class="num">+/\u2212</th>' in text and "<caption" in text


# --- CSV -----------------------------------------------------------------------------------------


def test_csv_parses_back_to_the_stored_values(viewer_client, viewer_api, service, operator):
    actor = Actor.for_user(operator)
    stored = {"JPY": "1250000", "KWD": "15000.125", "USDT_TRC20": "92233720.12345678"}
    for code, amount in stored.items():
        actions.balance_create(
            service=service,
            currency=code,
            amount=amount,
            actor=actor,
            reason='=HYPERLINK("http://x")',
        )
    actions.balance_update(
        service=service,
        currency="KWD",
        amount="-0.005",
        expected_version=None,
        actor=actor,
        reason="@SUM(A1)",
    )

    rows = read_csv(viewer_client.get(page_url(service), {"format": "csv"}))

    assert list(rows[0]) == history_queries.CSV_HEADER
    kwd = rows[0]
    assert (kwd["currency"], kwd["old_available"], kwd["new_available"]) == (
        "KWD",
        "15000.125",
        "-0.005",
    )
    assert kwd["change_available"] == "-15000.130"
    assert kwd["reason"] == "'@SUM(A1)"
    assert kwd["actor"] == "otto" and kwd["actor_type"] == "user"
    created = {r["currency"]: r for r in rows[1:]}
    for code, amount in stored.items():
        assert created[code]["new_available"] == amount
        assert created[code]["old_available"] == ""
        assert created[code]["reason"] == '\'=HYPERLINK("http://x")'
    stamp = datetime.fromisoformat(kwd["created_at"].replace("Z", "+00:00"))
    assert kwd["created_at"].endswith("Z") and stamp == BalanceChange.objects.first().created_at

    api_rows = read_csv(viewer_api.get(api_url(service), HTTP_ACCEPT="text/csv"))
    assert api_rows == rows


def test_csv_carries_the_filters_and_ignores_the_cursor(viewer_client, viewer_api, service, cast):
    page = read_csv(
        viewer_client.get(
            page_url(service), {"actorKind": "person", "format": "csv", "cursor": "ignored"}
        )
    )
    api = read_csv(viewer_api.get(api_url(service), {"actorKind": "person", "format": "csv"}))

    assert [r["actor"] for r in page] == ["ada", "otto"] == [r["actor"] for r in api]
    assert page[0]["approved_by"] == "bert"


def test_bad_filters_on_a_csv_export_are_the_json_error(viewer_api, service, cast):
    assert_error(viewer_api.get(api_url(service), {"from": "soon", "format": "csv"}), 400)


# --- Permissions and query counts --------------------------------------------------------------


def test_the_service_history_api_needs_the_history_permission(
    nobody, make_api_key, anonymous_api, service, cast
):
    from tests.conftest import api_client_with_key

    assert_error(anonymous_api.get(api_url(service)), 401)
    assert_error(api_client_with_key(make_api_key(nobody)).get(api_url(service)), 403)


def test_page_and_api_query_counts_do_not_depend_on_the_length_of_the_history(
    viewer_client, viewer_api, service, cast, django_assert_num_queries
):
    viewer_api.get(api_url(service))  # records the key's last use
    for i in range(1, 61):
        change(service, at=T0 - timedelta(minutes=i))
    cursor = Cursor("o", T0, 0).encode(history_queries.CURSOR_SALT)

    # 1 session; 2 user; 3 permissions (user's, groups') and groups (the header), one UNION;
    # 4 the service (connection and fee profile joined); 5 the page, sync runs joined; 6 the
    # open alerts badge (the navigation: counted into the cache, empty at a test's start).
    with django_assert_num_queries(6):
        response = viewer_client.get(page_url(service), {"actorKind": "person", "cursor": cursor})
    assert len(response.context["rows"]) == 50
    # 1 key + user; 2 permissions; 3 the ETag's validator (how many changes match, the
    # newest id); 4 the service; 5 the page.
    with django_assert_num_queries(5):
        response = viewer_api.get(api_url(service), {"cursor": cursor, "pageSize": 200})
    assert len(body(response)["results"]) == 60


def test_the_first_page_counts_the_matching_changes_and_deeper_pages_do_not(
    viewer_api, service, ties
):
    first = body(viewer_api.get(api_url(service, "EUR"), {"pageSize": 5}))
    assert first["count"] == 12
    deeper = body(viewer_api.get(first["next"]))
    assert "count" not in deeper
    filtered = body(viewer_api.get(api_url(service, "EUR"), {"pageSize": 5, "actor": "nobody"}))
    assert filtered["count"] == 0 and filtered["results"] == []


def test_numbered_pages_still_answer_as_before_cursors(viewer_api, service, ties):
    first = body(viewer_api.get(api_url(service, "EUR"), {"page": 1, "pageSize": 5}))
    second = body(viewer_api.get(api_url(service, "EUR"), {"page": 2, "pageSize": 5}))
    assert first["count"] == second["count"] == 12
    assert "page=2" in first["next"]
    assert [c["id"] for c in first["results"] + second["results"]] == [c.pk for c in ties[:10]]
    assert viewer_api.get(api_url(service, "EUR"), {"page": 9, "pageSize": 5}).status_code == 404
