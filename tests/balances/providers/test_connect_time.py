"""The outbound rule again at connect time (balances/providers/http.py over core/outbound.py):
a URL that is no longer allowed is not requested; a host that is refused, does not resolve,
is closed or does not speak HTTP gets one and the same error; redirects are not followed; the
socket connects to the address that was checked."""

from __future__ import annotations

import socket
import threading

import pytest

from balances.providers import http
from balances.providers.base import ConnectionConfig, ErrorCategory, ProviderError, get_adapter
from core import outbound
from tests.provider_server import SYNCPAY_PATH, ProviderServer, syncpay_body

KEY = "sk_test_connectTime0001"
OK = syncpay_body(("USD", "1.00", "0.00"))


def fetch(base_url: str):
    config = ConnectionConfig(kind="syncpay", base_url=base_url, credentials={"apiKey": KEY})
    return get_adapter("syncpay").fetch_snapshot(config)


def fetch_error(base_url: str) -> ProviderError:
    with pytest.raises(ProviderError) as info:
        fetch(base_url)
    return info.value


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RawServer:
    """A TCP server on 127.0.0.1 that is not HTTP: it answers ``reply`` (a database's
    greeting, say) or nothing, then hangs up."""

    def __init__(self, reply: bytes) -> None:
        self.reply = reply
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            with conn:
                conn.settimeout(1)
                try:
                    conn.recv(4096)
                    if self.reply:
                        conn.sendall(self.reply)
                except OSError:
                    pass

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def raw_server():
    servers: list[RawServer] = []

    def start(reply: bytes) -> RawServer:
        server = RawServer(reply)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def test_refused_closed_and_non_http_hosts_get_the_same_error(
    allow_listed, raw_server, monkeypatch, assert_no_secret
):
    closed = free_port()
    redis_like = raw_server(b"-ERR unknown command 'GET'\r\n")
    hangs_up = raw_server(b"")
    for port in (closed, redis_like.port, hangs_up.port):
        allow_listed(f"127.0.0.1:{port}")
    allow_listed("internal.test")  # a name listed without a port: public addresses only
    allow_listed("gone.test")
    real_resolve = outbound.resolve

    def resolve(host, port):
        if host == "internal.test":
            return ["127.0.0.1"]
        if host == "gone.test":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real_resolve(host, port)

    monkeypatch.setattr(outbound, "resolve", resolve)

    errors = [
        fetch_error(f"http://127.0.0.1:{closed}"),
        fetch_error(f"http://127.0.0.1:{redis_like.port}"),
        fetch_error(f"http://127.0.0.1:{hangs_up.port}"),
        fetch_error("http://internal.test"),
        fetch_error("http://gone.test"),
    ]

    seen = {(e.category, e.message, e.retryable, e.status_code) for e in errors}
    assert seen == {(ErrorCategory.UNAVAILABLE, http.UNREACHABLE, True, None)}
    for error in errors:
        assert_no_secret(error, KEY)


def test_a_url_no_longer_allowed_is_not_requested(provider_server, settings):
    provider_server.route(SYNCPAY_PATH, OK)
    settings.PROVIDER_BASE_URL_ALLOWLIST = []

    error = fetch_error(provider_server.url)

    assert error.category == ErrorCategory.CONFIGURATION and error.retryable is False
    assert error.message.startswith("The base URL is not allowed:")
    assert provider_server.requests == []


@pytest.mark.parametrize(
    "template",
    ["http://0x7f000001:{port}", "http://2130706433:{port}", "http://[::ffff:127.0.0.1]:{port}"],
)
def test_odd_notations_of_a_listed_address_are_not_requested(provider_server, template):
    provider_server.route(SYNCPAY_PATH, OK)  # listed as 127.0.0.1:<port> only

    error = fetch_error(template.format(port=provider_server.port))

    assert error.category == ErrorCategory.CONFIGURATION
    assert provider_server.requests == []


def test_a_redirect_to_another_host_is_not_followed(provider_server, allow_listed):
    with ProviderServer() as elsewhere:
        allow_listed(elsewhere.url)
        elsewhere.route(SYNCPAY_PATH, OK)
        provider_server.route(
            SYNCPAY_PATH, "", status=307, headers={"Location": elsewhere.url + SYNCPAY_PATH}
        )

        error = fetch_error(provider_server.url)

        assert error.category == ErrorCategory.CONFIGURATION
        assert "redirect" in error.message
        assert elsewhere.requests == []
        assert provider_server.hits(SYNCPAY_PATH) == 1


def test_the_socket_connects_to_the_checked_address(provider_server, allow_listed, monkeypatch):
    """No resolver on this machine knows "pinned.test": the request can only arrive if the
    socket connected to the address our check resolved, without a second lookup."""
    provider_server.route(SYNCPAY_PATH, OK)
    allow_listed(f"pinned.test:{provider_server.port}")
    lookups = []

    def resolve(host, port):
        lookups.append(host)
        return ["127.0.0.1"]

    monkeypatch.setattr(outbound, "resolve", resolve)

    snapshot = fetch(f"http://pinned.test:{provider_server.port}")

    assert snapshot.by_currency()["USD"].available == 1
    assert lookups == ["pinned.test"]
    assert provider_server.last.header("Host") == f"pinned.test:{provider_server.port}"


def test_a_listed_name_rebound_to_loopback_is_refused_before_connecting(
    settings, monkeypatch, caplog
):
    """Listed as a plain name (public addresses only): when DNS points it at loopback after
    it was saved, the connect-time check refuses it; the operator sees the uniform error,
    the log says why."""
    settings.PROVIDER_BASE_URL_ALLOWLIST = ["rebind.test"]
    monkeypatch.setattr(outbound, "resolve", lambda host, port: ["127.0.0.1"])

    with caplog.at_level("WARNING", logger="core.outbound"):
        error = fetch_error("http://rebind.test")

    assert (error.category, error.message) == (ErrorCategory.UNAVAILABLE, http.UNREACHABLE)
    assert "outbound refused rebind.test:80: rebind.test resolves to 127.0.0.1" in caplog.text
    assert KEY not in caplog.text


def test_proxies_and_netrc_from_the_environment_are_ignored(provider_server, monkeypatch, tmp_path):
    provider_server.route(SYNCPAY_PATH, OK)
    (tmp_path / ".netrc").write_text("machine 127.0.0.1 login stolen password netrc-secret\n")
    monkeypatch.setenv("NETRC", str(tmp_path / ".netrc"))
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:9")

    fetch(provider_server.url)

    assert provider_server.last.header("Authorization") == f"Bearer {KEY}"
