"""The one place that sends webhooks over HTTP, under the outbound rule of provider base URLs
(:mod:`core.outbound`, README "Security"):

* a webhook URL's host must be listed in ``settings.WEBHOOK_URL_ALLOWLIST`` (same format as
  ``PROVIDER_BASE_URL_ALLOWLIST``: ``host`` for its scheme's default port, ``host:port``);
  a host that is, or resolves to, a loopback, private, link-local or reserved address only
  when listed exactly as ``host:port``.  Checked when the URL is saved (names resolved) and
  again before every POST, and the socket connects only to an address checked at connect
  time (:class:`core.outbound.PinnedTransport`: no DNS rebinding in between);
* no redirect is followed, no proxy or ``.netrc`` is used, time is bounded
  (``WEBHOOK_TIMEOUT_SECONDS`` to connect, to send and to answer) and only the first bytes of
  the answer are read, for the attempt log;
* a refused address, a name that does not resolve, a closed port and something that is not
  HTTP all read :data:`UNREACHABLE`, so the log does not map the network.
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

import httpx
from django.conf import settings

from balances.providers.http import parse_retry_after
from core import outbound

logger = logging.getLogger("webhooks.http")

USER_AGENT = "payments-backoffice-webhooks/1.0"
SETTING = "WEBHOOK_URL_ALLOWLIST"
UNREACHABLE = "The webhook URL could not be reached."
SNIPPET_BYTES = 2048
SNIPPET_CHARS = 500


@cache
def _ssl_context() -> ssl.SSLContext:
    return httpx.create_ssl_context()


def allowlist() -> tuple[outbound.AllowEntry, ...]:
    return outbound.parse_allowlist(getattr(settings, SETTING, ()))


def check_url(url: str | httpx.URL, *, resolve_names: bool = False) -> outbound.Decision:
    """Whether ``url`` may receive webhooks; raise :class:`core.outbound.OutboundRefused`
    saying why not (the message names the host and the setting, nothing else)."""
    target = outbound.parse_url(url)
    entries = allowlist()
    listed = any(
        e.host == target.host
        and (e.port == target.port or (e.port is None and target.default_port))
        for e in entries
    )
    literal = outbound.literal_address(target.host)
    if not listed and (literal is None or outbound.is_public(literal)):
        raise outbound.OutboundRefused(f"{target.host_port} is not listed in {SETTING}.")
    # Listed (or a private literal, which the rule refuses with its own words): the rule of
    # core.outbound decides about private addresses, as for provider base URLs.
    return outbound.check_url(
        url, documented_hosts=(), allowlist=entries, setting=SETTING, resolve_names=resolve_names
    )


@dataclass(frozen=True)
class Answer:
    """How one POST went.  ``status_code`` is None when no HTTP answer came (then ``error``
    says why); ``retryable``: a timeout, no connection, 5xx, 408 or 429."""

    status_code: int | None
    duration_ms: int
    snippet: str = ""
    error: str = ""
    retryable: bool = False
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def _snippet(raw: bytes) -> str:
    """The start of the answer as text: one line, printable, bounded (escaped when shown)."""
    text = raw.decode("utf-8", errors="replace")
    text = "".join(c if c.isprintable() else " " for c in text)
    text = " ".join(text.split())
    if len(text) > SNIPPET_CHARS:
        text = text[: SNIPPET_CHARS - 1].rstrip() + "…"
    return text


def post(url: str, *, body: bytes, headers: Mapping[str, str], timeout: float) -> Answer:
    """POST ``body`` to ``url``; never raises for what the network or the receiver does.
    Raises :class:`core.outbound.OutboundRefused` when the URL is not allowed (any more)."""
    decision = check_url(url)
    permits = {(decision.target.host, decision.target.port): decision.private_ok}
    started = time.monotonic()

    def elapsed_ms() -> int:
        return int((time.monotonic() - started) * 1000)

    # The whole exchange, however the receiver drips its bytes: twice the timeout.
    with (
        outbound.within(timeout * 2),
        httpx.Client(
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
            verify=_ssl_context(),
            transport=outbound.PinnedTransport(ssl_context=_ssl_context(), permits=permits),
            trust_env=False,
        ) as client,
    ):
        request = client.build_request(
            "POST",
            url,
            content=body,
            headers={
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                # Raw bytes for the snippet: nothing to decompress.
                "Accept-Encoding": "identity",
                **headers,
            },
        )
        try:
            response = client.send(request, stream=True)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            logger.info("webhook POST %s unreachable (%s)", decision.target.host_port, exc)
            return Answer(None, elapsed_ms(), error=UNREACHABLE, retryable=True)
        except httpx.TimeoutException:
            return Answer(
                None, elapsed_ms(), error=f"No answer within {timeout:g} s.", retryable=True
            )
        except httpx.TransportError as exc:
            logger.info("webhook POST %s failed (%s)", decision.target.host_port, exc)
            return Answer(None, elapsed_ms(), error=UNREACHABLE, retryable=True)
        try:
            raw = b""
            try:
                for chunk in response.iter_raw():
                    raw += chunk
                    if len(raw) >= SNIPPET_BYTES:
                        break
            except httpx.HTTPError:
                pass  # the status is what counts; the snippet is a courtesy
        finally:
            response.close()
    status = response.status_code
    retry_after = parse_retry_after(response.headers.get("Retry-After")) if status == 429 else None
    error = ""
    if 300 <= status < 400:
        error = f"Redirects are not followed (HTTP {status}); check the webhook URL."
    elif not 200 <= status < 300:
        error = f"HTTP {status}"
    return Answer(
        status,
        elapsed_ms(),
        snippet=_snippet(raw[:SNIPPET_BYTES]),
        error=error,
        retryable=status >= 500 or status in (408, 429),
        retry_after=retry_after,
    )
