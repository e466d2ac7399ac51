"""The Balances pages: cards, New balance, Edit, Delete, History — for every role, every
error path, CSRF, and a query count that does not grow with the number of balances."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from django.urls import resolve
from django.utils import timezone

from approvals.models import ApprovalRequest
from balances import actions, views
from balances.models import Balance, BalanceChange, BalanceReview, SyncRun
from core.actors import Actor
from core.money import currencies
from services.models import ProviderConnection
from tests.factories import BalanceFactory, ServiceFactory

pytestmark = pytest.mark.django_db

ROLES = ["anonymous", "nobody", "viewer", "operator", "admin"]
READERS = {"viewer", "operator", "admin"}
WRITERS = {"operator", "admin"}


def balances_url(service, suffix: str = "") -> str:
    return f"/services/{service.public_id}/balances/{suffix}"


def cards(response) -> dict[str, str]:
    """Card HTML per currency, in page order."""
    html = response.content.decode()
    found = re.findall(
        r'<article class="balance-card[^"]*"[^>]*data-currency="([^"]+)"[^>]*>(.*?)</article>',
        html,
        re.S,
    )
    return dict(found)


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def assert_redirects_to_login(response, path: str) -> None:
    assert response.status_code == 302
    parts = urlsplit(response["Location"])
    assert parts.path == "/accounts/login/"
    assert parse_qs(parts.query)["next"] == [path]


def _state(service):
    """Everything a refused request must leave alone."""
    return (
        sorted(
            Balance.objects.filter(service=service).values_list("currency", "available", "version")
        ),
        BalanceChange.objects.count(),
    )


# --- who may do what ---------------------------------------------------------------------

VIEWS = [
    # (suffix, methods, roles allowed, POST data a forger would send)
    ("", ["GET"], READERS, None),
    ("add/", ["GET", "POST"], WRITERS, {"currency": "GBP", "amount": "1.00"}),
    ("EUR/edit/", ["GET", "POST"], WRITERS, {"amount": "1.00", "reason": "x", "version": "1"}),
    ("EUR/delete/", ["GET", "POST"], WRITERS, {"version": "1"}),
    ("EUR/history/", ["GET"], READERS, None),
    ("history/", ["GET"], READERS, None),
]
MATRIX = [
    pytest.param(
        suffix, method, role, role in allowed, data, id=f"{method}-{suffix or 'list'}-{role}"
    )
    for suffix, methods, allowed, data in VIEWS
    for method in methods
    for role in ROLES
]


@pytest.mark.parametrize(("suffix", "method", "role", "allowed", "data"), MATRIX)
def test_every_balance_view_for_every_role(
    clients, service, eur_balance, suffix, method, role, allowed, data
):
    path = balances_url(service, suffix)
    before = _state(service)
    client = clients[role]

    response = client.get(path) if method == "GET" else client.post(path, data)

    if role == "anonymous":
        assert_redirects_to_login(response, path)
    elif not allowed:
        assert response.status_code == 403
        assert b"You may not do this" in response.content
    elif method == "GET":
        assert response.status_code == 200
    else:
        assert response.status_code == 302  # the write went through
    if method == "POST" and not allowed:
        assert _state(service) == before


def test_an_unknown_service_or_balance_is_404(operator_client, service, eur_balance):
    assert operator_client.get("/services/srv_doesnotexist/balances/").status_code == 404
    assert operator_client.get(balances_url(service, "GBP/edit/")).status_code == 404
    assert operator_client.get(balances_url(service, "GBP/delete/")).status_code == 404
    assert operator_client.get(balances_url(service, "GBP/history/")).status_code == 404
    # The numeric primary key is never an address.
    assert operator_client.get(f"/services/{service.pk}/balances/").status_code == 404
    # A NUL byte cannot reach PostgreSQL (it would be a 500).
    for suffix in ("EUR%00/edit/", "%00/delete/", "EUR%00/history/"):
        assert operator_client.get(balances_url(service, suffix)).status_code == 404, suffix


def test_viewer_sees_no_buttons_it_cannot_use(viewer_client, service, eur_balance):
    response = viewer_client.get(balances_url(service))
    html = response.content.decode()
    assert response.status_code == 200
    assert "New balance" not in html
    assert balances_url(service, "add/") not in html
    assert balances_url(service, "EUR/edit/") not in html
    assert balances_url(service, "EUR/delete/") not in html
    assert ">Edit<" not in html
    assert ">Delete<" not in html
    # Reading is allowed: history stays.
    assert balances_url(service, "EUR/history/") in html


@pytest.mark.parametrize("role", ["operator", "admin"])
def test_operators_see_new_balance_edit_and_delete(clients, service, eur_balance, role):
    html = clients[role].get(balances_url(service)).content.decode()
    assert f'href="{balances_url(service, "add/")}">New balance</a>' in html
    assert f'href="{balances_url(service, "EUR/edit/")}">Edit</a>' in html
    assert f'href="{balances_url(service, "EUR/delete/")}">Delete</a>' in html


# --- cards -------------------------------------------------------------------------------


def test_cards_are_sorted_by_currency_and_formatted_per_currency(viewer_client, service):
    for code, value in [
        ("USDT_TRC20", "512.00000001"),
        ("JPY", "5000"),
        ("USD", "8400"),
        ("KWD", "1234.567"),
        ("EUR", "12500.75"),
        ("GBP", "0"),
        ("USDT_ERC20", "500"),
    ]:
        BalanceFactory(service=service, currency=code, available=Decimal(value))

    found = cards(viewer_client.get(balances_url(service)))

    assert list(found) == ["EUR", "GBP", "JPY", "KWD", "USD", "USDT_ERC20", "USDT_TRC20"]
    expected = {
        "EUR": "12,500.75",
        "GBP": "0.00",
        "JPY": "5,000",
        "KWD": "1,234.567",
        "USD": "8,400.00",
        "USDT_ERC20": "500.00000000",
        "USDT_TRC20": "512.00000001",
    }
    for code, shown in expected.items():
        assert f'<span class="amount">{shown}</span>' in found[code], code
    assert "Euro" in found["EUR"]
    assert "Tether USD (TRC-20)" in found["USDT_TRC20"]


def test_a_negative_balance_is_shown_clearly(viewer_client, service):
    BalanceFactory(service=service, currency="USD", available=Decimal("-120.00"))
    response = viewer_client.get(balances_url(service))
    assert 'class="balance-card is-negative"' in response.content.decode()
    assert '<span class="amount negative">\u2212120.00</span>' in cards(response)["USD"]


def test_pending_and_reserved_are_shown_only_when_not_zero(viewer_client, service):
    BalanceFactory(service=service, currency="EUR", pending=Decimal("5.5"))
    BalanceFactory(service=service, currency="KWD", reserved=Decimal("0.125"))
    BalanceFactory(service=service, currency="USD")

    found = cards(viewer_client.get(balances_url(service)))

    assert "Pending" in found["EUR"] and "5.50" in found["EUR"]
    assert "Reserved" not in found["EUR"]
    assert "Reserved" in found["KWD"] and "0.125" in found["KWD"]
    assert "Pending" not in found["KWD"]
    assert "Pending" not in found["USD"] and "Reserved" not in found["USD"]


def test_a_card_says_when_it_last_changed_and_by_whom(operator_client, operator, service):
    actions.balance_create(
        service=service, currency="EUR", amount="1", actor=Actor.for_user(operator)
    )
    three_hours_ago = timezone.now() - timedelta(hours=3)
    Balance.objects.update(updated_at=three_hours_ago)
    card = cards(operator_client.get(balances_url(service)))["EUR"]
    when = re.search(
        r'Changed <time datetime="([^"]+)" title="([^"]+)">([^<]+)</time> by (\S+)<', card
    )
    assert when, card
    assert datetime.fromisoformat(when.group(1)) == three_hours_ago
    assert when.group(2) == f"{three_hours_ago:%Y-%m-%d %H:%M:%S} UTC"
    assert when.group(3).replace("\xa0", " ") == "3 hours ago"
    assert when.group(4) == "otto"


@pytest.mark.parametrize(
    ("role", "hint"),
    [
        ("viewer", "Ask an operator to add one."),
        ("operator", "Add one with <strong>New balance</strong>"),
    ],
)
def test_the_empty_state_explains_what_to_do(clients, service, role, hint):
    html = clients[role].get(balances_url(service)).content.decode()
    assert "No balances yet" in html
    assert hint in html


# --- query count -------------------------------------------------------------------------

CODES = [c.code for c in currencies.all_currencies() if c.code != "EUR"]


def _fill(service, count: int) -> None:
    Balance.objects.bulk_create(
        Balance(service=service, currency=code, available=Decimal("1.5"), updated_by_label="x")
        for code in ["EUR", *CODES][:count]
    )


def _waiting_on_eur(service) -> None:
    """What the EUR card shows beyond its figures: a failed last sync run (its summary links
    to the service), a sync review held back, an approval request waiting."""
    now = timezone.now()
    run = SyncRun.objects.create(
        service=service,
        provider_kind="wise",
        trigger=SyncRun.Trigger.SCHEDULE,
        status=SyncRun.Status.FAILED,
        started_at=now,
        finished_at=now,
        error_category="timeout",
        error_message="The provider did not answer within 10 seconds.",
    )
    eur = Balance.objects.get(service=service, currency="EUR")
    BalanceReview.objects.create(
        balance=eur,
        service=service,
        currency="EUR",
        manual_available=eur.available,
        manual_version=eur.version,
        manual_set_at=now,
        manual_set_by_label="otto",
        provider_available=Decimal("2.5"),
        sync_run=run,
    )
    ApprovalRequest.objects.create(
        kind=ApprovalRequest.Kind.BALANCE_UPDATE,
        service=service,
        currency="EUR",
        requested_by_label="vera",
        balance_version=eur.version,
        current_value=eur.available,
        proposed_value=Decimal("9000"),
        expires_at=now + timedelta(hours=1),
    )


@pytest.mark.parametrize("with_provider", [False, True], ids=["manual", "with-provider"])
@pytest.mark.parametrize("count", [1, 50])
def test_the_balances_page_costs_the_same_queries_for_1_or_50_balances(
    operator_client, django_assert_num_queries, count, with_provider
):
    service = ServiceFactory()
    if with_provider:
        ProviderConnection.objects.create(service=service, kind="wise")
    _fill(service, count)
    _waiting_on_eur(service)

    # 1 session, 2 user, 3 the user's permissions, own and their groups', and the names of
    # their groups (one UNION: the buttons, the navigation and the top bar),
    # 4 the service with its provider connection and fee profile joined and its latest sync
    # run (a subquery),
    # 5 the balances, each with what payouts hold, the approval request and the sync review
    # waiting on it (subqueries),
    # 6 the open alerts count of the navigation: counted once into the cache, it is read from
    # there afterwards.  The charts load in a request of their own (balance_charts).
    with django_assert_num_queries(6):
        response = operator_client.get(balances_url(service))
    # The same page again: the open alerts count comes from the cache (kept current by the
    # writes that change it); the approvals count always does.
    with django_assert_num_queries(5):
        again = operator_client.get(balances_url(service))

    assert response.status_code == 200
    assert len(cards(response)) == count
    assert cards(again) == cards(response)
    page = response.content.decode()
    assert "Update failed: " in page and "The provider did not answer" in page
    eur = cards(response)["EUR"]
    assert "Waiting for approval" in eur and "Waiting for review" in eur
    assert 'hx-get="/services/' in page and "/balances/charts/" in page


# --- New balance -------------------------------------------------------------------------


def test_new_balance_offers_only_currencies_the_service_lacks(
    operator_client, service, eur_balance
):
    html = operator_client.get(balances_url(service, "add/")).content.decode()
    assert '<option value="EUR"' not in html
    assert '<option value="USD">USD — US Dollar</option>' in html
    assert '<option value="USDT_TRC20"' in html


def test_new_balance_creates_a_card_with_a_success_message(operator_client, service):
    response = operator_client.post(
        balances_url(service, "add/"), {"currency": "KWD", "amount": "1,234.567"}, follow=True
    )
    assert response.redirect_chain == [(balances_url(service), 302)]
    assert "KWD balance created with 1,234.567." in messages_of(response)
    assert "1,234.567" in cards(response)["KWD"]
    entry = BalanceChange.objects.get()
    assert (entry.kind, entry.new_available, entry.actor_label) == (
        "created",
        Decimal("1234.567"),
        "otto",
    )


def test_new_balance_without_an_amount_opens_at_zero(operator_client, service):
    operator_client.post(balances_url(service, "add/"), {"currency": "JPY", "amount": ""})
    assert Balance.objects.get(service=service, currency="JPY").available == Decimal(0)


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"currency": "EUR", "amount": "5"}, "currency", "This service already has a EUR balance."),
        ({"currency": "eur", "amount": "5"}, "currency", "This service already has a EUR balance."),
        ({"currency": "ABC", "amount": "5"}, "currency", "ABC is not a known currency."),
        ({"currency": "", "amount": "5"}, "currency", "This field is required."),
        (
            {"currency": "GBP", "amount": "10.005"},
            "amount",
            "GBP amounts have at most 2 decimal places",
        ),
        ({"currency": "JPY", "amount": "1.5"}, "amount", "JPY amounts are whole numbers"),
        ({"currency": "USDT_TRC20", "amount": "0.123456789"}, "amount", "at most 8 decimal places"),
        ({"currency": "USD", "amount": "12,50"}, "amount", "Use a point as the decimal separator"),
        ({"currency": "USD", "amount": "lots"}, "amount", "is not a number"),
        ({"currency": "USD", "amount": "9" * 30}, "amount", "Amount is too large."),
    ],
)
def test_new_balance_errors_are_shown_on_the_form(
    operator_client, service, eur_balance, data, field, message
):
    before = _state(service)
    response = operator_client.post(balances_url(service, "add/"), data)
    assert response.status_code == 400
    assert message in " ".join(response.context["form"].errors[field])
    assert message.replace("'", "&#x27;") in response.content.decode()
    assert _state(service) == before


def test_new_balance_race_lost_to_another_operator_is_a_form_error(
    operator_client, service, monkeypatch
):
    # The form saw no EUR balance, but one appears before the insert: the database refuses.
    original = actions.balance_create_or_request

    def late(**kwargs):
        BalanceFactory(service=service, currency="EUR")
        return original(**kwargs)

    monkeypatch.setattr(views.actions, "balance_create_or_request", late)
    response = operator_client.post(
        balances_url(service, "add/"), {"currency": "EUR", "amount": "1"}
    )
    assert response.status_code == 400
    assert (
        f"{service.public_id} already has a EUR balance."
        in response.context["form"].errors["currency"]
    )
    assert Balance.objects.filter(service=service).count() == 1


# --- Edit --------------------------------------------------------------------------------


def test_edit_shows_the_current_amount_and_carries_the_version(
    operator_client, service, eur_balance
):
    html = operator_client.get(balances_url(service, "EUR/edit/")).content.decode()
    assert "Current balance: <strong>" in html
    assert '<span class="amount">100.00</span> EUR' in html
    assert 'name="amount" value="100.00"' in html
    assert 'type="hidden" name="version" value="1"' in html


def test_edit_applies_the_amount_at_once(operator_client, service, eur_balance):
    response = operator_client.post(
        balances_url(service, "EUR/edit/"),
        {"amount": "12,500.75", "reason": "Settlement", "version": "1"},
        follow=True,
    )
    assert "EUR balance set to 12,500.75." in messages_of(response)
    assert '<span class="amount">12,500.75</span>' in cards(response)["EUR"]
    eur_balance.refresh_from_db()
    assert (eur_balance.available, eur_balance.version) == (Decimal("12500.75"), 2)
    assert BalanceChange.objects.get().reason == "Settlement"


def test_edit_to_a_negative_amount_is_accepted(operator_client, service, eur_balance):
    operator_client.post(
        balances_url(service, "EUR/edit/"), {"amount": "-20", "reason": "Overdraft", "version": "1"}
    )
    eur_balance.refresh_from_db()
    assert eur_balance.available == Decimal("-20")


def test_edit_with_the_same_amount_says_unchanged(operator_client, service, eur_balance):
    response = operator_client.post(
        balances_url(service, "EUR/edit/"),
        {"amount": "100", "reason": "check", "version": "1"},
        follow=True,
    )
    assert "EUR balance unchanged (100.00)." in messages_of(response)
    assert not BalanceChange.objects.exists()


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"amount": "5", "reason": "", "version": "1"}, "reason", "This field is required."),
        ({"amount": "5", "reason": "   ", "version": "1"}, "reason", "This field is required."),
        (
            {"amount": "5.001", "reason": "r", "version": "1"},
            "amount",
            "EUR amounts have at most 2 decimal places",
        ),
        ({"amount": "", "reason": "r", "version": "1"}, "amount", "This field is required."),
        ({"amount": "five", "reason": "r", "version": "1"}, "amount", "is not a number"),
        ({"amount": "1e30", "reason": "r", "version": "1"}, "amount", "no exponent"),
        ({"amount": "5", "reason": "r" * 501, "version": "1"}, "reason", "at most 500 characters"),
        ({"amount": "5", "reason": "r", "version": ""}, "version", "This field is required."),
    ],
)
def test_edit_errors_are_shown_on_the_form(
    operator_client, service, eur_balance, data, field, message
):
    before = _state(service)
    response = operator_client.post(balances_url(service, "EUR/edit/"), data)
    assert response.status_code == 400
    assert message in " ".join(response.context["form"].errors[field])
    assert _state(service) == before


def test_edit_of_a_jpy_balance_refuses_decimals(operator_client, service):
    BalanceFactory(service=service, currency="JPY", available=Decimal(5000))
    response = operator_client.post(
        balances_url(service, "jpy/edit/"), {"amount": "1.5", "reason": "r", "version": "1"}
    )
    assert response.status_code == 400
    assert "JPY amounts are whole numbers" in response.content.decode()
    assert Balance.objects.get(currency="JPY").available == Decimal(5000)


def test_stale_edit_is_refused_with_the_current_value_and_overwrites_nothing(
    operator_client, service, eur_balance
):
    # The operator opens the form at version 1 ...
    page = operator_client.get(balances_url(service, "EUR/edit/")).content.decode()
    assert 'name="version" value="1"' in page
    # ... someone else saves meanwhile ...
    actions.balance_update(
        service=service,
        currency="EUR",
        amount="200",
        expected_version=1,
        actor=Actor.system("sync:wise"),
        reason="sync",
    )
    # ... and the operator's save is refused.
    response = operator_client.post(
        balances_url(service, "EUR/edit/"), {"amount": "150", "reason": "mine", "version": "1"}
    )

    assert response.status_code == 409
    html = response.content.decode()
    assert "changed by Wise sync after you opened it; it is now 200.00 EUR" in html
    assert "Nothing was overwritten" in html
    assert '<span class="amount">200.00</span> EUR' in html  # "Current balance"
    # What the operator typed stays; the form now carries the current version.
    assert 'name="amount" value="150"' in html
    assert 'name="version" value="2"' in html
    eur_balance.refresh_from_db()
    assert (eur_balance.available, eur_balance.version) == (Decimal("200"), 2)
    assert list(BalanceChange.objects.values_list("reason", flat=True)) == ["sync"]

    # Saving again from the refreshed form is a deliberate decision and goes through.
    operator_client.post(
        balances_url(service, "EUR/edit/"), {"amount": "150", "reason": "mine", "version": "2"}
    )
    eur_balance.refresh_from_db()
    assert (eur_balance.available, eur_balance.version) == (Decimal("150"), 3)


def test_edit_of_a_balance_deleted_meanwhile_says_so(
    operator_client, service, eur_balance, monkeypatch
):
    original = actions.balance_update_or_request  # what the page calls

    def deleted_first(**kwargs):
        actions.balance_delete(service=service, currency="EUR", actor=Actor.system("other"))
        return original(**kwargs)

    monkeypatch.setattr(views.actions, "balance_update_or_request", deleted_first)
    response = operator_client.post(
        balances_url(service, "EUR/edit/"), {"amount": "5", "reason": "r", "version": "1"}
    )
    assert response.status_code == 409
    assert f"{service.public_id} has no EUR balance." in response.content.decode()
    assert not Balance.objects.exists()


# --- Delete ------------------------------------------------------------------------------


def test_delete_confirmation_names_service_currency_and_amount(operator_client, service):
    BalanceFactory(service=service, currency="KWD", available=Decimal("1234.567"))
    html = operator_client.get(balances_url(service, "KWD/delete/")).content.decode()
    assert "Acme Payments" in html
    assert service.public_id in html
    assert "KWD — Kuwaiti Dinar" in html
    assert '<span class="amount">1,234.567</span> KWD' in html
    assert "Confirm delete" in html


def test_delete_removes_the_card_and_keeps_history_readable(operator_client, operator, service):
    actions.balance_create(
        service=service, currency="EUR", amount="7", actor=Actor.for_user(operator)
    )

    response = operator_client.post(
        balances_url(service, "EUR/delete/"), {"version": "1", "reason": "Closed"}, follow=True
    )

    assert "EUR balance deleted." in messages_of(response)
    assert "EUR" not in cards(response)
    assert not Balance.objects.exists()
    history = operator_client.get(balances_url(service, "EUR/history/"))
    assert history.status_code == 200
    html = history.content.decode()
    assert "this balance has been deleted" in html
    assert "Deleted" in html and "Created" in html and "Closed" in html
    assert "EUR" in operator_client.get(balances_url(service, "history/")).content.decode()


@pytest.mark.parametrize(
    ("figures", "reason"),
    [
        ({"pending": Decimal("5")}, "it has 5.00 EUR pending"),
        ({"reserved": Decimal("0.01")}, "it has 0.01 EUR reserved"),
        ({"pending": Decimal("-1"), "reserved": Decimal("2")}, "it has \u22121.00 EUR pending"),
    ],
)
def test_delete_with_pending_or_reserved_funds_is_refused_with_the_reason(
    operator_client, service, figures, reason
):
    BalanceFactory(service=service, currency="EUR", **figures)
    page = operator_client.get(balances_url(service, "EUR/delete/")).content.decode()
    assert "This balance cannot be deleted" in page
    assert reason in page
    assert "Confirm delete" not in page

    response = operator_client.post(balances_url(service, "EUR/delete/"), {"version": "1"})

    assert response.status_code == 409
    assert reason in response.content.decode()
    assert Balance.objects.filter(service=service, currency="EUR").exists()
    assert not BalanceChange.objects.exists()


def test_delete_of_a_balance_changed_meanwhile_is_refused(operator_client, service, eur_balance):
    actions.balance_update(
        service=service,
        currency="EUR",
        amount="3",
        expected_version=1,
        actor=Actor.system("sync:wise"),
        reason="sync",
    )
    response = operator_client.post(balances_url(service, "EUR/delete/"), {"version": "1"})
    assert response.status_code == 409
    html = response.content.decode()
    assert "it is now 3.00 EUR" in html
    assert '<span class="amount">3.00</span> EUR' in html
    assert Balance.objects.filter(pk=eur_balance.pk).exists()


def test_delete_without_the_confirmation_fields_is_refused(operator_client, service, eur_balance):
    response = operator_client.post(balances_url(service, "EUR/delete/"), {})
    assert response.status_code == 409
    assert "The confirmation was incomplete" in response.content.decode()
    assert Balance.objects.filter(pk=eur_balance.pk).exists()


# --- History -----------------------------------------------------------------------------


def test_history_lists_every_change_with_time_actor_values_and_reason(
    viewer_client, operator, service
):
    actor = Actor.for_user(operator)
    actions.balance_create(
        service=service, currency="JPY", amount="5000", actor=actor, reason="Opening"
    )
    actions.balance_update(
        service=service,
        currency="JPY",
        amount="4000",
        expected_version=1,
        actor=actor,
        reason="Chargeback 88213",
    )
    actions.balance_create(service=service, currency="EUR", amount="1", actor=actor)

    html = viewer_client.get(balances_url(service, "JPY/history/")).content.decode()

    assert "JPY balance history" in html
    assert "Chargeback 88213" in html and "Opening" in html
    assert (
        '<span class="amount">5,000</span>' in html and '<span class="amount">4,000</span>' in html
    )
    assert "otto" in html
    assert "Time (UTC)" in html
    assert "EUR" not in re.sub(r"<[^>]+>", " ", html.split("<table", 1)[1])
    # The service-wide history has both currencies.
    everything = viewer_client.get(balances_url(service, "history/")).content.decode()
    assert balances_url(service, "EUR/history/") in everything
    assert balances_url(service, "JPY/history/") in everything


# --- CSRF --------------------------------------------------------------------------------


@pytest.fixture
def csrf_client(operator):
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    return client


FORMS = [
    ("add/", {"currency": "GBP", "amount": "1"}),
    ("EUR/edit/", {"amount": "5", "reason": "r", "version": "1"}),
    ("EUR/delete/", {"version": "1"}),
]


@pytest.mark.parametrize(("suffix", "data"), FORMS, ids=["add", "edit", "delete"])
def test_every_balance_form_needs_its_csrf_token(csrf_client, service, eur_balance, suffix, data):
    path = balances_url(service, suffix)
    before = _state(service)

    forged = csrf_client.post(path, data)
    assert forged.status_code == 403
    assert _state(service) == before

    page = csrf_client.get(path)
    assert 'name="csrfmiddlewaretoken"' in page.content.decode()
    token = csrf_client.cookies["csrftoken"].value
    genuine = csrf_client.post(path, {**data, "csrfmiddlewaretoken": token})
    assert genuine.status_code == 302
    assert _state(service) != before


# --- navigation --------------------------------------------------------------------------


def test_list_row_action_and_service_details_open_the_same_balances_view(viewer_client, service):
    target = balances_url(service)
    listing = viewer_client.get("/services/").content.decode()
    details = viewer_client.get(f"/services/{service.public_id}/").content.decode()
    assert f'href="{target}">Balances</a>' in listing
    assert f'href="{target}">Balances</a>' in details
    assert resolve(target).func is views.balance_list
    page = viewer_client.get(target)
    assert page.status_code == 200
    assert "<h1>Balances</h1>" in page.content.decode()
