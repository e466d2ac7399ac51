"""Every page carries the Content-Security-Policy and the Permissions-Policy, and no template
holds what that policy refuses (inline scripts, on* handlers, style attributes)."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.test import Client

from payouts.models import Payout
from services.models import FeeProfile
from tests.factories import BalanceFactory, ServiceFactory

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
CSP_DIRECTIVES = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


def directives(header: str) -> dict[str, str]:
    parts = [p.strip() for p in header.split(";") if p.strip()]
    return {p.split(" ", 1)[0]: p.split(" ", 1)[1] for p in parts}


@pytest.fixture
def world(db):
    service = ServiceFactory(name="Header Payments")
    BalanceFactory(service=service, currency="EUR", available=Decimal("500"))
    profile = FeeProfile.objects.create(name="Headers profile")
    payout = Payout.objects.create(
        service=service, currency="EUR", amount=Decimal("10"), destination="IBAN DE00 0000"
    )
    return service, profile, payout


def main_pages(service, profile, payout) -> list[str]:
    s = service.public_id
    return [
        "/services/",
        "/services/add/",
        f"/services/{s}/",
        f"/services/{s}/edit/",
        f"/services/{s}/balances/",
        f"/services/{s}/balances/add/",
        f"/services/{s}/sync-runs/",
        f"/services/{s}/payouts/",
        f"/services/{s}/payouts/add/",
        f"/services/{s}/payouts/{payout.public_id}/",
        "/fee-profiles/",
        f"/fee-profiles/{profile.pk}/",
        "/account/api-keys/",
        "/api/v1/docs/",
    ]


def assert_secure_headers(response, url: str) -> None:
    assert response.status_code == 200, (url, response.status_code)
    assert directives(response["Content-Security-Policy"]) == CSP_DIRECTIVES, url
    policy = response["Permissions-Policy"]
    for feature in ("camera", "microphone", "geolocation", "payment", "usb"):
        assert f"{feature}=()" in policy, url


def test_every_main_page_has_the_policies(world, admin_client_role):
    for url in main_pages(*world):
        assert_secure_headers(admin_client_role.get(url), url)


@pytest.mark.parametrize("url", ["/accounts/login/", "/accounts/password_reset/", "/admin/login/"])
def test_the_pages_before_login_have_the_policies(db, url):
    assert_secure_headers(Client().get(url), url)


def test_the_api_answers_carry_them_too(world, admin_api):
    service = world[0]
    response = admin_api.get(f"/api/v1/services/{service.public_id}/balances")
    assert "Content-Security-Policy" in response
    assert "Permissions-Policy" in response


def test_errors_carry_them(db, admin_client_role):
    response = admin_client_role.get("/services/srv_missing/")
    assert response.status_code == 404
    assert "Content-Security-Policy" in response


def test_no_template_has_inline_script_handlers_or_styles():
    offenders = []
    for path in TEMPLATES.rglob("*.html"):
        html = path.read_text()
        name = path.relative_to(TEMPLATES)
        for tag in re.findall(r"<script\b[^>]*>", html):
            if "src=" not in tag:
                offenders.append(f"{name}: inline {tag}")
        if re.search(r"<style\b", html):
            offenders.append(f"{name}: <style>")
        if re.search(r"""\son[a-z]+\s*=\s*["']""", html):
            offenders.append(f"{name}: on* handler")
        if re.search(r"""\sstyle\s*=\s*["']""", html):
            offenders.append(f"{name}: style attribute")
        if re.search(r"""\shx-on[:-]""", html):
            offenders.append(f"{name}: hx-on (evaluated code)")
    assert offenders == []


def test_htmx_is_told_not_to_inject_its_indicator_style(db):
    html = Client().get("/accounts/login/").content.decode()
    match = re.search(r"""<meta name="htmx-config" content='([^']*)'>""", html)
    assert match is not None
    assert json.loads(match.group(1))["includeIndicatorStyles"] is False
