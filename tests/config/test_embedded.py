"""The embedded default that `make run` serves: no DATABASE_URL (an SQLite file), tasks
in-process, demo services wired to the built-in sandboxes.  Run for real: migrate, load the
demo data and serve with runserver in a subprocess, then use it over HTTP like an operator
and a REST client would."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def embedded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("embedded")
    port = _free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "SQLITE_PATH": str(tmp / "db.sqlite3"),
        "DEMO_LOGIN_FILE": str(tmp / "demo-login.txt"),
        "PYTHONUNBUFFERED": "1",
        # As `make run PORT=...` exports it: where the app's own sandboxes answer.
        "PORT": str(port),
    }
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run(
        [*manage, "migrate", "--noinput", "-v0"], env=env, check=True, cwd=ROOT, timeout=180
    )
    loaded = subprocess.run(
        [*manage, "demo_data", "--port", str(port)],
        env=env,
        check=True,
        cwd=ROOT,
        timeout=120,
        capture_output=True,
        text=True,
    )
    token = (
        subprocess.run(
            [*manage, "create_api_token", "operator", "--name", "embedded test"],
            env=env,
            check=True,
            cwd=ROOT,
            timeout=60,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    server = subprocess.Popen(
        [*manage, "runserver", f"127.0.0.1:{port}", "--noreload"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(base + "/accounts/login/", timeout=2)
            break
        except httpx.HTTPError:
            time.sleep(0.3)
    else:
        server.kill()
        pytest.fail("runserver did not start:\n" + (server.stdout.read() if server.stdout else ""))
    yield {
        "base": base,
        "printed": loaded.stdout,
        "token": token,
        "passwords": tmp / "demo-login.txt",
    }
    server.terminate()
    server.wait(10)


def _login(embedded, username: str) -> httpx.Client:
    password = dict(line.split() for line in embedded["passwords"].read_text().splitlines())[
        username
    ]
    assert f"{username}" in embedded["printed"] and password in embedded["printed"]
    client = httpx.Client(base_url=embedded["base"], timeout=30)
    page = client.get("/accounts/login/")
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    response = client.post(
        "/accounts/login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": csrf},
    )
    assert response.status_code == 302 and response.headers["location"] == "/"  # the overview
    return client


def test_demo_login_is_printed_and_works(embedded):
    assert "log in with" in embedded["printed"]
    client = _login(embedded, "viewer")
    page = client.get("/services/").text
    for name in (
        "Lagos Retail",
        "Berlin Marketplace",
        "Tokyo Games",
        "Nicosia Travel",
        "Kuwait Exchange",
    ):
        assert name in page


@pytest.mark.parametrize(
    "name", ["Lagos Retail", "Berlin Marketplace", "Tokyo Games", "Nicosia Travel"]
)
def test_update_balances_works_out_of_the_box_against_the_sandboxes(embedded, name):
    client = _login(embedded, "operator")
    listing = client.get("/services/", params={"q": name}).text
    service_id = re.search(r"/services/(srv_[a-z0-9]+)/balances/", listing).group(1)
    page = client.get(f"/services/{service_id}/balances/").text
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    response = client.post(
        f"/services/{service_id}/balances/sync/", data={"csrfmiddlewaretoken": csrf}
    )
    assert response.status_code == 302
    after = client.get(f"/services/{service_id}/balances/").text
    assert "Balances updated from" in after, re.findall(r'class="message[^"]*">([^<]+)', after)
    # The cards name the sync as a person reads it ("by SyncPay sync"), not "sync:syncpay".
    assert re.search(r"by \w+ sync", after) and "by sync:" not in after


def test_the_api_serves_the_documented_balances_shape(embedded):
    headers = {"Authorization": f"Bearer {embedded['token']}"}
    services = httpx.get(f"{embedded['base']}/api/v1/services", headers=headers, timeout=30).json()
    kuwait = next(s for s in services["results"] if s["name"] == "Kuwait Exchange")
    response = httpx.get(
        f"{embedded['base']}/api/v1/services/{kuwait['serviceId']}/balances",
        headers=headers,
        timeout=30,
    )
    assert response.status_code == 200
    body = response.text
    assert body.startswith(
        f'{{"serviceId": "{kuwait["serviceId"]}", "balances": [{{"currency": "KWD", "amount": 14990.125'
    )
    assert '"currency": "USD", "amount": -120.00' in body


def test_amounts_keep_every_digit_and_oversized_ones_are_a_400_on_sqlite(embedded):
    """SQLite's NUMERIC kept 15 significant digits (12345678901.12345678 came back as
    12345678901.12350000), and took 99999999999999999999 EUR only for every page of the
    service to answer 500 afterwards.  Amounts are integers of 10^-8 units now."""
    headers = {"Authorization": f"Bearer {embedded['token']}"}
    api = httpx.Client(base_url=f"{embedded['base']}/api/v1", headers=headers, timeout=30)
    services = api.get("/services", params={"search": "London Subscriptions"}).json()
    sid = next(s for s in services["results"] if s["name"] == "London Subscriptions")["serviceId"]

    created = api.post(
        f"/services/{sid}/balances",
        json={"currency": "USDT_TRC20", "amount": "12345678901.12345678"},
    )
    assert created.status_code == 201, created.text
    listed = api.get(f"/services/{sid}/balances").text
    assert '"currency": "USDT_TRC20", "amount": 12345678901.12345678,' in listed
    assert "E-" not in listed

    refused = api.post(
        f"/services/{sid}/balances", json={"currency": "EUR", "amount": "99999999999999999999"}
    )
    assert refused.status_code == 400, refused.text
    assert "amount" in refused.json()["error"]["details"]
    assert (
        api.post(
            f"/services/{sid}/balances", json={"currency": "EUR", "amount": "1.00"}
        ).status_code
        == 201
    )
    edited = api.patch(
        f"/services/{sid}/balances/EUR", json={"amount": "99999999999999999999", "reason": "x"}
    )
    assert edited.status_code == 400, edited.text
    assert "amount" in edited.json()["error"]["details"]

    client = _login(embedded, "operator")
    page = client.get(f"/services/{sid}/balances/")
    assert page.status_code == 200
    assert "12,345,678,901.12345678" in page.text
    for path in ("", "balances/history/", "balances/EUR/history/", "payouts/"):
        assert client.get(f"/services/{sid}/{path}").status_code == 200, path
    assert api.get(f"/services/{sid}/balances/EUR").json()["amount"] == 1


def test_a_payout_through_the_api_is_exact_and_idempotent_on_sqlite(embedded):
    """Payout creation runs hand-written statements (payouts/creation.py, core/rawsql.py):
    on SQLite too they store what the ORM would, and the idempotency key still decides."""
    headers = {"Authorization": f"Bearer {embedded['token']}"}
    api = httpx.Client(base_url=f"{embedded['base']}/api/v1", headers=headers, timeout=30)
    services = api.get("/services", params={"search": "Kuwait Exchange"}).json()
    sid = next(s for s in services["results"] if s["name"] == "Kuwait Exchange")["serviceId"]
    before = api.get(f"/services/{sid}/balances/KWD").json()
    body = {"currency": "KWD", "amount": "1.125", "destination": "KW81 CBKU 0000 0000"}

    first = api.post(f"/services/{sid}/payouts", json=body, headers={"Idempotency-Key": "sq-1"})
    assert first.status_code == 201, first.text
    payout = first.json()
    assert (payout["status"], payout["currency"]) == ("pending", "KWD")
    assert [e["toStatus"] for e in payout["events"]] == ["pending"]
    again = api.post(f"/services/{sid}/payouts", json=body, headers={"Idempotency-Key": "sq-1"})
    assert again.status_code == 200, again.text
    assert again.json()["payoutId"] == payout["payoutId"]
    other = {**body, "amount": "2.000"}
    reused = api.post(f"/services/{sid}/payouts", json=other, headers={"Idempotency-Key": "sq-1"})
    assert reused.status_code == 409, reused.text

    read = api.get(f"/payouts/{payout['payoutId']}").json()
    assert (str(read["amount"]), str(read["fee"])) == (str(payout["amount"]), str(payout["fee"]))
    after = api.get(f"/services/{sid}/balances/KWD").json()
    total = Decimal(str(payout["amount"])) + Decimal(str(payout["fee"]))
    assert Decimal(str(after["amount"])) == Decimal(str(before["amount"]))  # held, not debited
    assert (
        Decimal(str(before["availableForPayout"])) - Decimal(str(after["availableForPayout"]))
        == total
    )
