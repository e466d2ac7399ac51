"""Operators read words, not stored keys: actor labels, audit changes, provider figures, the
two "available" figures, refused deletions shown before they are tried, the connection shown
before it is edited, and the fee calculator.  Stored values stay as they are."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from balances.models import Balance, SyncRun
from balances.sync.execute import sync_give_up
from core import plain
from payouts.models import Payout
from services.fees import formula
from tests.factories import (
    BalanceFactory,
    FeeProfileFactory,
    FeeRuleFactory,
    PayoutFactory,
    ProviderConnectionFactory,
    ServiceFactory,
)
from tests.html_helpers import parse

# --- the words themselves (core/plain.py) -----------------------------------------------------


def test_actor_labels_read_as_words(db):
    assert plain.actor_text("sync:finix") == "Finix sync"
    assert plain.actor_text("sync:syncpay") == "SyncPay sync"
    assert plain.actor_text("payout:po_123") == "payout po_123"
    assert plain.actor_text("approvals:expiry") == "approval expiry"
    assert plain.actor_text("ada") == "ada"
    assert plain.actor_payout_id("payout:po_123") == "po_123"
    assert plain.actor_payout_id("sync:wise") == ""


def test_audit_changes_read_as_sentences(db):
    sentences = plain.change_sentences(
        {
            "kind": [None, "wise"],
            "base_url": ["https://api.wise.com", "https://api.sandbox.transferwise.tech"],
            "options": [{"profileId": "1"}, {"profileId": "16060", "currency": "EUR"}],
            "create_missing_balances": [True, False],
            "credentials": "changed: apiToken",
            "paused": [True, False],
            "fee_profile": ["Standard", None],
        }
    )
    assert sentences == [
        "Provider set to Wise",
        "Base URL changed from https://api.wise.com to https://api.sandbox.transferwise.tech",
        "Currency set to EUR",
        "Profile ID changed from 1 to 16060",
        "Create missing balances turned off",
        "Credentials changed: API token",
        "Scheduled updates resumed",
        "Fee profile removed (was Standard)",
    ]
    assert plain.change_sentences({"name": "Gone"}) == ["Name: Gone"]
    assert plain.change_sentences({"credentials": "bound"}) == [
        "Credentials kept for this provider and base URL"
    ]


def test_provider_figures_read_as_labelled_values():
    assert plain.figure_items(
        {"balanceIds": ["BL1", "BL2"], "posted": "1.000", "jars": [{"name": "Rent", "amount": "5"}]}
    ) == [("Balance IDs", "BL1, BL2"), ("Posted", "1.000"), ("Jars", "Rent 5")]
    assert plain.field_label("total_balance_usd") == "Total balance USD"
    assert plain.field_label("account_id") == "Account ID"


# --- pages -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_service_history_says_what_changed_in_the_connection(viewer_client):
    service = ServiceFactory()
    ProviderConnectionFactory(service=service, kind="wise", options={"profileId": "16060"})
    html = viewer_client.get(f"/services/{service.public_id}/history/").content.decode()
    assert "Provider set to Wise" in html and "Profile ID set to 16060" in html
    assert "profileId" not in html and "base_url" not in html and "None →" not in html
    assert "options:" not in html.lower()


@pytest.mark.django_db
def test_the_audit_log_uses_the_same_sentences(admin_client_role):
    service = ServiceFactory()
    ProviderConnectionFactory(service=service, kind="finix")
    html = admin_client_role.get("/audit/").content.decode()
    assert "Balance IDs set to BLfactory" in html and "balanceIds" not in html


@pytest.mark.django_db
def test_balance_cards_and_history_name_the_sync_and_link_the_payout(operator_client):
    service = ServiceFactory()
    BalanceFactory(service=service, currency="JPY", updated_by_label="sync:finix")
    payout = PayoutFactory(service=service, currency="EUR", status=Payout.Status.PAID)
    page = operator_client.get(f"/services/{service.public_id}/balances/").content.decode()
    doc = parse(page)
    assert "by Finix sync" in doc.by_id("balance-JPY").text
    eur = doc.by_id("balance-EUR")
    assert f"by payout {payout.public_id}" in eur.text
    links = [a.get("href") for a in eur.find_all("a")]
    assert f"/services/{service.public_id}/payouts/{payout.public_id}/" in links
    assert "sync:finix" not in page and f"payout:{payout.public_id}" not in page
    # Stored as it was.
    assert Balance.objects.get(service=service, currency="JPY").updated_by_label == "sync:finix"

    history = operator_client.get(f"/services/{service.public_id}/balances/EUR/history/")
    doc = parse(history.content)
    headers = [th.text for th in doc.find_all("th")]
    assert "Amount" in headers and "Figure" not in headers
    assert f'payouts/{payout.public_id}/"' in history.content.decode()


@pytest.mark.django_db
def test_the_payout_link_is_text_for_those_who_may_not_see_payouts(client, nobody):
    from django.contrib.auth.models import Permission

    nobody.user_permissions.add(Permission.objects.get(codename="view_balance"))
    nobody.user_permissions.add(Permission.objects.get(codename="view_service"))
    client.force_login(nobody)
    service = ServiceFactory()
    BalanceFactory(service=service, currency="EUR", updated_by_label="payout:po_abc")
    page = client.get(f"/services/{service.public_id}/balances/").content.decode()
    assert "by payout po_abc" in page and "/payouts/po_abc/" not in page


@pytest.mark.django_db
def test_sync_run_notes_name_the_provider_figures(viewer_client):
    service = ServiceFactory()
    run = SyncRun.objects.create(
        service=service,
        provider_kind="finix",
        trigger=SyncRun.Trigger.BUTTON,
        status=SyncRun.Status.SUCCEEDED,
        updated_count=1,
        finished_at=timezone.now(),
        result={
            "currencies": [
                {
                    "currency": "JPY",
                    "action": "updated",
                    "available": {"old": "100", "new": "120"},
                    "providerFigures": {"posted": "120", "balanceIds": ["BLsandboxJPY"]},
                }
            ]
        },
    )
    html = viewer_client.get(f"/services/{service.public_id}/sync-runs/{run.public_id}/")
    text = html.content.decode()
    assert "Finix also reports: Posted 120 · Balance IDs BLsandboxJPY" in text
    assert "balanceIds" not in text and "['BLsandboxJPY']" not in text
    assert '<th scope="col">Amount</th>' in text and ">Figure<" not in text


@pytest.mark.django_db
def test_a_run_nobody_will_retry_says_so_plainly():
    service = ServiceFactory()
    run = SyncRun.objects.create(
        service=service,
        provider_kind="syncpay",
        trigger=SyncRun.Trigger.SCHEDULE,
        status=SyncRun.Status.RUNNING,
        error_category="unavailable",
        error_message="SyncPay answered 503. — retrying (attempt 2 of 3)",
    )
    sync_give_up(run_public_id=run.public_id)
    run.refresh_from_db()
    assert run.error_message == (
        "SyncPay answered 503. No more attempts: no background worker is running to try "
        "again later."
    )
    assert "gave up" not in run.error_message and "in-process" not in run.error_message


# --- "Available" and "Available for payout" -------------------------------------------------


@pytest.mark.django_db
def test_both_available_figures_are_defined_the_same_way_everywhere(operator_client):
    service = ServiceFactory()
    PayoutFactory(service=service, currency="EUR")
    pages = [
        f"/services/{service.public_id}/balances/",
        f"/services/{service.public_id}/payouts/",
        "/",
        "/balances/",
    ]
    definitions = set()
    for path in pages:
        doc = parse(operator_client.get(path).content)
        terms = doc.by_id("figure-terms")
        assert terms is not None, path
        assert [dt.text for dt in terms.find_all("dt")] == ["Available", "Available for payout"]
        definitions.add(tuple(dd.text for dd in terms.find_all("dd")))
        described = [e for e in doc.find_all() if e.get("aria-describedby") == "figure-terms"]
        assert described, path
    assert len(definitions) == 1
    (available, for_payout) = definitions.pop()
    assert "provider" in available and "open payouts hold" in for_payout


# --- Delete shown disabled with the reason -----------------------------------------------------


@pytest.mark.django_db
def test_a_balance_that_cannot_be_deleted_says_why_on_its_card(admin_client_role):
    service = ServiceFactory()
    BalanceFactory(service=service, currency="EUR", pending=Decimal("5.00"))
    PayoutFactory(service=service, currency="KWD", amount=Decimal("1.000"), funds=Decimal("9"))
    BalanceFactory(service=service, currency="USD")
    doc = parse(admin_client_role.get(f"/services/{service.public_id}/balances/").content)

    eur = doc.by_id("balance-EUR")
    (button,) = [b for b in eur.find_all("button") if b.text == "Delete"]
    assert "disabled" in button.attrs
    reason = doc.by_id(button.get("aria-describedby"))
    assert reason.text == "Cannot be deleted: it has 5.00 EUR pending."
    assert not [a for a in eur.find_all("a") if a.text == "Delete"]

    kwd = doc.by_id("balance-KWD")
    reason = doc.by_id("delete-why-KWD")
    assert "open payouts hold 1.000 KWD of it" in reason.text
    (link,) = reason.find_all("a")
    assert link.get("href") == f"/services/{service.public_id}/payouts/?currency=KWD"
    assert link.text == "See the KWD payouts"
    assert kwd.find_all("button", disabled="")

    usd = doc.by_id("balance-USD")
    assert [a.get("href") for a in usd.find_all("a") if a.text == "Delete"] == [
        f"/services/{service.public_id}/balances/USD/delete/"
    ]
    # The action still refuses what the page shows disabled.
    refused = admin_client_role.post(f"/services/{service.public_id}/balances/EUR/delete/")
    assert refused.status_code in (400, 409)
    assert Balance.objects.filter(service=service, currency="EUR").exists()


@pytest.mark.django_db
def test_a_service_that_cannot_be_deleted_says_why_on_its_page(admin_client_role):
    service = ServiceFactory()
    BalanceFactory(service=service, currency="EUR")
    BalanceFactory(service=service, currency="USD")
    doc = parse(admin_client_role.get(f"/services/{service.public_id}/").content)
    reason = doc.by_id("delete-why")
    assert "it still has 2 balances" in reason.text
    assert f"/services/{service.public_id}/balances/" in [
        a.get("href") for a in reason.find_all("a")
    ]
    assert doc.find_all("button", disabled="")

    empty = ServiceFactory()
    doc = parse(admin_client_role.get(f"/services/{empty.public_id}/").content)
    assert doc.by_id("delete-why") is None
    assert f"/services/{empty.public_id}/delete/" in [a.get("href") for a in doc.find_all("a")]


@pytest.mark.django_db
def test_a_fee_profile_in_use_says_why_it_cannot_be_deleted(admin_client_role, viewer_client):
    profile = FeeProfileFactory()
    ServiceFactory(fee_profile=profile)
    doc = parse(admin_client_role.get(f"/fee-profiles/{profile.pk}/").content)
    reason = doc.by_id("delete-why")
    assert reason.text.startswith("Cannot be deleted: it is used by 1 service (listed below)")
    assert "give it another profile first" in reason.text
    assert [a.get("href") for a in reason.find_all("a")] == ["#services-using"]
    assert doc.by_id("services-using") is not None
    # Viewers see no Delete at all.
    assert (
        parse(viewer_client.get(f"/fee-profiles/{profile.pk}/").content).by_id("delete-why") is None
    )


# --- the connection: shown, edited on demand ---------------------------------------------------


@pytest.mark.django_db
def test_the_details_page_shows_the_connection_and_edits_it_on_demand(admin_client_role):
    service = ServiceFactory()
    ProviderConnectionFactory(service=service, kind="wise")
    doc = parse(admin_client_role.get(f"/services/{service.public_id}/").content)
    assert doc.by_id("provider-form") is None and doc.by_id("provider-form-card") is None
    section = doc.by_id("provider")
    assert "Wise" in section.text
    (edit,) = [a for a in section.find_all("a") if a.text == "Edit connection"]
    assert edit.get("href") == f"/services/{service.public_id}/provider/"

    form_page = admin_client_role.get(edit.get("href"))
    assert parse(form_page.content).by_id("provider-form") is not None


@pytest.mark.django_db
def test_the_connection_form_shows_its_errors_after_a_failed_save(admin_client_role):
    service = ServiceFactory()
    response = admin_client_role.post(
        f"/services/{service.public_id}/provider/", {"kind": "wise", "base_url": "ftp://x"}
    )
    assert response.status_code == 400
    doc = parse(response.content)
    (summary,) = doc.find_all("div", data_error_summary="")
    assert summary.find_all("a")
    url = doc.by_id("id_base_url")
    assert url.get("aria-invalid") == "true"
    assert doc.by_id("id_base_url_error").text


# --- lists, the fee calculator, the fixed amount -------------------------------------------------


@pytest.mark.django_db
def test_service_names_in_lists_are_links(viewer_client):
    service = ServiceFactory(name="Tokyo Games")
    doc = parse(viewer_client.get("/services/").content)
    names = [a for a in doc.find_all("a") if a.text == "Tokyo Games"]
    assert [a.get("href") for a in names] == [f"/services/{service.public_id}/"]


@pytest.mark.django_db
def test_the_calculator_opens_priced(viewer_client):
    profile = FeeProfileFactory()
    FeeRuleFactory(profile=profile, currency="EUR", percentage="1.5")
    doc = parse(viewer_client.get(f"/fee-profiles/{profile.pk}/").content)
    result = doc.by_id("quote-result")
    assert doc.by_id("id_amount").get("value") == "100.00"
    assert "A payout of 100.00 EUR costs 1.50 EUR." in result.text
    assert "Enter an amount" not in result.text


@pytest.mark.django_db
def test_the_calculator_answers_htmx_with_its_fragment_only(viewer_client):
    profile = FeeProfileFactory()
    FeeRuleFactory(profile=profile, currency="", percentage="0", fixed_amount="0.30")
    url = f"/fee-profiles/{profile.pk}/"
    htmx = {"HX-Request": "true"}
    kwd = viewer_client.get(
        url, {"operation": "payout", "amount": "10", "currency": "KWD"}, headers=htmx
    )
    text = kwd.content.decode().strip()
    assert kwd.status_code == 200
    assert "<html" not in text and "<main" not in text and "Fee calculator" not in text
    doc = parse(text)
    (root,) = [e for e in doc.children if e.tag != "#comment"]
    assert root.get("id") == "quote-result"
    assert "costs 0.300 KWD" in root.text

    jpy = viewer_client.get(
        url, {"operation": "payout", "amount": "1000", "currency": "JPY"}, headers=htmx
    )
    assert "costs 0 JPY" in parse(jpy.content).by_id("quote-result").text

    bad = viewer_client.get(
        url, {"operation": "payout", "amount": "1.0001", "currency": "EUR"}, headers=htmx
    )
    assert bad.status_code == 200  # swapped in place (htmx ignores 4xx answers)
    error = parse(bad.content).by_id("id_amount_error")
    assert error is not None and error.text.startswith("Amount: ")

    # Without JavaScript: the same GET is the whole page.
    full = viewer_client.get(url, {"operation": "payout", "amount": "10", "currency": "KWD"})
    assert "<html" in full.content.decode()
    assert "costs 0.300 KWD" in parse(full.content).by_id("quote-result").text


@pytest.mark.django_db
def test_the_fixed_amount_explains_what_it_means_in_each_currency(admin_client_role):
    profile = FeeProfileFactory()
    rule_form = parse(admin_client_role.get(f"/fee-profiles/{profile.pk}/rules/add/").content)
    help_text = rule_form.by_id("id_fixed_amount_helptext").text
    assert "0.30 means 0.30 EUR or 0.300 KWD" in help_text and "0 JPY" in help_text
    assert "id_fixed_amount_helptext" in rule_form.by_id("id_fixed_amount").get("aria-describedby")
    page = parse(admin_client_role.get(f"/fee-profiles/{profile.pk}/").content)
    assert "0.300 KWD" in page.by_id("fixed-amount-note").text
    # What the help says is what the formula does.
    for code, fee in (("EUR", "0.30"), ("KWD", "0.300"), ("JPY", "0")):
        quoted = formula.compute_fee(
            amount=Decimal("100"), currency=code, fixed_amount=Decimal("0.30")
        )
        assert str(quoted) == fee


def test_counts_take_the_right_number():
    assert plain.counted(1, "minute") == "1 minute"
    assert plain.counted("95", "minute") == "95 minutes"
    assert plain.counted(Decimal("1"), "failed run") == "1 failed run"
    assert plain.counted(3, "payout") == "3 payouts"
