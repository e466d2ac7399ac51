"""A peer that never finishes its answer's head: a raw TCP server on 127.0.0.1 that sends
``HTTP/1.1 200 OK`` and then one byte of a header every ``every`` seconds, for as long as
the client stays (each byte on time, so no per-read timeout ever fires).  For the tests of
the whole-call time limit of outbound calls (core.outbound.within)."""

from __future__ import annotations

import socket
import threading


class DripServer:
    def __init__(self, every: float = 0.05) -> None:
        self.every = every
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(8)
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(65536)  # the request (its head is enough)
                conn.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
                while not self._stop.wait(self.every):
                    conn.sendall(b"a")
            except OSError:
                return  # the client gave up: what the tests want

    def close(self) -> None:
        self._stop.set()
        self._sock.close()
