"""A real HTTP server on 127.0.0.1 receiving webhooks the way a client's endpoint would:
it records every POST with its raw body and headers and answers from a script (a 500 then a
200, a 429 with Retry-After, a slow answer...).

``verify(request, secret)`` checks a recorded delivery exactly as a receiver should: the HMAC
recomputed over ``"<t>.<raw body>"``, compared in constant time, ``t`` within a tolerance.
It is written out here, not imported from the app, so that the test is the client's view.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.provider_server import Reply


@dataclass
class Delivery:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


def verify(request: Delivery, secret: str, *, tolerance: int = 300) -> int:
    """The signed timestamp; AssertionError when the signature does not hold."""
    header = request.header("Backoffice-Signature")
    assert header, "no Backoffice-Signature header"
    pairs = [item.split("=", 1) for item in header.split(",")]
    timestamps = [v for k, v in pairs if k == "t"]
    signatures = [v for k, v in pairs if k == "v1"]
    assert len(timestamps) == 1 and signatures, header
    expected = hmac.new(
        secret.encode(), timestamps[0].encode() + b"." + request.body, hashlib.sha256
    ).hexdigest()
    assert any(hmac.compare_digest(expected, s) for s in signatures), "signature mismatch"
    assert abs(time.time() - int(timestamps[0])) <= tolerance, "timestamp outside tolerance"
    return int(timestamps[0])


class Receiver:
    def __init__(self) -> None:
        self.requests: list[Delivery] = []
        self._queue: deque[Reply] = deque()
        self._last = Reply({"ok": True})
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with owner._lock:
                    owner.requests.append(
                        Delivery("POST", self.path, dict(self.headers.items()), body)
                    )
                    reply = owner._queue.popleft() if owner._queue else owner._last
                    owner._last = reply
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
                    pass  # the sender gave up (timeout tests)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    @property
    def host_port(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"{host}:{port}"

    def url(self, path: str = "/hooks") -> str:
        return f"http://{self.host_port}{path}"

    def reply(self, *replies: Reply) -> None:
        """Answer with these in turn, then keep answering with the last one."""
        with self._lock:
            self._queue.extend(replies)

    @property
    def last(self) -> Delivery:
        assert self.requests, "the receiver got nothing"
        return self.requests[-1]

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
