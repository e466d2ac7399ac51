"""How the pages are wired for keyboards and screen readers, through the Django test client:
form errors tied to their inputs and summed up at the top, the skip link, captions and header
scopes, polite live regions, and the favicon."""

from __future__ import annotations

import pytest

from tests.factories import (
    FeeProfileFactory,
    FeeRuleFactory,
    PayoutFactory,
    ProviderConnectionFactory,
    ServiceFactory,
)
from tests.html_helpers import parse

pytestmark = pytest.mark.django_db


def _described_by(doc, element) -> list:
    ids = element.get("aria-describedby").split()
    found = [doc.by_id(i) for i in ids]
    assert None not in found, f"aria-describedby names a missing id: {ids}"
    return found


# --- form errors ---------------------------------------------------------------------------


def test_a_failed_save_ties_each_error_to_its_input(admin_client_role):
    response = admin_client_role.post(
        "/services/add/", {"name": "", "country": "XX", "status": "active"}
    )
    doc = parse(response.content)
    for name in ("name", "country"):
        field = doc.by_id(f"id_{name}")
        assert field.get("aria-invalid") == "true"
        described = _described_by(doc, field)
        error = doc.by_id(f"id_{name}_error")
        assert error in described and error.text
    assert "required" in doc.by_id("id_name_error").text
    # The status field is fine: neither invalid nor pointing at an error.
    status = doc.by_id("id_status")
    assert "aria-invalid" not in status.attrs and "_error" not in status.get("aria-describedby")


def test_help_text_and_error_are_both_read_with_the_input(admin_client_role):
    profile = FeeProfileFactory()
    response = admin_client_role.post(
        f"/fee-profiles/{profile.pk}/rules/add/",
        {"operation": "payout", "currency": "EUR", "fixed_amount": "1e5", "percentage": "1"},
    )
    assert response.status_code == 400
    doc = parse(response.content)
    fixed = doc.by_id("id_fixed_amount")
    described = _described_by(doc, fixed)
    assert [e.get("id") for e in described] == ["id_fixed_amount_helptext", "id_fixed_amount_error"]
    assert fixed.get("aria-invalid") == "true"


def test_the_error_summary_lists_each_error_as_a_link_to_its_field(admin_client_role):
    response = admin_client_role.post(
        "/services/add/", {"name": "", "country": "XX", "status": "active"}
    )
    doc = parse(response.content)
    (summary,) = doc.find_all("div", data_error_summary="")
    assert summary.get("role") == "alert" and summary.get("tabindex") == "-1"
    assert summary.find_all("h2")[0].text == "There are 2 problems"
    links = summary.find_all("a")
    assert [a.get("href") for a in links] == ["#id_name", "#id_country"]
    assert links[0].text.startswith("Name: ") and "required" in links[0].text
    for link in links:
        assert doc.by_id(link.get("href")[1:]) is not None


def test_one_error_is_one_problem_and_a_valid_form_has_no_summary(admin_client_role):
    one = parse(
        admin_client_role.post(
            "/services/add/", {"name": "", "country": "NG", "status": "active"}
        ).content
    )
    (summary,) = one.find_all("div", data_error_summary="")
    assert summary.find_all("h2")[0].text == "There is a problem"
    fresh = parse(admin_client_role.get("/services/add/").content)
    assert fresh.find_all("div", data_error_summary="") == []


def test_log_filters_use_the_same_error_ids(viewer_client):
    service = ServiceFactory()
    response = viewer_client.get(f"/services/{service.public_id}/balances/history/?from=nope")
    assert response.status_code == 400
    doc = parse(response.content)
    start = doc.by_id("id_from")
    assert start.get("aria-invalid") == "true"
    assert doc.by_id("id_from_error") in _described_by(doc, start)


# --- skip link, main, focus ring -------------------------------------------------------------


def test_the_skip_link_is_the_first_thing_to_focus_and_leads_to_main(viewer_client):
    doc = parse(viewer_client.get("/services/").content)
    (body,) = doc.find_all("body")
    focusable = [e for e in body.find_all() if e.tag in ("a", "button", "input", "select")]
    first = focusable[0]
    assert first.text == "Skip to main content" and first.get("href") == "#main"
    main = doc.by_id("main")
    assert main.tag == "main" and main.get("tabindex") == "-1"


def test_the_stylesheet_keeps_a_visible_focus_ring(client):
    from django.contrib.staticfiles import finders

    with open(finders.find("css/a11y.css"), encoding="utf-8") as handle:
        css = handle.read()
    assert ":focus-visible { outline: 3px solid" in css
    assert "outline: none" not in css.replace(
        "main:focus, main:focus-visible { outline: none; }", ""
    )


# --- tables ----------------------------------------------------------------------------------


def _tables_are_labelled(html: bytes) -> int:
    doc = parse(html)
    tables = doc.find_all("table")
    for table in tables:
        assert table.find_all("caption"), "a table without a caption"
        for th in table.find_all("th"):
            assert th.get("scope") in ("col", "row", "colgroup", "rowgroup"), th.text
    return len(tables)


def test_every_table_has_a_caption_and_scoped_headers(operator_client, admin_client_role):
    service = ServiceFactory(name="Lagos Retail")
    PayoutFactory(service=service, currency="EUR")
    ProviderConnectionFactory(service=service, kind="wise")
    profile = FeeProfileFactory()
    FeeRuleFactory(profile=profile, currency="", fixed_amount="0.30")
    pages = [
        "/services/",
        f"/services/{service.public_id}/history/",
        f"/services/{service.public_id}/payouts/",
        f"/services/{service.public_id}/balances/history/",
        f"/services/{service.public_id}/sync-runs/",
        f"/fee-profiles/{profile.pk}/",
        f"/fee-profiles/{profile.pk}/history/",
        "/account/api-keys/",
        "/",
    ]
    counted = 0
    for path in pages:
        response = operator_client.get(path, follow=True)
        assert response.status_code == 200, path
        counted += _tables_are_labelled(response.content)
    counted += _tables_are_labelled(admin_client_role.get("/alert-rules/").content)
    assert counted >= 7


# --- live regions ----------------------------------------------------------------------------


def test_sync_progress_and_results_are_announced_politely(operator_client):
    service = ServiceFactory()
    ProviderConnectionFactory(service=service)
    doc = parse(operator_client.get(f"/services/{service.public_id}/balances/").content)
    status = doc.by_id("sync-status")
    (region,) = doc.find_all("div", class_="sync-live")
    assert region.get("role") == "status" and region.get("aria-live") == "polite"
    assert status in region.find_all("div")
    # The region stays while htmx swaps #sync-status inside it: the fragment has no role of
    # its own that would nest a second live region.
    fragment = operator_client.get(
        f"/services/{service.public_id}/balances/sync-status/", headers={"HX-Request": "true"}
    ).content.decode()
    assert 'id="sync-status"' in fragment and "aria-live" not in fragment


def test_flash_messages_are_a_polite_status(operator_client):
    service = ServiceFactory()
    response = operator_client.post(
        f"/services/{service.public_id}/balances/add/",
        {"currency": "EUR", "amount": "10.00"},
        follow=True,
    )
    doc = parse(response.content)
    (messages,) = doc.find_all("div", class_="messages")
    assert messages.get("role") == "status" and messages.get("aria-live") == "polite"
    assert "EUR balance created" in messages.text


def test_the_fee_calculator_result_is_a_live_region(viewer_client):
    profile = FeeProfileFactory()
    doc = parse(viewer_client.get(f"/fee-profiles/{profile.pk}/").content)
    assert doc.by_id("quote-result").get("aria-live") == "polite"


# --- favicon ---------------------------------------------------------------------------------


def test_the_favicon_is_served_at_the_root_and_linked_from_every_page(client, viewer_client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/x-icon"
    assert response.content[:4] == b"\x00\x00\x01\x00"  # an ICO header
    assert "max-age=86400" in response["Cache-Control"]
    assert client.head("/favicon.ico").status_code == 200
    assert client.post("/favicon.ico").status_code == 405
    doc = parse(viewer_client.get("/services/").content)
    icons = [link.get("href") for link in doc.find_all("link", rel="icon")]
    assert any(href.endswith("favicon.svg") for href in icons)
    assert any(href.endswith("favicon.ico") for href in icons)
