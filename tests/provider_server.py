"""A real HTTP server on 127.0.0.1 that answers in a provider's documented wire format,
scripted per test: each path answers from a queue of responses (then repeats the last one),
optionally after a delay; every request is recorded."""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Reply:
    body: Any = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0

    def payload(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        if self.body is None:
            return b""
        return json.dumps(self.body).encode()


@dataclass
class Seen:
    path: str
    query: str
    headers: dict[str, str]


class ProviderServer:
    def __init__(self) -> None:
        self._queues: dict[str, deque[Reply]] = defaultdict(deque)
        self._last: dict[str, Reply] = {}
        self.requests: list[Seen] = []
        self._lock = threading.Lock()
        self.on_request: Any = None  # optional hook(path) called before answering
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                with owner._lock:
                    owner.requests.append(Seen(parts.path, parts.query, dict(self.headers.items())))
                    queue = owner._queues.get(parts.path)
                    reply = queue.popleft() if queue else owner._last.get(parts.path)
                    if reply is not None:
                        owner._last[parts.path] = reply
                if owner.on_request is not None:
                    owner.on_request(parts.path)
                reply = reply or Reply({"error": "no such route"}, status=404)
                if reply.delay:
                    time.sleep(reply.delay)
                payload = reply.payload()
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
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def reply(self, path: str, *replies: Reply) -> None:
        """Queue ``replies`` for ``path``; the last one keeps answering afterwards."""
        with self._lock:
            self._queues[path].extend(replies)

    def hits(self, path: str) -> int:
        return sum(1 for r in self.requests if r.path == path)

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


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
