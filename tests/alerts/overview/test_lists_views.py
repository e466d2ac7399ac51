"""The lists across services the overview leads to: the balances behind a total, every
service's sync runs, and the payouts waiting on someone with their bulk actions."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages

from balances.models import Balance, SyncRun
from payouts.models import Payout
from tests.factories import BalanceFactory, PayoutFactory, ServiceFactory

pytestmark = pytest.mark.django_db


def row_ids(response, attribute: str) -> list[str]:
    return re.findall(rf'<tr data-{attribute}="([^"]+)"', response.content.decode())


# --- balances behind a total --------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("/balances/", ("viewer", "operator", "admin")),
        ("/sync-runs/", ("viewer", "operator", "admin")),
        ("/payouts/", ("viewer", "operator", "admin")),
    ],
)
def test_the_lists_across_services_by_role(clients, url, allowed):
    assert clients["anonymous"].get(url)["Location"] == f"/accounts/login/?next={url}"
    assert clients["nobody"].get(url).status_code == 403
    for role in allowed:
        assert clients[role].get(url).status_code == 200, role


@pytest.fixture
def eur_world():
    a = ServiceFactory(name="Alpha")
    b = ServiceFactory(name="Bravo")
    c = ServiceFactory(name="Charlie")
    BalanceFactory(service=a, currency="EUR", available=Decimal("10.10"), pending=Decimal("1"))
    BalanceFactory(service=b, currency="EUR", available=Decimal("20.20"))
    BalanceFactory(service=c, currency="EUR", available=Decimal("0.00"))
    BalanceFactory(service=a, currency="USD", available=Decimal("99.00"), pending=Decimal("5"))
    PayoutFactory(service=b, currency="EUR", amount=Decimal("5.00"))
    return a, b, c


def test_the_balances_behind_a_currency_total(viewer_client, eur_world):
    a, b, c = eur_world

    response = viewer_client.get("/balances/", {"currency": "EUR"})

    assert row_ids(response, "service") == [a.public_id, b.public_id, c.public_id]
    html = response.content.decode()
    assert "<h1>Balances in EUR</h1>" in html
    # Each row leads to its service's balances; the footer adds them up as the overview does.
    assert f'href="/services/{a.public_id}/balances/#balance-EUR"' in html
    footer = re.search(r"<tfoot>(.*?)</tfoot>", html, re.S).group(1)
    assert "3 services" in footer
    amounts = re.findall(r'<span class="amount[^"]*">([^<]+)</span>', footer)
    assert amounts == ["30.30", "1.00", "0.00", "5.00", "25.30"]


@pytest.mark.parametrize(
    ("figure", "expected"),
    [("pending", ["a"]), ("held", ["b"]), ("available_for_payout", ["a", "b"]), ("", "abc")],
)
def test_the_balances_behind_a_figure_total_are_those_where_it_is_not_zero(
    viewer_client, eur_world, figure, expected
):
    names = {s.public_id: key for key, s in zip("abc", eur_world, strict=True)}
    response = viewer_client.get("/balances/", {"currency": "EUR", "figure": figure})
    assert [names[sid] for sid in row_ids(response, "service")] == list(expected)


def test_every_balance_without_a_currency_and_no_total(viewer_client, eur_world):
    response = viewer_client.get("/balances/")
    assert len(row_ids(response, "service")) == 4
    assert "<tfoot>" not in response.content.decode()


def test_the_balances_list_is_paginated_and_keeps_its_filters(viewer_client):
    for service in ServiceFactory.create_batch(51):
        BalanceFactory(service=service, currency="KES", pending=Decimal("1.00"))
    first = viewer_client.get("/balances/", {"currency": "KES", "figure": "pending"})
    assert len(row_ids(first, "service")) == 50
    assert 'href="?currency=KES&amp;figure=pending&amp;page=2"' in first.content.decode()
    second = viewer_client.get("/balances/", {"currency": "KES", "figure": "pending", "page": 2})
    assert len(row_ids(second, "service")) == 1


def test_the_balances_list_costs_the_same_queries_whatever_the_rows(
    viewer_client, django_assert_num_queries
):
    for service in ServiceFactory.create_batch(30):
        BalanceFactory(service=service, currency="EUR")
    with django_assert_num_queries(8):
        # 1-3. session, user, the user's and groups' permissions and the user's groups
        #   (base.html), one UNION
        # 4. currencies with balances (the filter)
        # 5. the page's row count
        # 6. the page's balances, with service and connection joined
        # 7. the total of the currency
        # 8. the number of open alerts (base.html's navigation; counted into the cache, which
        #   is empty at the start of a test)
        response = viewer_client.get("/balances/", {"currency": "EUR"})
    assert len(row_ids(response, "service")) == 30


# --- sync runs across services ------------------------------------------------------------


def _run(service, *, status="succeeded", kind="syncpay", trigger="schedule", day=1, **fields):
    at = datetime(2026, 3, day, 12, 0, tzinfo=UTC)
    return SyncRun.objects.create(
        service=service,
        provider_kind=kind,
        trigger=trigger,
        status=status,
        created_at=at,
        started_at=at,
        finished_at=at + timedelta(seconds=2),
        **fields,
    )


@pytest.fixture
def runs():
    a = ServiceFactory(name="Alpha")
    b = ServiceFactory(name="Bravo")
    return {
        "a1": _run(a, day=1),
        "a2": _run(a, status="failed", day=2, error_category="auth", error_message="Bad key."),
        "b3": _run(b, kind="wise", trigger="button", day=3),
        "b4": _run(b, kind="wise", status="failed", trigger="api", day=4),
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, ["b4", "b3", "a2", "a1"]),
        ({"status": "failed"}, ["b4", "a2"]),
        ({"provider": "wise"}, ["b4", "b3"]),
        ({"trigger": "button"}, ["b3"]),
        ({"date_from": "2026-03-02", "date_to": "2026-03-03"}, ["b3", "a2"]),
        ({"date_to": "2026-03-01"}, ["a1"]),
        ({"status": "failed", "provider": "syncpay"}, ["a2"]),
        # An unreadable date is ignored; the other filters still apply.
        ({"date_from": "yesterday", "trigger": "api"}, ["b4"]),
    ],
)
def test_sync_runs_of_every_service_filter(viewer_client, runs, query, expected):
    names = {run.public_id: key for key, run in runs.items()}
    response = viewer_client.get("/sync-runs/", query)
    assert [names[r] for r in row_ids(response, "run")] == expected


def test_a_failed_run_links_to_its_service_and_its_detail(viewer_client, runs):
    failed = runs["a2"]
    html = viewer_client.get("/sync-runs/", {"status": "failed"}).content.decode()
    service_id = failed.service.public_id
    assert f'href="/services/{service_id}/balances/" class="service-link">Alpha</a>' in html
    assert f'href="/services/{service_id}/sync-runs/{failed.public_id}/"' in html
    assert "Bad key." in html


# --- payouts waiting ----------------------------------------------------------------------


@pytest.fixture
def waiting():
    """Oldest first: p1 (EUR, Alpha, pending), p2 (USD, Bravo, processing), p3 (EUR, Bravo,
    pending); p4 is paid and p5 canceled."""
    a = ServiceFactory(name="Alpha")
    b = ServiceFactory(name="Bravo")
    made = {
        "p1": PayoutFactory(service=a, currency="EUR", amount=Decimal("10.00")),
        "p2": PayoutFactory(
            service=b, currency="USD", amount=Decimal("20.00"), status="processing"
        ),
        "p3": PayoutFactory(service=b, currency="EUR", amount=Decimal("30.00")),
        "p4": PayoutFactory(service=a, currency="EUR", amount=Decimal("1.00"), status="paid"),
        "p5": PayoutFactory(service=a, currency="EUR", amount=Decimal("2.00"), status="canceled"),
    }
    base = datetime(2026, 3, 1, tzinfo=UTC)
    for offset, payout in enumerate(made.values()):
        Payout.objects.filter(pk=payout.pk).update(created_at=base + timedelta(hours=offset))
        payout.refresh_from_db()
    return made


def test_payouts_waiting_are_the_open_ones_oldest_first(viewer_client, waiting):
    names = {p.public_id: key for key, p in waiting.items()}
    response = viewer_client.get("/payouts/")
    assert [names[p] for p in row_ids(response, "payout")] == ["p1", "p2", "p3"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"currency": "EUR"}, ["p1", "p3"]),
        ({"service": "bravo"}, ["p2", "p3"]),
        ({"service": "bravo", "currency": "EUR"}, ["p3"]),
    ],
)
def test_payouts_waiting_filter_by_currency_and_service(viewer_client, waiting, query, expected):
    names = {p.public_id: key for key, p in waiting.items()}
    if query.get("service") == "bravo":
        query = {**query, "service": waiting["p2"].service.public_id}
    response = viewer_client.get("/payouts/", query)
    assert [names[p] for p in row_ids(response, "payout")] == expected


def test_viewers_see_no_payout_actions(viewer_client, waiting):
    html = viewer_client.get("/payouts/").content.decode()
    assert 'name="payout"' not in html
    assert "/payouts/bulk/" not in html
    assert "Start processing" not in html


def test_operators_see_the_actions_each_state_allows(operator_client, waiting):
    html = operator_client.get("/payouts/").content.decode()
    p1, p2 = waiting["p1"], waiting["p2"]
    row1 = re.search(rf'<tr data-payout="{p1.public_id}".*?</tr>', html, re.S).group(0)
    row2 = re.search(rf'<tr data-payout="{p2.public_id}".*?</tr>', html, re.S).group(0)
    assert re.findall(r'btn-ghost" href="[^"]+"[^>]*>([^<]+)</a>', row1) == [
        "Start processing",
        "Mark failed",
        "Cancel payout",
    ]
    assert re.findall(r'btn-ghost" href="[^"]+"[^>]*>([^<]+)</a>', row2) == [
        "Mark paid",
        "Mark failed",
        "Cancel payout",
    ]
    assert f'value="{p1.public_id}:{p1.version}"' in row1
    assert 'action="/payouts/bulk/"' in html


def _messages(response) -> list[tuple[str, str]]:
    return [(m.level_tag, str(m)) for m in get_messages(response.wsgi_request)]


def test_a_bulk_action_applies_to_each_payout_on_its_own(operator_client, waiting):
    p1, p2, p3 = waiting["p1"], waiting["p2"], waiting["p3"]
    # p3 moved after the list was shown (its version there is the old one).
    shown_p3 = p3.version
    Payout.objects.filter(pk=p3.pk).update(version=p3.version + 1)

    response = operator_client.post(
        "/payouts/bulk/",
        {
            "action": "process",
            "payout": [
                f"{p1.public_id}:{p1.version}",
                f"{p2.public_id}:{p2.version}",
                f"{p3.public_id}:{shown_p3}",
            ],
            "currency": "",
            "service": "",
        },
    )

    assert response.status_code == 302 and response["Location"] == "/payouts/"
    statuses = dict(
        Payout.objects.filter(pk__in=[p1.pk, p2.pk, p3.pk]).values_list("public_id", "status")
    )
    assert statuses == {
        p1.public_id: "processing",
        p2.public_id: "processing",  # was already; refused, not changed
        p3.public_id: "pending",
    }
    got = _messages(response)
    assert got[0] == ("success", f"Payout {p1.public_id} is now processing.")
    assert got[1][0] == "error" and got[1][1].startswith(f"{p2.public_id} refused: ")
    assert "cannot become processing" in got[1][1]
    assert got[2][0] == "error" and "changed after you opened it" in got[2][1]
    assert len(got) == 3


def test_bulk_pay_debits_each_balance_and_keeps_the_filters(operator_client, waiting):
    p2 = waiting["p2"]
    balance = Balance.objects.get(service=p2.service, currency="USD")
    before = balance.available

    response = operator_client.post(
        "/payouts/bulk/",
        {
            "action": "pay",
            "payout": [f"{p2.public_id}:{p2.version}"],
            "currency": "USD",
            "service": p2.service.public_id,
        },
    )

    assert response["Location"] == f"/payouts/?currency=USD&service={p2.service.public_id}"
    balance.refresh_from_db()
    assert balance.available == before - p2.total
    assert balance.held == Decimal(0)
    assert _messages(response) == [("success", f"Payout {p2.public_id} is now paid.")]


def test_bulk_fail_records_the_reason(operator_client, waiting):
    p1 = waiting["p1"]
    operator_client.post(
        "/payouts/bulk/",
        {"action": "fail", "payout": [f"{p1.public_id}:{p1.version}"], "reason": "IBAN closed"},
    )
    p1.refresh_from_db()
    assert (p1.status, p1.failure_reason) == ("failed", "IBAN closed")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"action": "process"}, "Tick at least one payout."),
        ({"action": "explode", "payout": ["po_x:1"]}, "Action: Select a valid choice."),
        ({"action": "process", "payout": ["po_x"]}, "The selection is not one this page sent."),
        ({"action": "process", "payout": ["srv_x:1"]}, "The selection is not one this page sent."),
        (
            {"action": "process", "payout": [f"po_{i}:1" for i in range(101)]},
            "Tick at most 100 payouts at once.",
        ),
    ],
)
def test_a_bulk_request_that_does_not_validate_changes_nothing(
    operator_client, waiting, data, message
):
    before = list(Payout.objects.order_by("pk").values_list("status", "version"))
    response = operator_client.post("/payouts/bulk/", data)
    assert response.status_code == 302
    assert any(text.startswith(message) for _level, text in _messages(response))
    assert list(Payout.objects.order_by("pk").values_list("status", "version")) == before


def test_an_unknown_payout_is_refused_and_the_others_go_ahead(operator_client, waiting):
    p1 = waiting["p1"]
    response = operator_client.post(
        "/payouts/bulk/",
        {"action": "cancel", "payout": ["po_doesnotexist0:1", f"{p1.public_id}:{p1.version}"]},
    )
    got = _messages(response)
    assert got[0] == ("error", "po_doesnotexist0 refused: There is no payout po_doesnotexist0.")
    assert got[1] == ("success", f"Payout {p1.public_id} is now canceled.")


@pytest.mark.parametrize("role", ["anonymous", "nobody", "viewer"])
def test_only_operators_may_act_in_bulk(clients, waiting, role):
    p1 = waiting["p1"]
    response = clients[role].post(
        "/payouts/bulk/", {"action": "cancel", "payout": [f"{p1.public_id}:{p1.version}"]}
    )
    assert response.status_code == (302 if role == "anonymous" else 403)
    p1.refresh_from_db()
    assert p1.status == "pending"


def test_bulk_is_a_post(operator_client):
    assert operator_client.get("/payouts/bulk/").status_code == 405
