"""The Alerts and Alert rules pages: who may see and do what, filters, acknowledging, the
rule forms and the count of open alerts in the navigation."""

from __future__ import annotations

from decimal import Decimal

import pytest

from alerts.actions import alert_acknowledge
from alerts.models import Alert, AlertRule
from balances import actions as balance_actions
from tests.factories import BalanceFactory, ServiceFactory

pytestmark = pytest.mark.django_db
D = Decimal
ROLES = ["anonymous", "nobody", "viewer", "operator", "admin"]
RANK = {role: i for i, role in enumerate(ROLES)}


def assert_access(response, role: str, minimum: str, ok: int = 200) -> None:
    """Anonymous: the login page; below ``minimum``: 403; otherwise ``ok``."""
    if role == "anonymous":
        assert response.status_code == 302, response.status_code
        assert response["Location"].startswith("/accounts/login/")
    elif RANK[role] < RANK[minimum]:
        assert response.status_code == 403, (role, response.status_code)
    else:
        assert response.status_code == ok, (role, response.status_code, response.content[:500])


@pytest.fixture
def world(watched, make_rule, operator_actor):
    rule = make_rule(service=watched, threshold="100.00")
    balance_actions.balance_update(
        service=watched,
        currency="USD",
        amount="60.00",
        expected_version=None,
        actor=operator_actor,
        reason="t",
    )
    return {"rule": rule, "alert": Alert.objects.get(), "service": watched}


@pytest.mark.parametrize("role", ROLES)
def test_alerts_and_rules_are_for_viewers_and_above(clients, world, role):
    assert_access(clients[role].get("/alerts/"), role, "viewer")
    assert_access(clients[role].get(f"/alerts/{world['alert'].public_id}/"), role, "viewer")
    assert_access(clients[role].get("/alert-rules/"), role, "viewer")


@pytest.mark.parametrize("role", ROLES)
def test_acknowledging_is_for_operators_and_above(clients, world, role):
    url = f"/alerts/{world['alert'].public_id}/"
    response = clients[role].post(url, {"note": "looking"})
    assert_access(response, role, "operator", ok=302)
    expected = "acknowledged" if RANK[role] >= RANK["operator"] else "open"
    assert Alert.objects.get().status == expected


@pytest.mark.parametrize("role", ROLES)
def test_rules_are_managed_by_admins(clients, world, role):
    rule = world["rule"]
    assert_access(clients[role].get("/alert-rules/add/"), role, "admin")
    assert_access(clients[role].get(f"/alert-rules/{rule.public_id}/edit/"), role, "admin")
    assert_access(clients[role].get(f"/alert-rules/{rule.public_id}/delete/"), role, "admin")
    response = clients[role].post(f"/alert-rules/{rule.public_id}/delete/")
    assert_access(response, role, "admin", ok=302)
    assert AlertRule.objects.exists() == (role != "admin")


def test_the_viewer_sees_no_acknowledge_form_and_no_rule_buttons(clients, world):
    page = clients["viewer"].get(f"/alerts/{world['alert'].public_id}/").content.decode()
    assert "Acknowledge</button>" not in page and "Operators acknowledge" in page
    rules = clients["viewer"].get("/alert-rules/").content.decode()
    assert "Add rule" not in rules and "/edit/" not in rules


def test_the_operator_acknowledges_with_a_note(clients, world, operator):
    url = f"/alerts/{world['alert'].public_id}/"
    assert "Acknowledge</button>" in clients["operator"].get(url).content.decode()
    assert clients["operator"].post(url, {"note": ""}).status_code == 400
    response = clients["operator"].post(url, {"note": "Treasury tops up at 14:00"}, follow=True)
    page = response.content.decode()
    assert "acknowledged" in page and "Treasury tops up at 14:00" in page
    alert = Alert.objects.get()
    assert (alert.status, alert.acknowledged_by) == ("acknowledged", operator)
    assert "Acknowledge</button>" not in page  # only open alerts


def test_the_list_filters(clients, world, operator_actor):
    other = ServiceFactory(name="Other Co")
    BalanceFactory(service=other, currency="EUR", available=D("1"))
    from alerts import actions

    actions.rule_create(
        service=None, currency="EUR", kind="available_below", threshold="5", actor=operator_actor
    )
    client = clients["viewer"]
    usd, eur = world["alert"].public_id, Alert.objects.get(currency="EUR").public_id

    def listed(query: str) -> set[str]:
        page = client.get(f"/alerts/?{query}").content.decode()
        return {pid for pid in (usd, eur) if f'data-alert="{pid}"' in page}

    assert listed("") == {usd, eur}
    assert listed("currency=EUR") == {eur}
    assert listed(f"service={world['service'].public_id}") == {usd}
    assert listed("status=resolved") == set()
    assert listed("status=open&kind=available_below") == {usd, eur}
    assert listed("kind=stale") == set()
    assert listed("status=bogus") == {usd, eur}  # an invalid filter is ignored
    assert "No alert matches these filters." in client.get("/alerts/?kind=stale").content.decode()


def test_history_stays_listed_after_resolution(clients, world, operator_actor):
    balance_actions.balance_update(
        service=world["service"],
        currency="USD",
        amount="500.00",
        expected_version=None,
        actor=operator_actor,
        reason="t",
    )
    page = clients["viewer"].get("/alerts/?status=resolved").content.decode()
    assert f'data-alert="{world["alert"].public_id}"' in page
    detail = clients["viewer"].get(f"/alerts/{world['alert'].public_id}/").content.decode()
    assert "500.00 USD" in detail and "60.00 USD" in detail


def test_the_navigation_counts_open_alerts_for_those_who_may_see_them(
    clients, world, operator_actor, django_capture_on_commit_callbacks
):
    page = clients["viewer"].get("/alert-rules/").content.decode()
    assert 'data-open-alerts="1"' in page
    assert 'href="/alerts/"' in page
    # The count is kept in the cache by the writes that change it, once committed.
    with django_capture_on_commit_callbacks(execute=True):
        alert_acknowledge(alert=world["alert"], actor=operator_actor, note="on it")
    assert "data-open-alerts" not in clients["viewer"].get("/alert-rules/").content.decode()
    nobody_page = clients["nobody"].get("/services/").content.decode()
    assert 'href="/alerts/"' not in nobody_page


def test_the_alert_list_queries_do_not_grow_with_the_rows(
    clients, world, operator_actor, django_assert_num_queries
):
    from alerts import actions

    for i in range(10):
        BalanceFactory(service=ServiceFactory(name=f"S{i}"), currency="USD", available=D("1"))
    actions.rule_create(
        service=None, currency="USD", kind="available_below", threshold="5", actor=operator_actor
    )
    assert Alert.objects.count() == 11
    client = clients["viewer"]
    client.get("/alerts/")  # warm the session (and the navigation's count, in the cache)
    # 1 the session; 2 the user; 3 the user's permissions (own and through groups) and groups
    # (the top bar), one UNION; 4 the currencies and 5 the services of the filters; 6 the
    # page's COUNT and 7 its rows with service, rule and acknowledging user joined.  The
    # open-alert count of the navigation comes from the cache.  The same with one alert as
    # with eleven.
    with django_assert_num_queries(7):
        assert client.get("/alerts/").status_code == 200


def test_adding_a_rule_through_the_form(clients, world):
    client = clients["admin"]
    response = client.post(
        "/alert-rules/add/",
        {
            "service": "",
            "currency": "USD",
            "kind": "stale",
            "threshold": "12.50",  # ignored: not this kind's
            "stale_minutes": "90",
            "failures": "",
            "emails": "ops@example.com\ncfo@example.com",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    rule = AlertRule.objects.get(kind="stale")
    assert (rule.service, rule.stale_minutes, rule.threshold) == (None, 90, None)
    assert rule.emails == ["ops@example.com", "cfo@example.com"]


@pytest.mark.parametrize("typed", ["0", "0.00", "-0"])
def test_a_zero_threshold_is_a_threshold_not_a_blank(clients, world, typed):
    """ "Available below 0": an alert as soon as a balance goes negative."""
    response = clients["admin"].post(
        "/alert-rules/add/",
        {
            "service": "",
            "currency": "GBP",
            "kind": "available_below",
            "threshold": typed,
            "stale_minutes": "",
            "failures": "",
            "emails": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    rule = AlertRule.objects.get(currency="GBP")
    assert rule.threshold == Decimal("0") and rule.threshold is not None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kind": "available_below", "threshold": ""}, "Give the threshold amount."),
        ({"kind": "available_below", "threshold": "1.005"}, "at most 2 decimal places"),
        ({"kind": "available_below", "threshold": "1,5"}, "decimal separator"),
        ({"kind": "stale", "stale_minutes": "soon"}, "whole number"),
        ({"kind": "available_below", "threshold": "1", "emails": "nope"}, "not an email"),
        ({"kind": "available_below", "threshold": "1", "service": "srv_gone"}, "Select a valid"),
    ],
)
def test_a_bad_rule_form_says_why_and_saves_nothing(clients, world, fields, message):
    data = {"service": "", "currency": "EUR", "stale_minutes": "", "failures": "", "emails": ""}
    data.update(fields)
    response = clients["admin"].post("/alert-rules/add/", data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert AlertRule.objects.count() == 1


def test_a_duplicate_rule_is_refused_on_the_form(clients, world):
    response = clients["admin"].post(
        "/alert-rules/add/",
        {
            "service": world["service"].public_id,
            "currency": "USD",
            "kind": "available_below",
            "threshold": "5.00",
        },
    )
    assert response.status_code == 400
    assert "There is already a available_below rule" in response.content.decode()


def test_editing_a_rule_shows_its_values_and_saves(clients, world):
    rule = world["rule"]
    page = clients["admin"].get(f"/alert-rules/{rule.public_id}/edit/").content.decode()
    assert 'value="100.00"' in page
    response = clients["admin"].post(
        f"/alert-rules/{rule.public_id}/edit/",
        {
            "service": world["service"].public_id,
            "currency": "USD",
            "kind": "available_below",
            "threshold": "50.00",
            "emails": "",
        },
    )
    assert response.status_code == 302
    rule.refresh_from_db()
    assert rule.threshold == D("50.00")
    assert Alert.objects.get().status == "resolved"  # 60.00 is not below 50.00


def test_the_delete_confirmation_says_what_happens(clients, world):
    rule = world["rule"]
    page = clients["admin"].get(f"/alert-rules/{rule.public_id}/delete/").content.decode()
    assert "1 unresolved alert will be resolved" in page
    assert "stay in the history" in page
