"""A real local HTTP server, scripted per test, standing in for a provider.

Each route answers with a status, a body (a str is sent byte for byte, so a test can send
exact JSON numbers such as ``10000594.71`` or broken JSON) and headers, optionally after a
delay.  Every request is recorded (path, query, headers) for the test to assert on.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest


@dataclass
class Route:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Received:
    method: str
    target: str  # the raw request target, path and query as sent
    headers: dict[str, str]

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def raw_query(self) -> str:
        return urlsplit(self.target).query

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(self.raw_query, keep_blank_values=True)

    def header(self, name: str) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


class ScriptedServer:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[Received] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                server.requests.append(Received("GET", self.path, dict(self.headers.items())))
                route = server.routes.get(urlsplit(self.path).path) or Route(
                    404, {"error": "no such route in the test server"}
                )
                if route.delay:
                    time.sleep(route.delay)
                if isinstance(route.body, bytes):
                    payload = route.body
                elif isinstance(route.body, str):
                    payload = route.body.encode()
                elif route.body is None:
                    payload = b""
                else:
                    payload = json.dumps(route.body).encode()
                try:
                    self.send_response(route.status)
                    headers = {"Content-Type": "application/json"} | route.headers
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout tests)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def route(
        self,
        path: str,
        body: Any = None,
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
    ) -> None:
        self.routes[path] = Route(status, body, headers or {}, delay)

    @property
    def last(self) -> Received:
        assert self.requests, "the server received no request"
        return self.requests[-1]


@pytest.fixture
def provider_server():
    server = ScriptedServer()
    server.thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()


@pytest.fixture(autouse=True)
def isolated_rate_limits(settings):
    """Each test gets its own rate-limit keys in Redis, so earlier tests (or runs) never use
    up a provider's allowance (Payop: 10 per minute)."""
    settings.PROVIDER_RATE_LIMIT_KEY_PREFIX = f"test-ratelimit:{uuid.uuid4().hex}"
    yield
    from balances import ratelimit

    ratelimit.reset()


@pytest.fixture
def assert_no_secret():
    """Check that nothing a user or a log could see contains any of the credentials."""

    def check(exc: BaseException, *secrets: str) -> None:
        texts = [str(exc), getattr(exc, "message", ""), repr(exc)]
        for secret in secrets:
            for text in texts:
                assert secret not in text, f"credential leaked into {text!r}"

    return check
