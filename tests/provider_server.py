"""A real HTTP server on 127.0.0.1 standing in for a provider, scripted per test: the one
used by the adapter tests (tests/balances/providers) and the sync tests alike.

Two ways to script a path:

* ``route(path, body, status=..., headers=..., delay=...)``: the path answers that, always;
* ``reply(path, Reply(...), Reply(...))``: the path answers from a queue, then keeps
  answering with the last reply (a 503 then a success, a slow answer then a fast one).

A body that is ``str`` or ``bytes`` is sent byte for byte, so a test can send exact JSON
numbers such as ``10000594.71`` or broken JSON; a callable is called with the request
(:class:`Received`) and its result sent the same way (a server that echoes what it got);
anything else is sent as JSON.  Every request
is recorded (method, path, query, headers) for the test to assert on; ``on_request(path)``,
when set, is called before each answer (to act while the provider is "working").
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Reply:
    body: Any = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0

    def payload(self, request: Received | None = None) -> bytes:
        body = self.body(request) if callable(self.body) else self.body
        if isinstance(body, bytes):
            return body
        if isinstance(body, str):
            return body.encode()
        if body is None:
            return b""
        return json.dumps(body).encode()


NO_SUCH_ROUTE = Reply({"error": "no such route in the test server"}, status=404)


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


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up mid-answer (one refusing a body past its size limit) is
        what some tests want: not an error of the server's.  Anything else is printed."""
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class ProviderServer:
    """Starts serving when created; ``close()`` (or leaving a ``with`` block) stops it."""

    def __init__(self) -> None:
        self._queues: dict[str, deque[Reply]] = defaultdict(deque)
        self._last: dict[str, Reply] = {}
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        self.on_request: Any = None  # optional hook(path) called before answering
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                path = urlsplit(self.path).path
                received = Received("GET", self.path, dict(self.headers.items()))
                with owner._lock:
                    owner.requests.append(received)
                    queue = owner._queues.get(path)
                    reply = queue.popleft() if queue else owner._last.get(path)
                    if reply is not None:
                        owner._last[path] = reply
                if owner.on_request is not None:
                    owner.on_request(path)
                reply = reply or NO_SUCH_ROUTE
                if reply.delay:
                    time.sleep(reply.delay)
                payload = reply.payload(received)
                try:
                    self.send_response(reply.status)
                    for name, value in (
                        {"Content-Type": "application/json"} | reply.headers
                    ).items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout tests)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    def __enter__(self) -> ProviderServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def reply(self, path: str, *replies: Reply) -> None:
        """Queue ``replies`` for ``path``; the last one keeps answering afterwards."""
        with self._lock:
            self._queues[path].extend(replies)

    def route(
        self,
        path: str,
        body: Any = None,
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
    ) -> None:
        """From now on ``path`` always answers this (whatever was queued before)."""
        with self._lock:
            self._queues.pop(path, None)
            self._last[path] = Reply(body, status, headers or {}, delay)

    def hits(self, path: str) -> int:
        return sum(1 for r in self.requests if r.path == path)

    @property
    def last(self) -> Received:
        assert self.requests, "the server received no request"
        return self.requests[-1]

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


# --- SyncPay, the provider most sync tests speak ------------------------------------------

SYNCPAY_PATH = "/api/v1/accounts/balances"


def syncpay_body(*balances: tuple[str, str, str], account: str = "org_test") -> dict[str, Any]:
    """A SyncPay success body: (currency, available, pending) triples."""
    return {
        "success": True,
        "account_id": account,
        "balances": [
            {"currency": c, "available_balance": a, "pending_balance": p} for c, a, p in balances
        ],
        "total_balance_usd": "0.00",
    }


SYNCPAY_UNAUTHORIZED = Reply(
    {"error": {"code": "UNAUTHORIZED", "message": "Invalid API key"}}, status=401
)
