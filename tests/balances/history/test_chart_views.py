"""The charts as pages render them: the balances page draws each currency's steps as SVG
(parsed here: points in time order, one vertex per step, one marker per change by kind) with a
table alternative holding the exact amounts; the overview draws the totals per currency; the
7/30/90 selector; who sees them; query counts that do not grow with currencies or services."""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission

from balances.actions import balance_create, balance_update
from balances.history import charts as chart_views
from core.actors import Actor
from tests.balances.history.chart_timeline import (
    NOW,
    chart_clock_fixture,  # noqa: F401 - the chart_clock fixture
    timeline_fixture,  # noqa: F401 - the timeline fixture
)
from tests.factories import PASSWORD, ServiceFactory, UserFactory

SVG = "{http://www.w3.org/2000/svg}"
MINUS = "\u2212"


def balances_url(service) -> str:
    return f"/services/{service.public_id}/balances/"


def charts_url(service) -> str:
    return f"/services/{service.public_id}/balances/charts/"


def charts_of(client, service, **params) -> str:
    """The charts section as the balances page loads it in place (htmx)."""
    response = client.get(charts_url(service), params, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    return response.content.decode()


def chart_section(page: str, dom_id: str) -> str:
    found = re.search(rf'<section class="chart" id="{dom_id}".*?</section>', page, re.S)
    assert found, f"no chart {dom_id}"
    return found.group(0)


def svg_of(section: str) -> ET.Element:
    found = re.search(r"<svg class=\"chart-svg\".*?</svg>", section, re.S)
    assert found
    return ET.fromstring(found.group(0))


def polylines(svg: ET.Element, line: str) -> list[list[tuple[float, float]]]:
    return [
        [tuple(map(float, p.split(","))) for p in el.get("points").split()]
        for el in svg.iter(f"{SVG}polyline")
        if el.get("data-line") == line
    ]


def table_rows(section: str) -> list[list[str]]:
    table = re.search(r'<table class="table chart-data">.*?</table>', section, re.S).group(0)
    body = re.search(r"<tbody>(.*?)</tbody>", table, re.S).group(1)
    return [
        [
            html.unescape(re.sub(r"<[^>]+>", "", c)).strip()
            for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
        ]
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]


def test_the_balances_page_draws_each_currency_step_by_step(viewer_client, timeline):
    page = charts_of(viewer_client, timeline.acme)
    eur = chart_section(page, "chart-EUR")
    svg = svg_of(eur)
    assert svg.get("role") == "img"
    assert svg.get("viewBox") == "0 0 400 196"
    assert svg.get("aria-labelledby") == "chart-EUR-title"
    assert svg.find(f"{SVG}title").text == "EUR balance, last 30 days"
    desc = svg.find(f"{SVG}desc").text
    assert "1,000.00 EUR at the start, 1,200.00 EUR at the end; 3 changes" in desc

    (available,) = polylines(svg, "available")
    # carried in, then a horizontal and a vertical edge per change, then on to now
    assert len(available) == 1 + 2 * 3 + 1
    xs = [x for x, _ in available]
    assert xs == sorted(xs) and xs[0] == 6.0 and xs[-1] == 394.0
    ys = [y for _, y in available]
    assert ys[0] == ys[1] and ys[2] == ys[3] and ys[4] == ys[5] and ys[6] == ys[7]
    assert ys[2] < ys[0]  # 1,250.50 is drawn above 1,000.00
    assert polylines(svg, "pending") and polylines(svg, "reserved")  # not zero in the window

    markers = [m.get("data-kind") for m in svg.iter(f"{SVG}path")]
    assert markers == ["manual", "sync", "payout"]
    labels = [t.text for t in svg.iter(f"{SVG}text")]
    # the highest and lowest values drawn (pending and reserved start at zero), exact
    assert labels == ["1,300.00 EUR", "0.00 EUR", "3 Nov", "18 Nov", "3 Dec"]


def test_the_table_alternative_holds_the_exact_amounts(viewer_client, timeline):
    page = charts_of(viewer_client, timeline.acme)
    eur = chart_section(page, "chart-EUR")
    assert ">EUR balance changes, last 30 days (times in UTC)</caption>" in eur
    assert '<th scope="col">Time (UTC)</th>' in eur
    m = timeline.moments
    rows = table_rows(eur)
    assert rows[0][3:] == ["1,000.00", "0.00", "0.00", "—"]
    assert rows[0][1].startswith("Carried in")
    assert rows[1] == [
        f"{m['acme_edit']:%Y-%m-%d %H:%M:%S}",
        "Updated · Manual change",
        "otto-charts",
        "1,250.50",
        "0.00",
        "0.00",
        "+250.50",
    ]
    assert rows[2][1:] == [
        "Synchronised · Provider sync",
        "sync:syncpay",
        "1,300.00",
        "25.00",
        "3.00",
        "+49.50",
    ]
    assert rows[3][1] == "Payout · Payout"
    assert rows[3][3:] == ["1,200.00", "25.00", "3.00", f"{MINUS}100.00"]

    kwd = chart_section(page, "chart-KWD")
    assert [r[3] for r in table_rows(kwd)] == ["5.125", "—", "0.001"]
    assert [r[6] for r in table_rows(kwd)] == ["—", f"{MINUS}5.125", "+0.001"]
    # deleted, then created again: two runs of the line, and no pending or reserved line
    svg = svg_of(kwd)
    assert [len(run) for run in polylines(svg, "available")] == [2, 2]
    assert polylines(svg, "pending") == []
    assert [m.get("data-kind") for m in svg.iter(f"{SVG}path")] == ["manual", "manual"]


def test_a_busy_balance_keeps_its_exact_line_but_lists_only_the_latest_changes(
    viewer_client, timeline, monkeypatch
):
    monkeypatch.setattr(chart_views, "DETAIL_LIMIT", 2)
    page = charts_of(viewer_client, timeline.acme)
    eur = chart_section(page, "chart-EUR")
    svg = svg_of(eur)
    (available,) = polylines(svg, "available")
    assert len(available) == 1 + 2 * 3 + 1  # every step still drawn
    assert list(svg.iter(f"{SVG}path")) == []  # but no marker
    assert "Too many changes to mark each one" in eur
    rows = table_rows(eur)
    assert [r[3] for r in rows] == ["1,000.00", "1,300.00", "1,200.00"]  # carried + latest 2
    assert "1 earlier change of this period is in the history." in eur


def test_the_period_selector_switches_the_window(viewer_client, timeline):
    url = balances_url(timeline.acme)
    # The page hands the window on to the section it loads in place (only a known one).
    page = viewer_client.get(url, {"days": "7"}).content.decode()
    assert f'hx-get="{charts_url(timeline.acme)}?days=7" hx-trigger="load"' in page
    week = charts_of(viewer_client, timeline.acme, days="7")
    assert 'href="?days=7" data-days="7" aria-current="true"' in week
    eur = chart_section(week, "chart-EUR")
    assert "EUR balance, last 7 days" in eur
    ((first, last),) = polylines(svg_of(eur), "available")
    assert first[0] == 6.0 and last[0] == 394.0 and first[1] == last[1]  # flat
    assert len(table_rows(eur)) == 1  # only the value carried in

    quarter = charts_of(viewer_client, timeline.acme, days="90")
    assert len(table_rows(chart_section(quarter, "chart-EUR"))) == 4  # created, 3 changes

    for bad in ("8", "-1", "abc", "9" * 300):  # (NUL is refused before any view: pathguard)
        response = viewer_client.get(url, {"days": bad})
        assert response.status_code == 200
        assert f'hx-get="{charts_url(timeline.acme)}?days=30"' in response.content.decode()
        assert 'data-days="30" aria-current="true"' in charts_of(
            viewer_client, timeline.acme, days=bad
        )


def test_a_user_who_may_not_read_the_history_sees_no_charts(db, client, timeline):
    user = UserFactory(username="cards-only")
    user.user_permissions.add(
        *Permission.objects.filter(
            codename__in=["view_service", "view_balance"],
            content_type__app_label__in=["services", "balances"],
        )
    )
    client.login(username="cards-only", password=PASSWORD)
    response = client.get(balances_url(timeline.acme))
    assert response.status_code == 200
    assert "Balances over time" not in response.content.decode()
    assert "/balances/charts/" not in response.content.decode()
    for headers in ({}, {"HTTP_HX_REQUEST": "true"}):
        assert client.get(charts_url(timeline.acme), **headers).status_code == 403


def test_anonymous_users_see_no_chart_but_the_login(client, timeline):
    for url in (balances_url(timeline.acme), charts_url(timeline.acme)):
        response = client.get(url, {"days": "7"})
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")


def test_without_javascript_the_charts_open_as_a_page_of_their_own(viewer_client, timeline):
    page = viewer_client.get(balances_url(timeline.acme)).content.decode()
    link = re.search(r'<a href="([^"]+)">Show the charts of the balances over time</a>', page)
    assert link and link.group(1) == charts_url(timeline.acme)
    assert '<section class="chart"' not in page  # loaded in place by htmx

    charts_page = viewer_client.get(link.group(1), {"days": "7"}).content.decode()
    assert "<h1>Balance charts</h1>" in charts_page and "Acme" in charts_page
    assert "EUR balance, last 7 days" in chart_section(charts_page, "chart-EUR")
    assert 'href="?days=90"' in charts_page  # the window links stay on this page
    assert f'href="{balances_url(timeline.acme)}?days=7"' in charts_page  # back, same window


def test_the_charts_reject_other_methods(viewer_client, timeline):
    assert viewer_client.post(charts_url(timeline.acme)).status_code == 405


@pytest.mark.parametrize("count", [1, 6])
def test_the_balances_page_costs_the_same_queries_for_1_or_6_charted_currencies(
    operator_client, chart_clock, django_assert_num_queries, count
):
    service = ServiceFactory()
    for code in ["EUR", "USD", "GBP", "JPY", "KWD", "CHF"][:count]:
        chart_clock.now = NOW - timedelta(days=40)
        balance_create(service=service, currency=code, amount="1", actor=Actor.system())
        chart_clock.now = NOW - timedelta(days=3)
        balance_update(
            service=service,
            currency=code,
            amount="2",
            expected_version=None,
            actor=Actor.system(),
            reason="r",
        )
    chart_clock.now = NOW
    # The section the balances page loads in place: 1 session, 2 user, 3 the user's
    # permissions (own, groups' and group names: one UNION), 4 service (joined), 5 balances
    # as of the window's start, 6 changes in the window.
    with django_assert_num_queries(6):
        response = operator_client.get(charts_url(service), HTTP_HX_REQUEST="true")
    assert response.content.decode().count('<section class="chart"') == count
    assert "<html" not in response.content.decode()


# --- the overview -------------------------------------------------------------------------


def test_the_overview_charts_the_totals_per_currency(viewer_client, timeline):
    page = viewer_client.get("/", {"days": "7"}).content.decode()
    assert "Totals over time" in page
    usdt = chart_section(page, "fleet-chart-USDT_TRC20")  # deleted since, still charted
    rows = table_rows(usdt)
    assert [r[0] for r in rows][:2] == ["End of 2026-11-26", "End of 2026-11-27"]
    assert rows[-1][0] == f"Now ({NOW:%Y-%m-%d %H:%M:%S})"
    # created on 30 Nov, deleted on 1 Dec
    assert [r[1] for r in rows] == ["0.00000000"] * 4 + ["0.12345678"] + ["0.00000000"] * 3
    assert [r[4] for r in rows][4:6] == ["+0.12345678", f"{MINUS}0.12345678"]

    eur = chart_section(page, "fleet-chart-EUR")
    assert [r[1] for r in table_rows(eur)] == ["1,207.00"] * 6 + ["1,208.50"] * 2
    (line,) = polylines(svg_of(eur), "available")
    assert len(line) == 8  # 7 day ends and now, joined point to point
    assert [x for x, _ in line] == sorted(x for x, _ in line)


def test_the_overview_keeps_the_period_when_filtering(viewer_client, timeline):
    page = viewer_client.get("/", {"days": "90", "currency": "EUR"}).content.decode()
    assert '<input type="hidden" name="days" value="90">' in page
    assert 'href="?currency=EUR&amp;days=7"' in page


@pytest.mark.parametrize("count", [1, 15])
def test_the_overview_costs_the_same_queries_with_history_for_1_or_15_services(
    viewer_client, chart_clock, django_assert_num_queries, count
):
    for service in ServiceFactory.create_batch(count):
        chart_clock.now = NOW - timedelta(days=10)
        balance_create(service=service, currency="EUR", amount="3.00", actor=Actor.system())
        balance_create(service=service, currency="USD", amount="4.00", actor=Actor.system())
    chart_clock.now = NOW
    # session, user, the user's permissions and groups (one UNION), totals, countries,
    # attention x3, the chart window's changes per currency and day, the open alerts count
    # (counted into the cache: the cache is empty at the start of a test)
    with django_assert_num_queries(10):
        page = viewer_client.get("/").content.decode()
    eur = chart_section(page, "fleet-chart-EUR")
    assert table_rows(eur)[-1][1] == f"{Decimal('3.00') * count:,.2f}"
    assert table_rows(eur)[0][1] == "0.00"
