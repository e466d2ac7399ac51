"""The HTTP seam's behaviour, driven through the SyncPay adapter against a real local server."""

from __future__ import annotations

import logging
import socket
import time
from decimal import Decimal
from email.utils import formatdate

import pytest

from balances.providers import http
from balances.providers.base import ConnectionConfig, ErrorCategory, ProviderError, get_adapter

PATH = "/api/v1/accounts/balances"
KEY = "sk_test_topsecretkey0001"
OK = {"success": True, "account_id": "org_1", "balances": [], "total_balance_usd": "0.00"}


def fetch(base_url):
    config = ConnectionConfig(kind="syncpay", base_url=base_url, credentials={"apiKey": KEY})
    return get_adapter("syncpay").fetch_snapshot(config)


def fetch_error(base_url) -> ProviderError:
    with pytest.raises(ProviderError) as info:
        fetch(base_url)
    return info.value


def test_slow_answer_times_out_and_is_retryable(provider_server, settings, assert_no_secret):
    settings.PROVIDER_HTTP_TIMEOUT = 0.2
    provider_server.route(PATH, OK, delay=1.0)
    started = time.monotonic()
    error = fetch_error(provider_server.url)
    assert time.monotonic() - started < 0.9
    assert error.category == ErrorCategory.TIMEOUT
    assert error.retryable is True
    assert_no_secret(error, KEY)


def test_connection_refused_is_unavailable_and_retryable(assert_no_secret, allow_listed):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    allow_listed(f"127.0.0.1:{port}")
    error = fetch_error(f"http://127.0.0.1:{port}")
    assert error.category == ErrorCategory.UNAVAILABLE
    assert error.retryable is True
    assert error.message == http.UNREACHABLE
    assert_no_secret(error, KEY)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_unavailable_and_retryable(provider_server, status):
    provider_server.route(
        PATH, "<html>gateway trouble</html>", status=status, headers={"Content-Type": "text/html"}
    )
    error = fetch_error(provider_server.url)
    assert error.category == ErrorCategory.UNAVAILABLE
    assert error.retryable is True
    assert error.status_code == status
    assert error.message.startswith(f"HTTP {status}")


def test_429_retry_after_in_seconds(provider_server):
    provider_server.route(
        PATH,
        {"error": {"code": "RATE_LIMITED", "message": "Slow down"}},
        status=429,
        headers={"Retry-After": "30"},
    )
    error = fetch_error(provider_server.url)
    assert error.category == ErrorCategory.RATE_LIMITED
    assert error.retryable is True
    assert error.retry_after == 30
    assert error.message == "Slow down (RATE_LIMITED)"


def test_429_retry_after_as_http_date(provider_server):
    provider_server.route(
        PATH, "", status=429, headers={"Retry-After": formatdate(time.time() + 120, usegmt=True)}
    )
    error = fetch_error(provider_server.url)
    assert 115 <= error.retry_after <= 121


@pytest.mark.parametrize(
    ("status", "category"),
    [
        (400, ErrorCategory.CONFIGURATION),
        (401, ErrorCategory.AUTH),
        (403, ErrorCategory.AUTH),
        (404, ErrorCategory.NOT_FOUND),
        (406, ErrorCategory.CONFIGURATION),
        (409, ErrorCategory.BAD_RESPONSE),
        (418, ErrorCategory.BAD_RESPONSE),
        (422, ErrorCategory.CONFIGURATION),
    ],
)
def test_4xx_mapping_is_never_retryable(provider_server, status, category):
    provider_server.route(PATH, "not json at all", status=status)
    error = fetch_error(provider_server.url)
    assert error.category == category
    assert error.retryable is False
    assert error.status_code == status


def test_redirect_is_not_followed(provider_server):
    provider_server.route(PATH, "", status=302, headers={"Location": "/elsewhere"})
    provider_server.route("/elsewhere", OK)
    error = fetch_error(provider_server.url)
    assert error.category == ErrorCategory.CONFIGURATION
    assert [r.path for r in provider_server.requests] == [PATH]


@pytest.mark.parametrize(
    "body", ["<html>OK</html>", "", '{"success": true, "x": NaN}', '{"a": Infinity}', "[1, 2"]
)
def test_200_with_invalid_json_is_bad_response(provider_server, body):
    provider_server.route(PATH, body)
    error = fetch_error(provider_server.url)
    assert error.category == ErrorCategory.BAD_RESPONSE
    assert error.retryable is False


def test_oversized_body_is_refused(provider_server, monkeypatch):
    monkeypatch.setattr(http, "MAX_RESPONSE_BYTES", 1000)
    provider_server.route(PATH, {**OK, "padding": "x" * 2000})
    error = fetch_error(provider_server.url)
    assert error.category == ErrorCategory.BAD_RESPONSE
    assert "larger than" in error.message


def test_a_provider_dripping_its_headers_is_cut_off_at_twice_the_timeout(
    settings, allow_listed, assert_no_secret
):
    """Each byte arrives well within the read timeout, so only the whole call's limit ends
    it: twice the timeout, not the days a 100 KB head would take at that pace."""
    from tests.drip_server import DripServer

    settings.PROVIDER_HTTP_TIMEOUT = 0.5
    drip = DripServer(every=0.05)
    allow_listed(drip.url)
    try:
        started = time.monotonic()
        error = fetch_error(drip.url)
        took = time.monotonic() - started
    finally:
        drip.close()
    assert 0.9 < took < 3.0, took
    assert error.category == ErrorCategory.TIMEOUT and error.retryable is True
    assert_no_secret(error, KEY)


def test_a_dripping_provider_stops_at_the_syncs_own_time_limit(settings, allow_listed):
    from balances.providers import budget
    from tests.drip_server import DripServer

    settings.PROVIDER_HTTP_TIMEOUT = 5.0
    drip = DripServer(every=0.05)
    allow_listed(drip.url)
    try:
        started = time.monotonic()
        with budget.until(time.monotonic() + 0.6):
            error = fetch_error(drip.url)
        took = time.monotonic() - started
    finally:
        drip.close()
    assert took < 2.0, took
    assert error.category == ErrorCategory.TIMEOUT


def _gzip(data: bytes) -> bytes:
    import gzip

    return gzip.compress(data, compresslevel=9)


def test_a_small_gzip_body_that_inflates_past_the_limit_is_refused_without_inflating_it(
    provider_server,
):
    import tracemalloc

    bomb = _gzip(b"0" * (200 * 1024 * 1024))  # 200 MiB of zeros in about 200 KB
    provider_server.route(PATH, bomb, headers={"Content-Encoding": "gzip"})
    tracemalloc.start()
    try:
        error = fetch_error(provider_server.url)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert error.category == ErrorCategory.BAD_RESPONSE and "larger than" in error.message
    assert peak < 3 * http.MAX_RESPONSE_BYTES, peak  # never the 200 MiB


@pytest.mark.parametrize("encoding", ["gzip", "gzip-members", "deflate", "deflate-raw", "identity"])
def test_compressed_answers_are_read_exactly(provider_server, encoding):
    import json
    import zlib

    body = json.dumps(
        {**OK, "balances": [{"currency": "EUR", "available_balance": "10000594.71",
                             "pending_balance": "0.01"}]}
    ).encode()  # fmt: skip
    if encoding == "gzip":
        sent = _gzip(body)
    elif encoding == "gzip-members":  # two gzip members, one after the other (RFC 1952)
        sent, encoding = _gzip(body[:7]) + _gzip(body[7:]), "gzip"
    elif encoding == "deflate":
        sent = zlib.compress(body)
    elif encoding == "deflate-raw":  # "deflate" sent without its zlib header
        packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        sent, encoding = packer.compress(body) + packer.flush(), "deflate"
    else:
        sent = body
    provider_server.route(PATH, sent, headers={"Content-Encoding": encoding})
    snapshot = fetch(provider_server.url)
    [eur] = snapshot.figures
    assert (eur.available, eur.pending) == (Decimal("10000594.71"), Decimal("0.01"))
    assert provider_server.last.headers["Accept-Encoding"] == "gzip, deflate"


@pytest.mark.parametrize(
    ("encoding", "body"),
    [("br", b"\x1b\x00"), ("gzip", b"not gzip at all"), ("gzip", "truncated")],
)
def test_a_body_that_cannot_be_decoded_is_a_bad_response(provider_server, encoding, body):
    if body == "truncated":
        body = _gzip(b'{"success": true, "balances": []}' * 50)[:-20]
    provider_server.route(PATH, body, headers={"Content-Encoding": encoding})
    error = fetch_error(provider_server.url)
    assert error.category == ErrorCategory.BAD_RESPONSE


def test_long_provider_message_is_truncated(provider_server):
    provider_server.route(PATH, {"error": {"code": "BAD", "message": "word " * 500}}, status=401)
    error = fetch_error(provider_server.url)
    assert len(error.message) <= http.MAX_MESSAGE_LENGTH


def test_request_is_logged_without_credentials(provider_server, caplog):
    provider_server.route(PATH, OK)
    with caplog.at_level(logging.INFO, logger="balances.providers.http"):
        fetch(provider_server.url)
    lines = [r.getMessage() for r in caplog.records if r.name == "balances.providers.http"]
    assert len(lines) == 1
    assert lines[0].startswith(f"provider=syncpay GET {PATH} -> 200 in ")
    assert lines[0].endswith("ms")
    assert KEY not in caplog.text


def test_rate_limiter_is_consulted_before_each_request(provider_server, settings):
    settings.PROVIDER_RATE_LIMITS = {"syncpay": (1, 60)}
    settings.PROVIDER_RATE_LIMIT_MAX_WAIT = 0
    provider_server.route(PATH, OK)
    fetch(provider_server.url)
    error = fetch_error(provider_server.url)
    assert error.category == ErrorCategory.RATE_LIMITED
    assert error.retryable is True
    assert 0 < error.retry_after <= 60
    assert len(provider_server.requests) == 1


def test_invalid_base_url_is_configuration(provider_server):
    assert fetch_error("ftp://example.com").category == ErrorCategory.CONFIGURATION


def test_decode_json_keeps_decimals_exact():
    assert http.decode_json('{"a": 0.1, "b": 10000594.71, "c": 3}') == {
        "a": Decimal("0.1"),
        "b": Decimal("10000594.71"),
        "c": 3,
    }
    with pytest.raises(ValueError):
        http.decode_json('{"a": -Infinity}')


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        ("0", 0.0),
        ("-5", 0.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # in the past: retry now
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(value, expected):
    assert http.parse_retry_after(value) == expected


def test_parse_retry_after_future_date():
    now = 1_700_000_000.0
    assert http.parse_retry_after(formatdate(now + 90, usegmt=True), now=now) == 90.0


def test_build_url_keeps_commas():
    assert (
        http.build_url("https://x.test/base/", "/v1/a", {"currency": "EUR,USD", "q": "a b"})
        == "https://x.test/base/v1/a?currency=EUR,USD&q=a%20b"
    )


def test_sessions_of_a_kept_clients_block_share_one_client_and_no_cookies(
    provider_server, monkeypatch
):
    """A batch reuses its HTTP clients (balances/sync/batch.py): one client for sessions
    one after the other, and what a provider sets as a cookie never reaches the next
    session, as with a new client each time."""
    provider_server.route(PATH, OK, headers={"Set-Cookie": "session=abc123; Path=/"})
    made = []
    real = http._new_client

    def counting(*args, **kwargs):
        made.append(real(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(http, "_new_client", counting)
    with http.kept_clients():
        for _ in range(3):
            fetch(provider_server.url)
        assert len(made) == 1 and not made[0].is_closed

    assert made[0].is_closed  # closed at the end of the block
    assert len(provider_server.requests) == 3
    assert [r.header("Cookie") for r in provider_server.requests] == [None, None, None]
    assert all(r.header("Authorization") == f"Bearer {KEY}" for r in provider_server.requests)


def test_without_a_kept_clients_block_each_session_has_its_own_client(provider_server, monkeypatch):
    provider_server.route(PATH, OK)
    made = []
    real = http._new_client
    monkeypatch.setattr(
        http, "_new_client", lambda *args, **kwargs: made.append(real(*args, **kwargs)) or made[-1]
    )
    fetch(provider_server.url)
    fetch(provider_server.url)
    assert len(made) == 2 and all(client.is_closed for client in made)


@pytest.mark.parametrize("wbits", [16 + 15, 15, -15])  # gzip, zlib, raw deflate
def test_a_compressed_body_arriving_a_byte_at_a_time_is_read_exactly(wbits):
    import zlib

    body = b'{"success": true, "balances": [], "padding": "' + b"x" * 3000 + b'"}'
    packer = zlib.compressobj(wbits=wbits)
    sent = packer.compress(body) + packer.flush()
    inflater = http._Inflater("deflate" if wbits != 31 else "gzip")
    out = b"".join(inflater.take(sent[i : i + 1], 10_000) for i in range(len(sent)))
    inflater.finish()
    assert out == body
    cut = http._Inflater("gzip")
    cut.take(sent[: len(sent) // 2], 10_000)
    with pytest.raises(http._UnknownEncoding):
        cut.finish()
