"""No secret in any log line of a full run: sign-in (a wrong password, then the right one),
an API key used (and a wrong one), a provider connection set up with credentials, a sync that
succeeds and one that fails with the provider echoing the key, a payout created and moved on.
Every line is captured as production writes it (JSON, every logger, DEBUG and up) and parsed;
the password, the keys, the provider credential, the session id and the CSRF token never
appear, in any form the redaction knows."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from tests.config.helpers import send
from tests.core.observability.logcapture import json_log
from tests.factories import PASSWORD, BalanceFactory, ServiceFactory
from tests.provider_server import SYNCPAY_PATH, ProviderServer, Reply, syncpay_body

pytestmark = pytest.mark.django_db(transaction=True)

PROVIDER_KEY = "sk_live_provider_credential_5f4e3d2c1b"
WRONG_PASSWORD = "Wrong-Pa55word-guess!"
CSRF_INPUT = re.compile(rb'name="csrfmiddlewaretoken" value="([^"]+)"')


def sign_in(client: Client, username: str, password: str):
    page = client.get("/accounts/login/")
    token = CSRF_INPUT.search(page.content).group(1).decode()
    response = client.post(
        "/accounts/login/",
        {"username": username, "password": password, "csrfmiddlewaretoken": token},
    )
    return response, token


def test_a_full_run_logs_no_secret(admin, make_api_key, allow_listed):
    service = ServiceFactory(name="Secretive Ltd")
    BalanceFactory(service=service, currency="EUR")
    browser = Client(enforce_csrf_checks=True)
    raw_key = make_api_key(admin)
    wrong_key = "bo_" + "Z" * 43
    secrets: dict[str, str] = {
        "password": PASSWORD,
        "wrong password": WRONG_PASSWORD,
        "API key": raw_key,
        "wrong API key": wrong_key,
        "provider credential": PROVIDER_KEY,
    }
    api = Client(headers={"Authorization": f"Bearer {raw_key}"})
    sid = service.public_id

    with ProviderServer() as provider, json_log() as captured:
        allow_listed(provider.url)
        # Sign-in: refused, then accepted.
        refused, _ = sign_in(browser, admin.username, WRONG_PASSWORD)
        assert refused.status_code == 200  # the form again, with its error
        accepted, form_token = sign_in(browser, admin.username, PASSWORD)
        assert accepted.status_code == 302
        secrets["session id"] = browser.cookies["sessionid"].value
        secrets["CSRF cookie"] = browser.cookies["csrftoken"].value
        secrets["CSRF form token"] = form_token
        assert browser.get("/").status_code == 200

        # The API with a key, and with a key that does not exist.
        assert api.get("/api/v1/services").status_code == 200
        assert (
            Client(headers={"Authorization": f"Bearer {wrong_key}"})
            .get("/api/v1/services")
            .status_code
            == 401
        )

        # A provider connection with credentials, then a sync that works...
        response = send(
            api,
            "put",
            f"/api/v1/services/{sid}/provider",
            {
                "kind": "syncpay",
                "baseUrl": provider.url,
                "credentials": {"apiKey": PROVIDER_KEY},
                "createMissingBalances": True,
            },
        )
        assert response.status_code in (200, 201), response.content
        provider.reply(SYNCPAY_PATH, Reply(syncpay_body(("EUR", "900.00", "0.00"))))
        synced = api.post(f"/api/v1/services/{sid}/balances/sync")
        assert synced.json()["status"] == "succeeded", synced.content
        # ... and one that fails, the provider echoing the key in its error.
        provider.reply(
            SYNCPAY_PATH,
            Reply(
                {"error": {"code": "UNAUTHORIZED", "message": f"Invalid API key {PROVIDER_KEY}"}},
                status=401,
            ),
        )
        failed = api.post(f"/api/v1/services/{sid}/balances/sync")
        assert failed.json()["status"] == "failed", failed.content

        # A payout, created through the session (CSRF header) and processed with the key.
        created = browser.post(
            f"/api/v1/services/{sid}/payouts",
            {"currency": "EUR", "amount": "100.00", "destination": "IBAN DE89 3704"},
            content_type="application/json",
            headers={"X-CSRFToken": secrets["CSRF cookie"]},
        )
        assert created.status_code == 201, created.content
        payout_id = created.json()["payoutId"]
        assert api.post(f"/api/v1/payouts/{payout_id}/process").status_code == 200

    records = captured.records()  # every line is one JSON object
    text = captured.text
    for what, secret in secrets.items():
        assert secret not in text, f"the {what} appears in the log"
        assert secret.lower() not in text.lower(), f"the {what} appears in the log"
    # The run was really logged, with its ids: not an empty log passing by default.
    request_ids = {r["request_id"] for r in records if r["request_id"]}
    assert len(request_ids) >= 5
    assert any(r.get("sync_run_id") and r.get("provider") == "syncpay" for r in records)
    assert any(r.get("payout_id") == payout_id for r in records)
    assert any(r["logger"] == "django.request" for r in records)  # the 401s
