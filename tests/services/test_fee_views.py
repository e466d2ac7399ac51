"""The Fee profiles pages: every page for every role, the calculator, the CRUD flows, the
refusal to delete a profile in use, and giving a service its profile."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.actors import Actor
from services.fees import actions as fee_actions
from services.models import AuditEntry, FeeProfile, FeeRule
from tests.factories import FeeProfileFactory, ServiceFactory

pytestmark = pytest.mark.django_db
D = Decimal
ROLES = ["anonymous", "nobody", "viewer", "operator", "admin"]
RANK = {role: i for i, role in enumerate(ROLES)}
ACTOR = Actor.system("tests")
EUR_RULE = {
    "operation": "payout",
    "currency": "EUR",
    "percentage": "1.5",
    "fixed_amount": "0.25",
    "minimum_fee": "0.50",
    "maximum_fee": "10.00",
    "minimum_payout_amount": "5.00",
}


def assert_access(response, role: str, minimum: str, ok: int = 200) -> None:
    if role == "anonymous":
        assert response.status_code == 302, response.status_code
        assert response["Location"].startswith("/accounts/login/")
    elif RANK[role] < RANK[minimum]:
        assert response.status_code == 403, (role, response.status_code)
    else:
        assert response.status_code == ok, (role, response.status_code, response.content[:500])


@pytest.fixture
def profile():
    return FeeProfileFactory(name="Standard", description="Default pricing", rules=[EUR_RULE])


@pytest.fixture
def rule(profile):
    return profile.rules.get()


# --- every page for every role ------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_reading_pages_are_for_viewers_and_above(clients, profile, role):
    for url in (
        "/fee-profiles/",
        f"/fee-profiles/{profile.pk}/",
        f"/fee-profiles/{profile.pk}/history/",
    ):
        assert_access(clients[role].get(url), role, "viewer")


@pytest.mark.parametrize("role", ROLES)
def test_editing_pages_are_for_admins(clients, profile, rule, role):
    pk = profile.pk
    pages = [
        "/fee-profiles/add/",
        f"/fee-profiles/{pk}/edit/",
        f"/fee-profiles/{pk}/delete/",
        f"/fee-profiles/{pk}/rules/add/",
        f"/fee-profiles/{pk}/rules/{rule.pk}/edit/",
        f"/fee-profiles/{pk}/rules/{rule.pk}/delete/",
    ]
    for url in pages:
        assert_access(clients[role].get(url), role, "admin")


@pytest.mark.parametrize("role", ROLES)
def test_writes_are_refused_below_admin_and_change_nothing(clients, profile, rule, role):
    pk = profile.pk
    client = clients[role]
    posts = [
        ("/fee-profiles/add/", {"name": "Other"}, 302),
        (f"/fee-profiles/{pk}/edit/", {"name": "Renamed", "version": 1}, 302),
        (f"/fee-profiles/{pk}/rules/add/", {"operation": "refund", "version": 2}, 302),
        (
            f"/fee-profiles/{pk}/rules/{rule.pk}/edit/",
            {**EUR_RULE, "percentage": "2", "version": 3},
            302,
        ),
        (f"/fee-profiles/{pk}/rules/{rule.pk}/delete/", {}, 302),
        (f"/fee-profiles/{pk}/delete/", {}, 302),
    ]
    for url, data, ok in posts:
        assert_access(client.post(url, data), role, "admin", ok=ok)
    if RANK[role] < RANK["admin"]:
        profile.refresh_from_db()
        assert (profile.name, profile.version, profile.rules.count()) == ("Standard", 1, 1)
        assert FeeProfile.objects.count() == 1
    else:
        assert list(FeeProfile.objects.values_list("name", flat=True)) == ["Other"]


@pytest.mark.parametrize("role", ROLES)
def test_assigning_a_profile_is_for_admins(clients, profile, role):
    service = ServiceFactory(name="Shop")
    url = f"/fee-profiles/assign/{service.public_id}/"
    assert_access(clients[role].get(url), role, "admin")
    response = clients[role].post(url, {"fee_profile": profile.pk})
    assert_access(response, role, "admin", ok=302)
    other = ServiceFactory(name="Other shop")
    response = clients[role].post(
        f"/fee-profiles/{profile.pk}/assign/", {"service": other.public_id}
    )
    assert_access(response, role, "admin", ok=302)
    service.refresh_from_db()
    other.refresh_from_db()
    expected = profile if role == "admin" else None
    assert service.fee_profile == expected and other.fee_profile == expected


def test_the_nav_link_is_shown_to_those_who_may_see_profiles(clients):
    assert 'href="/fee-profiles/"' in clients["viewer"].get("/services/").content.decode()


def test_unknown_profiles_and_rules_are_404(clients, profile):
    assert clients["admin"].get("/fee-profiles/999999/").status_code == 404
    assert clients["admin"].get(f"/fee-profiles/{profile.pk}/rules/999999/edit/").status_code == 404
    other = FeeProfileFactory(name="Other", rules=[EUR_RULE])
    foreign = other.rules.get()
    assert (
        clients["admin"].get(f"/fee-profiles/{profile.pk}/rules/{foreign.pk}/edit/").status_code
        == 404
    )


# --- the profile page ---------------------------------------------------------------------


def test_the_page_shows_the_formula_and_the_rules(clients, profile):
    page = clients["viewer"].get(f"/fee-profiles/{profile.pk}/").content.decode()
    assert "fee = percentage × amount + fixed, clamped to [minimum, maximum]" in page  # noqa: RUF001
    assert "rounded half-up" in page
    assert "1.5 % + 0.25, at least 0.50, at most 10.00" in page
    assert "USD" in page and "10.00 USD" in page  # the platform minimums


def test_the_calculator_prices_an_amount(clients, profile):
    url = f"/fee-profiles/{profile.pk}/"
    page = clients["viewer"].get(
        url, {"operation": "payout", "amount": "100.00", "currency": "EUR"}
    )
    text = page.content.decode()
    assert "A payout of <strong>100.00 EUR</strong> costs <strong" in text
    assert ">1.75 EUR</strong>" in text
    usd = clients["viewer"].get(url, {"operation": "payout", "amount": "100", "currency": "USD"})
    assert ">0.00 USD</strong>" in usd.content.decode()  # no USD rule: platform default
    bad = clients["viewer"].get(url, {"operation": "payout", "amount": "1.001", "currency": "EUR"})
    assert "at most 2 decimal places" in bad.content.decode()


def test_viewers_see_no_editing_buttons(clients, profile):
    page = clients["viewer"].get(f"/fee-profiles/{profile.pk}/").content.decode()
    assert "Add rule" not in page and f"/fee-profiles/{profile.pk}/edit/" not in page
    admin_page = clients["admin"].get(f"/fee-profiles/{profile.pk}/").content.decode()
    assert "Add rule" in admin_page and f"/fee-profiles/{profile.pk}/edit/" in admin_page


# --- CRUD ---------------------------------------------------------------------------------


def test_an_admin_creates_a_profile_and_adds_rules(clients):
    admin = clients["admin"]
    response = admin.post("/fee-profiles/add/", {"name": "Premium", "description": "VIP"})
    profile = FeeProfile.objects.get(name="Premium")
    assert response["Location"] == f"/fee-profiles/{profile.pk}/"
    response = admin.post(
        f"/fee-profiles/{profile.pk}/rules/add/",
        {**EUR_RULE, "currency": "", "maximum_fee": "", "version": profile.version},
    )
    assert response.status_code == 302
    rule = profile.rules.get()
    assert (rule.currency, rule.maximum_fee, rule.percentage) == ("", None, D("1.5"))
    assert AuditEntry.objects.filter(fee_profile=profile, actor_label="ada").count() == 2


def test_invalid_rule_input_is_shown_on_the_form(clients, profile):
    response = clients["admin"].post(
        f"/fee-profiles/{profile.pk}/rules/add/",
        {
            **EUR_RULE,
            "operation": "refund",
            "currency": "EUR",
            "fixed_amount": "0.001",
            "minimum_payout_amount": "",
        },
    )
    assert response.status_code == 400
    assert "at most 2 decimal places" in response.content.decode()
    duplicate = clients["admin"].post(f"/fee-profiles/{profile.pk}/rules/add/", EUR_RULE)
    assert (
        duplicate.status_code == 409
        and "already has a payout EUR rule" in duplicate.content.decode()
    )


@pytest.mark.parametrize(
    ("field", "typed"),
    [
        ("fixed_amount", "2.000,00"),  # a European thousands point: never read as 2.00
        ("maximum_fee", "1.000,00"),
        ("minimum_fee", "1,2,3.45"),  # commas that group nothing
        ("fixed_amount", "2,50"),  # a decimal comma
    ],
)
def test_a_figure_with_commas_that_group_no_thousands_is_refused(clients, profile, field, typed):
    response = clients["admin"].post(
        f"/fee-profiles/{profile.pk}/rules/add/",
        {**EUR_RULE, "operation": "refund", field: typed, "version": profile.version},
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert f'id="id_{field}_error"' in page or f"id_{field}" in page
    assert "decimal" in page.lower()
    assert not profile.rules.filter(operation="refund").exists()


def test_thousands_commas_are_read_as_operators_type_them(clients, profile):
    response = clients["admin"].post(
        f"/fee-profiles/{profile.pk}/rules/add/",
        {
            **EUR_RULE,
            "currency": "USD",
            "fixed_amount": "1,000.00",
            "maximum_fee": "12,500",
            "minimum_payout_amount": " 1 000.50 ",
            "version": profile.version,
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    rule = profile.rules.get(currency="USD")
    assert (rule.fixed_amount, rule.maximum_fee, rule.minimum_payout_amount) == (
        D("1000.00"),
        D("12500"),
        D("1000.50"),
    )


def test_the_calculator_refuses_a_negative_amount(clients, profile):
    page = (
        clients["viewer"]
        .get(
            f"/fee-profiles/{profile.pk}/",
            {"operation": "payout", "amount": "-1000", "currency": "EUR"},
        )
        .content.decode()
    )
    assert "The amount cannot be negative." in page
    assert "costs <strong" not in page


def test_a_stale_edit_is_refused_and_offers_the_current_version(clients, profile):
    fee_actions.fee_profile_update(profile=profile, actor=ACTOR, description="changed")
    response = clients["admin"].post(
        f"/fee-profiles/{profile.pk}/edit/", {"name": "Mine", "description": "", "version": 1}
    )
    assert response.status_code == 412
    profile.refresh_from_db()
    assert profile.name == "Standard"
    stale_rule = clients["admin"].post(
        f"/fee-profiles/{profile.pk}/rules/add/", {"operation": "refund", "version": 1}
    )
    assert stale_rule.status_code == 412
    assert 'name="version" value="2"' in stale_rule.content.decode()


def test_editing_a_rule_keeps_its_figures_in_the_form(clients, profile, rule):
    page = (
        clients["admin"].get(f"/fee-profiles/{profile.pk}/rules/{rule.pk}/edit/").content.decode()
    )
    assert 'value="1.5"' in page and 'value="0.25"' in page and 'value="10.00"' in page
    response = clients["admin"].post(
        f"/fee-profiles/{profile.pk}/rules/{rule.pk}/edit/",
        {**EUR_RULE, "percentage": "1.75", "version": 1},
    )
    assert response.status_code == 302
    rule.refresh_from_db()
    assert rule.percentage == D("1.75")


def test_deleting_a_rule(clients, profile, rule):
    response = clients["admin"].post(f"/fee-profiles/{profile.pk}/rules/{rule.pk}/delete/")
    assert response.status_code == 302 and not FeeRule.objects.exists()


def test_deleting_a_profile_in_use_is_refused_and_names_the_services(clients, profile):
    ServiceFactory(name="Alpha Shop", fee_profile=profile)
    ServiceFactory(name="Beta Shop", fee_profile=profile)
    page = clients["admin"].get(f"/fee-profiles/{profile.pk}/delete/").content.decode()
    assert "cannot be deleted" in page and "Alpha Shop" in page and "Beta Shop" in page
    assert "Confirm delete" not in page
    response = clients["admin"].post(f"/fee-profiles/{profile.pk}/delete/")
    assert response.status_code == 409 and "Alpha Shop" in response.content.decode()
    assert FeeProfile.objects.filter(pk=profile.pk).exists()


def test_deleting_an_unused_profile(clients, profile):
    response = clients["admin"].post(f"/fee-profiles/{profile.pk}/delete/")
    assert response["Location"] == "/fee-profiles/"
    assert not FeeProfile.objects.exists()


def test_history_lists_the_changes(clients, profile, rule):
    fee_actions.fee_rule_update(rule=rule, actor=ACTOR, **{**EUR_RULE, "percentage": "2"})
    page = clients["viewer"].get(f"/fee-profiles/{profile.pk}/history/").content.decode()
    assert "Fee rule changed" in page and "Fee profile created" in page
    assert "Percentage changed from 1.5 to 2" in page and "1.5 → 2" not in page


def test_the_assign_page_can_remove_a_profile(clients, profile):
    service = ServiceFactory(fee_profile=profile)
    response = clients["admin"].post(
        f"/fee-profiles/assign/{service.public_id}/", {"fee_profile": ""}
    )
    assert response.status_code == 302
    service.refresh_from_db()
    assert service.fee_profile is None
