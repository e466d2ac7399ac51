"""A fake SyncPay for the sync benchmark: ``GET /api/v1/accounts/balances`` answered in SyncPay's
documented format after a fixed latency, to any number of concurrent requests.

    .venv/bin/python benchmarks/sync_fake_provider.py --port 8765 --latency-ms 100

asyncio, one process: waiting costs nothing, so the latency stays what was asked for whatever
the concurrency, and the server is never what the benchmark measures.  The API key says what to
answer: ``sk_test_bench_<n>c_<i>`` gets ``n`` currencies whose amounts depend on ``i`` (so
that a first sync changes every balance and writes history).  Prints ``ready <port>`` once
listening, then the number of requests served when stopped (SIGTERM/SIGINT).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import signal

BALANCES_PATH = "/api/v1/accounts/balances"
# Known to the back-office (ISO 4217 plus its crypto assets); amounts are whole numbers, which
# every currency accepts (JPY has no minor unit).
CURRENCIES = [
    "USD", "NGN", "EUR", "GBP", "GHS", "KES", "JPY", "KWD", "CHF", "USDT_TRC20",
    "AUD", "CAD", "CZK", "DKK", "HUF", "NOK", "PLN", "SEK", "ZAR", "USDT_ERC20",
]  # fmt: skip
_KEY = re.compile(r"Bearer sk_test_bench_(\d+)c_(\d+)")


def body_for(authorization: str) -> tuple[int, bytes]:
    match = _KEY.fullmatch(authorization.strip())
    if match is None:
        payload = {"error": {"code": "UNAUTHORIZED", "message": "Invalid API key"}}
        return 401, json.dumps(payload).encode()
    count, index = int(match[1]), int(match[2])
    balances = [
        {
            "currency": code,
            "available_balance": str(1000 + index + n),
            "pending_balance": str(n),
        }
        for n, code in enumerate(CURRENCIES[:count])
    ]
    payload = {
        "success": True,
        "account_id": f"org_bench_{index}",
        "balances": balances,
        "total_balance_usd": "0.00",
    }
    return 200, json.dumps(payload).encode()


class Server:
    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.served = 0
        self.in_flight = 0
        self.max_in_flight = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _version = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, value = line.split(":", 1)
                        headers[name.strip().lower()] = value.strip()
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
                try:
                    await asyncio.sleep(self.latency)
                finally:
                    self.in_flight -= 1
                if method == "GET" and target.split("?", 1)[0] == BALANCES_PATH:
                    status, body = body_for(headers.get("authorization", ""))
                else:
                    status, body = 404, b'{"error": {"code": "NOT_FOUND", "message": "No route"}}'
                reason = {200: "OK", 401: "Unauthorized", 404: "Not Found"}[status]
                keep = headers.get("connection", "").lower() != "close"
                writer.write(
                    f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\n"
                    f"Connection: {'keep-alive' if keep else 'close'}\r\n\r\n".encode()
                    + body
                )
                await writer.drain()
                self.served += 1
                if not keep:
                    break
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass  # the client closed the connection (httpx does after each fetch)
        except asyncio.CancelledError:
            pass  # shutting down: the connection goes with the server
        finally:
            writer.close()


async def main(port: int, latency: float) -> None:
    server = Server(latency)
    listener = await asyncio.start_server(server.handle, "127.0.0.1", port, backlog=4096)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"ready {listener.sockets[0].getsockname()[1]}", flush=True)
    async with listener:
        await stop.wait()
    print(f"served {server.served} max_in_flight {server.max_in_flight}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    args = parser.parse_args()
    asyncio.run(main(args.port, args.latency_ms / 1000))
