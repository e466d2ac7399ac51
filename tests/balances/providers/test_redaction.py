"""A provider that echoes a credential back, in whatever form (the Authorization header as it
got it, URL-encoded, base64, another case, JSON-escaped, hex, a prefix or a suffix), never
gets it onto a page or into the API: not into SyncRun.error_message, the sync runs pages, the
balances page, the API's sync runs nor the Test connection output."""

from __future__ import annotations

import base64
import html
import json
from urllib.parse import quote, quote_plus

import pytest

from balances.connections.actions import connection_save
from balances.models import SyncRun
from balances.providers.http import clean_message
from balances.sync.request import sync_request
from core.actors import Actor
from core.redaction import redact
from tests.provider_server import SYNCPAY_PATH, Received

pytestmark = pytest.mark.django_db

KEY = "sk_test_Echo0Secret1Key2Zz"
USER, PASSWORD = "USechoUser77", "p@ss word/Secret+1"
PAIR64 = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# How a careless provider might echo the key: each is the whole echo of one test.
KEY_ECHOES = {
    "authorization header": lambda r: r.header("Authorization"),
    "raw": lambda r: KEY,
    "upper case": lambda r: KEY.upper(),
    "lower case": lambda r: KEY.lower(),
    "url-encoded": lambda r: quote(KEY, safe=""),
    "url-encoded, every byte": lambda r: "".join(f"%{b:02X}" for b in KEY.encode()),
    "base64": lambda r: b64(KEY),
    "base64 url-safe": lambda r: base64.urlsafe_b64encode(KEY.encode()).decode(),
    "base64 inside a longer blob": lambda r: b64("token=" + KEY + ";"),
    "hex": lambda r: KEY.encode().hex(),
    "prefix": lambda r: KEY[:12] + "…",
    "suffix": lambda r: "…" + KEY[-10:],
    "middle": lambda r: KEY[5:17],
    "with a query string": lambda r: f"{r.target}?key={KEY}",
}
# What must appear nowhere (the 8-character prefix "sk_test_" is every test key's, and shown
# in the form's help text; longer pieces must not be).
KEY_FORMS = {
    KEY,
    KEY.upper(),
    KEY.lower(),
    quote(KEY, safe=""),
    b64(KEY),
    KEY.encode().hex(),
    KEY[:12],
    KEY[-10:],
    KEY[5:17],
    KEY[8:],
    "".join(f"%{b:02X}" for b in KEY.encode())[:30],
    b64(KEY)[:24],  # also inside a longer base64 blob at the same alignment
}
PASSWORD_ECHOES = {
    "authorization header": lambda r: r.header("Authorization"),
    "the basic pair": lambda r: f"{USER}:{PASSWORD}",
    "base64 of the pair": lambda r: PAIR64,
    "password url-encoded": lambda r: quote(PASSWORD, safe=""),
    "password form-encoded": lambda r: quote_plus(PASSWORD),
    "password html-escaped": lambda r: html.escape(PASSWORD),
    "password upper case": lambda r: PASSWORD.upper(),
    "user": lambda r: f"unknown user {USER}",
}
PASSWORD_FORMS = {
    PASSWORD,
    PASSWORD.upper(),
    quote(PASSWORD, safe=""),
    quote_plus(PASSWORD),
    PAIR64,
    USER,
    PAIR64[:12],
    PASSWORD[:9],
}


def assert_clean(text: str, forms: set[str], where: str) -> None:
    low = text.lower()
    for form in forms:
        assert form.lower() not in low, f"{form!r} leaked into {where}: {text[:2000]!r}"
        escaped = html.escape(form).lower()
        assert escaped not in low, f"{escaped!r} leaked into {where}"


@pytest.fixture
def syncpay_echo(service, admin, provider_server):
    connection_save(
        service=service,
        kind="syncpay",
        actor=Actor.for_user(admin),
        base_url=provider_server.url,
        credentials={"apiKey": KEY},
    )
    return provider_server


def everything_shown(client, api, service, run: SyncRun) -> dict[str, str]:
    sid = service.public_id
    return {
        "SyncRun.error_message": run.error_message,
        "sync runs page": client.get(f"/services/{sid}/sync-runs/").content.decode(),
        "sync run page": client.get(f"/services/{sid}/sync-runs/{run.public_id}/").content.decode(),
        "balances page": client.get(f"/services/{sid}/balances/").content.decode(),
        "API sync runs": api.get(f"/api/v1/services/{sid}/sync-runs").content.decode(),
        "API sync run": api.get(f"/api/v1/sync-runs/{run.public_id}").content.decode(),
    }


def run_sync(service, django_capture_on_commit_callbacks) -> SyncRun:
    with django_capture_on_commit_callbacks(execute=True):
        run = sync_request(service=service, trigger="button")
    run.refresh_from_db()
    return run


@pytest.mark.parametrize("echo", KEY_ECHOES.values(), ids=KEY_ECHOES.keys())
def test_an_echoed_key_reaches_no_page_and_no_api(
    echo,
    service,
    syncpay_echo,
    operator_client,
    operator_api,
    admin_client_role,
    django_capture_on_commit_callbacks,
):
    def body(request: Received):
        return {"error": {"code": "UNAUTHORIZED", "message": f"Invalid API key {echo(request)}"}}

    syncpay_echo.route(SYNCPAY_PATH, body, status=401)

    run = run_sync(service, django_capture_on_commit_callbacks)
    tested = admin_client_role.post(
        f"/services/{service.public_id}/provider/test/",
        {"kind": "syncpay", "base_url": syncpay_echo.url, "syncpay_api_key": ""},
    )

    assert (run.status, run.error_category) == ("failed", "auth")
    assert run.error_message.startswith("Invalid API key")
    assert tested.status_code == 200 and tested.context["preview_error"].category == "auth"
    shown = everything_shown(operator_client, operator_api, service, run)
    shown["Test connection"] = tested.content.decode()
    for where, text in shown.items():
        assert_clean(text, KEY_FORMS, where)
    assert_clean(run.error_message, {KEY[:8] + KEY[8:10]}, "the message")


def test_a_json_escaped_echo_is_redacted_too(
    service, syncpay_echo, django_capture_on_commit_callbacks
):
    escaped = "".join(f"\\u{ord(c):04x}" for c in KEY)
    syncpay_echo.route(
        SYNCPAY_PATH,
        '{"error": {"code": "UNAUTHORIZED", "message": "bad key ' + escaped + '"}}',
        status=401,
    )

    run = run_sync(service, django_capture_on_commit_callbacks)

    assert run.error_category == "auth" and run.error_message.startswith("bad key")
    assert_clean(run.error_message, KEY_FORMS, "the message")


def test_a_key_echoed_in_a_success_body_is_not_quoted_by_the_parse_error(
    service, syncpay_echo, django_capture_on_commit_callbacks
):
    syncpay_echo.route(
        SYNCPAY_PATH,
        {
            "success": True,
            "balances": [{"currency": "USD", "available_balance": KEY, "pending_balance": "0.00"}],
        },
    )

    run = run_sync(service, django_capture_on_commit_callbacks)

    assert run.error_category == "bad_response"
    assert "available_balance" in run.error_message
    assert_clean(run.error_message, KEY_FORMS, "the message")


@pytest.mark.parametrize("echo", PASSWORD_ECHOES.values(), ids=PASSWORD_ECHOES.keys())
def test_echoed_basic_credentials_reach_no_page_and_no_api(
    echo, service, admin, provider_server, operator_client, operator_api, admin_client_role,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    connection_save(
        service=service,
        kind="finix",
        actor=Actor.for_user(admin),
        base_url=provider_server.url,
        credentials={"username": USER, "password": PASSWORD},
        options={"balanceIds": ["BLechoUSD"]},
    )

    def body(request: Received):
        error = {"code": "UNAUTHORIZED", "logref": "x1", "message": f"Bad {echo(request)}"}
        return {"total": 1, "_embedded": {"errors": [error]}}

    provider_server.route("/balances/BLechoUSD", body, status=401)

    run = run_sync(service, django_capture_on_commit_callbacks)
    tested = admin_client_role.post(
        f"/services/{service.public_id}/provider/test/",
        {
            "kind": "finix",
            "base_url": provider_server.url,
            "finix_balance_ids": "BLechoUSD",
            "finix_version": "2022-02-01",
        },
    )

    assert (run.status, run.error_category) == ("failed", "auth")
    assert tested.status_code == 200 and tested.context["preview_error"].category == "auth"
    shown = everything_shown(operator_client, operator_api, service, run)
    shown["Test connection"] = tested.content.decode()
    for where, text in shown.items():
        assert_clean(text, PASSWORD_FORMS, where)


# --- The redaction itself ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        KEY,
        f"key={KEY}&x=1",
        KEY.swapcase(),
        quote(KEY),
        json.dumps(KEY)[1:-1],
        b64(KEY),
        b64("x" + KEY),
        b64("xx" + KEY),
        base64.urlsafe_b64encode(("??" + KEY).encode()).decode(),
        KEY[:8],
        KEY[-8:],
        KEY[3:11],
    ],
)
def test_every_form_and_every_long_piece_of_a_secret_is_redacted(text):
    out = redact(f"before {text} after", [KEY])
    assert out.startswith("before ") and out.endswith(" after") and "***" in out
    core = KEY[2:-2]
    for size in range(8, len(core) + 1):
        assert core[:size].lower() not in out.lower()


def test_short_pieces_and_other_words_stay():
    assert redact("error 42: denied (sk_test)", [KEY]) == "error 42: denied (sk_test)"


def test_a_password_with_whitespace_is_redacted_before_lines_are_joined():
    secret = "two  spaces\tand tab"
    assert clean_message(f"got {secret} here", [secret]) == "got *** here"


def test_a_huge_message_is_cut_before_it_is_scanned():
    text = ("x" * 100_000) + KEY
    assert len(clean_message(text, [KEY])) <= 300
