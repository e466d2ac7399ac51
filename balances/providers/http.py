"""The one place that talks HTTP to payment providers.

Every adapter call goes through :func:`get_json` (or a :class:`ProviderSession` when an
adapter makes several calls in one fetch), which:

* takes a slot from the provider's shared rate limiter before each request;
* calls only allowed base URLs: the provider's documented hosts, hosts in
  ``settings.PROVIDER_BASE_URL_ALLOWLIST`` and, with ``PROVIDER_SANDBOXES`` on, the app's own
  sandboxes (:func:`check_base_url`, the rule of :mod:`core.outbound`), checked again on
  connecting: the name is resolved once, every address checked, and the socket connects to
  a checked address (:class:`core.outbound.PinnedTransport`);
* sends ``Accept: application/json`` and our own User-Agent, follows no redirect (to no
  host, ours included), and bounds connect and read time (``settings.PROVIDER_HTTP_TIMEOUT``)
  and the body size;
* decodes JSON with ``parse_float=Decimal`` so that no amount ever passes through ``float``;
* maps every failure to :class:`ProviderError` with a category, ``retryable`` and, for 429, the
  provider's ``Retry-After``.  A host that is refused, does not resolve, refuses the
  connection or does not speak HTTP gets one and the same :data:`UNREACHABLE` error, so the
  error does not tell an open port from a closed one.  Provider messages are taken from the
  error body by an adapter supplied extractor, stripped of every form of every credential
  (:mod:`core.redaction`) and truncated.
"""

from __future__ import annotations

import base64
import email.utils
import logging
import math
import ssl
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC
from functools import cache
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx
from django.conf import settings

from balances.providers import budget, ratelimit
from balances.providers.base import ErrorCategory, ProviderError, adapter_class
from core import exactjson, outbound
from core.observability import context, metrics
from core.redaction import redact as _redact

logger = logging.getLogger("balances.providers.http")

USER_AGENT = "payments-backoffice-balance-sync/1.0"
MAX_RESPONSE_BYTES = 5 * 1024 * 1024
MAX_MESSAGE_LENGTH = 300
# Only this much of a provider's message is read (and redacted) at all.
MAX_MESSAGE_SCAN = 20 * MAX_MESSAGE_LENGTH
UNREACHABLE = "The provider could not be reached at the configured base URL."
# Waiting this long for our own shared rate limiter is fine inside a sync task; beyond it the
# task is better retried later than holding a worker.
DEFAULT_RATE_LIMIT_WAIT = 5.0

MessageExtractor = Callable[[Any], "str | None"]


@cache
def _ssl_context() -> ssl.SSLContext:
    # Building a context reads the CA bundle: do it once per process, not per request.
    return httpx.create_ssl_context()


def _new_client(
    permits: dict[tuple[str, int], bool], transport: httpx.BaseTransport | None = None
) -> httpx.Client:
    return httpx.Client(
        follow_redirects=False,
        verify=_ssl_context(),
        # The encodings _read_body decompresses itself, within the size limit.
        headers={
            "Accept": "application/json",
            "Accept-Encoding": "gzip, deflate",
            "User-Agent": USER_AGENT,
        },
        transport=transport
        or outbound.PinnedTransport(ssl_context=_ssl_context(), permits=permits),
        trust_env=False,
    )


class _UnknownEncoding(Exception):
    """A Content-Encoding we did not offer, or a compressed body cut short."""


_GZIP_MAGIC = b"\x1f\x8b"


def _wbits(head: bytes) -> int:
    """zlib's window bits for a stream starting with ``head`` (2 bytes at least): gzip, zlib
    (what "deflate" means), or raw deflate (what some servers send for it)."""
    if head.startswith(_GZIP_MAGIC):
        return 16 + zlib.MAX_WBITS
    if head[0] & 0x0F == 8 and ((head[0] << 8) | head[1]) % 31 == 0:
        return zlib.MAX_WBITS
    return -zlib.MAX_WBITS


class _Inflater:
    """Decodes a body sent with ``Content-Encoding`` gzip or deflate (what we offer) or
    none, a limited piece at a time: :meth:`take` gives at most ``limit`` bytes of what
    ``raw`` decodes to, so that a small body inflating to gigabytes is refused at the size
    limit instead of filling memory.  A gzip body of several members is read whole."""

    def __init__(self, encoding: str) -> None:
        codings = [c.strip().lower() for c in encoding.split(",") if c.strip()]
        codings = [c for c in codings if c != "identity"]
        if len(codings) > 1 or (codings and codings[0] not in ("gzip", "x-gzip", "deflate")):
            raise _UnknownEncoding(encoding)
        self._coded = bool(codings)
        self._zlib: Any = None  # chosen from the first two bytes
        self._pending = b""

    def take(self, raw: bytes, limit: int) -> bytes:
        if not self._coded:
            return raw
        self._pending += raw
        if self._zlib is None:
            if len(self._pending) < 2:
                return b""
            self._zlib = zlib.decompressobj(_wbits(self._pending))
        data, self._pending = self._pending, b""
        out = b""
        while data:
            if self._zlib.eof:
                if not data.startswith(_GZIP_MAGIC):
                    break  # bytes after the stream: ignored, as zlib itself does
                self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)  # the next member
            out += self._zlib.decompress(data, max(limit - len(out), 1))
            if len(out) >= limit:
                break  # the caller refuses the answer
            data = self._zlib.unused_data if self._zlib.eof else b""
        return out

    def finish(self) -> None:
        """Refuse a compressed body that ended before its compressed stream did."""
        if not self._coded:
            return
        if (self._zlib is None and self._pending) or (
            self._zlib is not None and not self._zlib.eof
        ):
            raise _UnknownEncoding("truncated")


class _KeptClients:
    """HTTP clients kept between the sessions of a block (:func:`kept_clients`).  A client
    serves one session at a time; between two, its cookies and address permits are cleared,
    so that a session sees what a new client would, except for a kept-alive connection
    (whose address was checked when it was opened, under the same rules)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: dict[str, list[tuple[httpx.Client, dict[tuple[str, int], bool]]]] = {}
        self._made: list[httpx.Client] = []

    def take(self, kind: str) -> tuple[httpx.Client, dict[tuple[str, int], bool]]:
        with self._lock:
            idle = self._idle.get(kind)
            if idle:
                return idle.pop()
        permits: dict[tuple[str, int], bool] = {}
        client = _new_client(permits)
        with self._lock:
            self._made.append(client)
        return client, permits

    def give_back(
        self, kind: str, client: httpx.Client, permits: dict[tuple[str, int], bool]
    ) -> None:
        client.cookies.clear()
        permits.clear()
        with self._lock:
            self._idle.setdefault(kind, []).append((client, permits))

    def close(self) -> None:
        with self._lock:
            made, self._made, self._idle = self._made, [], {}
        for client in made:
            client.close()


_kept_clients: ContextVar[_KeptClients | None] = ContextVar("provider_kept_clients", default=None)


@contextmanager
def kept_clients() -> Iterator[None]:
    """Inside the block (a batch of syncs: threads started in it with a copy of its context
    share it), the sessions of one provider kind reuse the clients of the sessions before
    them: no client to build per fetch, and a kept-alive connection to the provider instead
    of a new one.  Every client is closed at the end of the block."""
    kept = _KeptClients()
    token = _kept_clients.set(kept)
    try:
        yield
    finally:
        _kept_clients.reset(token)
        kept.close()


def decode_json(body: bytes | str) -> Any:
    """Strict, exact JSON (:mod:`core.exactjson`): numbers become ``Decimal``, never float;
    ``NaN``/``Infinity``, numbers no decimal context holds, duplicate keys and absurd nesting
    raise ``ValueError``."""
    return exactjson.loads(body)


def build_url(base_url: str, path: str, params: Mapping[str, str] | None = None) -> str:
    """``base_url`` + ``path`` + a query string that keeps commas readable.

    Providers document lists as ``currency=EUR,USD`` / ``types=STANDARD,SAVINGS``: the comma
    is legal in a query and some servers compare the raw value, so it is not percent-encoded.
    """
    url = base_url.rstrip("/") + "/" + path.lstrip("/")
    if params:
        url = f"{url}?{encode_query(params)}"
    return url


def encode_query(params: Mapping[str, str]) -> str:
    return "&".join(
        f"{quote(str(k), safe='')}={quote(str(v), safe=',')}" for k, v in params.items()
    )


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds: either delta-seconds or an HTTP date; None when absent or
    unreadable, never negative."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def redact(text: str, secrets: Iterable[str]) -> str:
    """Every form of every secret (raw, URL-encoded, base64, escaped, any case, any piece of
    8+ characters) replaced by ``***``: :func:`core.redaction.redact`."""
    return _redact(text, secrets)


def clean_message(text: str, secrets: Iterable[str] = ()) -> str:
    """One line, no credential, bounded length: safe to store and show."""
    secrets = tuple(secrets)
    # Redacted before and after joining the lines: a password may contain whitespace.
    text = redact(str(text)[:MAX_MESSAGE_SCAN], secrets)
    text = redact(" ".join(text.split()), secrets)
    if len(text) > MAX_MESSAGE_LENGTH:
        text = text[: MAX_MESSAGE_LENGTH - 1].rstrip() + "…"
    return text


def allowlist() -> tuple[outbound.AllowEntry, ...]:
    return outbound.parse_allowlist(getattr(settings, "PROVIDER_BASE_URL_ALLOWLIST", ()))


def check_base_url(
    kind: str, url: str | httpx.URL, *, resolve_names: bool = False
) -> outbound.Decision:
    """Whether a base URL (or a request URL under it) may be called for ``kind``; raise
    :class:`core.outbound.OutboundRefused` saying why not.  Used when a connection is saved
    (with ``resolve_names``) and before every request."""
    adapter = adapter_class(kind)
    sandbox = getattr(settings, "PROVIDER_SANDBOX_URL", "") if settings.PROVIDER_SANDBOXES else ""
    return outbound.check_url(
        url,
        documented_hosts=adapter.documented_hosts() if adapter is not None else (),
        allowlist=allowlist(),
        trusted_prefixes=(sandbox,) if sandbox else (),
        setting="PROVIDER_BASE_URL_ALLOWLIST",
        resolve_names=resolve_names,
    )


def _category_for_status(status: int) -> tuple[ErrorCategory, bool]:
    if status == 429:
        return ErrorCategory.RATE_LIMITED, True
    if status >= 500:
        return ErrorCategory.UNAVAILABLE, True
    if status in (401, 403):
        return ErrorCategory.AUTH, False
    if status == 404:
        return ErrorCategory.NOT_FOUND, False
    if status in (400, 406, 422):
        return ErrorCategory.CONFIGURATION, False
    return ErrorCategory.BAD_RESPONSE, False


class ProviderSession:
    """An HTTP client for one provider fetch (connection reuse across several calls).

    ``secrets`` are the credential values of the connection: they are scrubbed from every
    message this session produces, whatever the provider echoes back.
    """

    def __init__(
        self,
        kind: str,
        *,
        secrets: Iterable[str] = (),
        timeout: float | None = None,
        error_message: MessageExtractor | None = None,
        rate_limit_wait: float | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.kind = kind
        self.secrets = tuple(s for s in secrets if s)
        self.timeout = float(timeout if timeout is not None else settings.PROVIDER_HTTP_TIMEOUT)
        self.error_message = error_message
        self.rate_limit_wait = (
            rate_limit_wait
            if rate_limit_wait is not None
            else float(getattr(settings, "PROVIDER_RATE_LIMIT_MAX_WAIT", DEFAULT_RATE_LIMIT_WAIT))
        )
        # (host, port) -> whether its addresses may be private: filled by get_json's check,
        # read by the transport when it connects (nothing else is connected to).
        self._permits: dict[tuple[str, int], bool]
        self._kept = _kept_clients.get() if transport is None else None
        if self._kept is not None:
            self._client, self._permits = self._kept.take(kind)
        else:
            self._permits = {}
            self._client = _new_client(self._permits, transport)

    def __enter__(self) -> ProviderSession:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._kept is not None:
            self._kept.give_back(self.kind, self._client, self._permits)
            self._kept = None
        else:
            self._client.close()

    def _error(self, category: ErrorCategory, message: str, **kwargs: Any) -> ProviderError:
        return ProviderError(category, clean_message(message, self.secrets), **kwargs)

    def get_json(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
    ) -> Any:
        with context.bound(provider=self.kind):  # every log line of the call names it
            return self._get_json(url, headers=headers, params=params, auth=auth)

    def _get_json(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None,
        params: Mapping[str, str] | None,
        auth: tuple[str, str] | None,
    ) -> Any:
        if params:
            url = f"{url}{'&' if '?' in url else '?'}{encode_query(params)}"
        all_headers = dict(headers or {})
        if auth is not None:
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode("ascii")
            all_headers["Authorization"] = f"Basic {token}"
            self.secrets = (*self.secrets, token, f"{auth[0]}:{auth[1]}")
        if not all(value.isascii() for value in all_headers.values()):
            raise self._error(
                ErrorCategory.CONFIGURATION,
                "A credential contains characters that cannot be sent in an HTTP header.",
            )
        try:
            request = self._client.build_request("GET", url, headers=all_headers)
        except (httpx.InvalidURL, httpx.UnsupportedProtocol, ValueError):
            raise self._error(
                ErrorCategory.CONFIGURATION, "The provider URL is not a valid http(s) URL."
            ) from None
        if request.url.scheme not in ("http", "https") or not request.url.host:
            raise self._error(
                ErrorCategory.CONFIGURATION, "The provider URL must start with https:// or http://."
            )
        try:
            decision = check_base_url(self.kind, request.url)
        except outbound.OutboundRefused as exc:
            # Decided from the URL and the settings alone (no network): saying why leaks
            # nothing about the network, and the operator can fix it.
            raise self._error(
                ErrorCategory.CONFIGURATION, f"The base URL is not allowed: {exc}"
            ) from None
        self._permits[(decision.target.host, decision.target.port)] = decision.private_ok

        # Within the sync's time budget (providers/budget.py): the wait for a slot, then the
        # request's own timeouts.
        ratelimit.acquire(self.kind, max_wait=budget.bound(self.rate_limit_wait))
        request.extensions["timeout"] = httpx.Timeout(budget.bound(self.timeout)).as_dict()
        path = request.url.path
        started = time.monotonic()
        # The whole call, head and body, however the provider drips its bytes: twice the
        # timeout, and never past the sync's own time limit.
        with outbound.within(budget.bound(self.timeout * 2)):
            return self._exchange(request, path, started)

    def _exchange(self, request: httpx.Request, path: str, started: float) -> Any:
        try:
            response = self._client.send(request, stream=True)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            # Refused by the address check, no such name, closed port, filtered port: the
            # same words, so the message does not map the network (the log says which).
            self._log(path, f"unreachable ({type(exc).__name__})", started)
            raise self._error(ErrorCategory.UNAVAILABLE, UNREACHABLE, retryable=True) from None
        except httpx.TimeoutException:
            self._log(path, "timeout", started)
            raise self._error(
                ErrorCategory.TIMEOUT,
                f"No answer from {request.url.host} within {self.timeout:g} s.",
                retryable=True,
            ) from None
        except httpx.UnsupportedProtocol:
            raise self._error(
                ErrorCategory.CONFIGURATION, "The provider URL must start with https:// or http://."
            ) from None
        except httpx.TransportError as exc:
            # Something answered that is not HTTP (a database's port, say), or hung up.
            self._log(path, f"unreachable ({type(exc).__name__})", started)
            raise self._error(ErrorCategory.UNAVAILABLE, UNREACHABLE, retryable=True) from None
        try:
            body = self._read_body(response, started)
        finally:
            response.close()
        self._log(path, str(response.status_code), started)
        return self._interpret(response, body)

    def _read_body(self, response: httpx.Response, started: float) -> bytes:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > MAX_RESPONSE_BYTES:
            raise self._error(
                ErrorCategory.BAD_RESPONSE,
                f"The response is larger than {MAX_RESPONSE_BYTES:,} bytes.",
                status_code=response.status_code,
            )
        too_large = self._error(
            ErrorCategory.BAD_RESPONSE,
            f"The response is larger than {MAX_RESPONSE_BYTES:,} bytes.",
            status_code=response.status_code,
        )
        chunks: list[bytes] = []
        size = 0
        try:
            # Raw bytes, decompressed here a limited piece at a time: a small compressed
            # answer that inflates to gigabytes stops at the limit, not in memory.
            inflater = _Inflater(response.headers.get("Content-Encoding", ""))
            for raw in response.iter_raw():
                chunk = inflater.take(raw, MAX_RESPONSE_BYTES + 1 - size)
                size += len(chunk)
                if size > MAX_RESPONSE_BYTES:
                    raise too_large
                chunks.append(chunk)
            inflater.finish()
        except httpx.TimeoutException:
            self._log(response.request.url.path, "timeout", started)
            raise self._error(
                ErrorCategory.TIMEOUT,
                f"The answer from {response.request.url.host} did not complete within "
                f"{self.timeout:g} s.",
                retryable=True,
            ) from None
        except (httpx.DecodingError, zlib.error, _UnknownEncoding):
            raise self._error(
                ErrorCategory.BAD_RESPONSE,
                "The response body could not be decoded.",
                status_code=response.status_code,
            ) from None
        except httpx.TransportError:
            self._log(response.request.url.path, "connection error", started)
            raise self._error(
                ErrorCategory.UNAVAILABLE,
                "The connection broke while reading the answer.",
                retryable=True,
                status_code=response.status_code,
            ) from None
        return b"".join(chunks)

    def _interpret(self, response: httpx.Response, body: bytes) -> Any:
        status = response.status_code
        if 200 <= status < 300:
            try:
                return decode_json(body)
            except (ValueError, RecursionError):
                raise self._error(
                    ErrorCategory.BAD_RESPONSE,
                    f"The provider answered HTTP {status} with a body that is not valid JSON.",
                    status_code=status,
                ) from None
        if 300 <= status < 400:
            raise self._error(
                ErrorCategory.CONFIGURATION,
                f"The provider answered with a redirect (HTTP {status}); check the base URL.",
                status_code=status,
            )
        if status < 200:
            raise self._error(
                ErrorCategory.BAD_RESPONSE, f"Unexpected HTTP status {status}.", status_code=status
            )

        category, retryable = _category_for_status(status)
        message = self._provider_message(body) or f"HTTP {status} {response.reason_phrase}".strip()
        retry_after = None
        if status == 429:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
        raise self._error(
            category,
            message,
            retryable=retryable,
            status_code=status,
            retry_after=retry_after,
        )

    def _provider_message(self, body: bytes) -> str | None:
        if not body or self.error_message is None:
            return None
        try:
            data = decode_json(body)
        except (ValueError, RecursionError):
            return None
        try:
            message = self.error_message(data)
        except Exception:  # a malformed error body must not hide the HTTP error itself
            logger.debug("provider=%s unreadable error body", self.kind, exc_info=True)
            return None
        return clean_message(message, self.secrets) if message else None

    def _log(self, path: str, outcome: str, started: float) -> None:
        """Log one request's outcome (once per request) and count it for the metrics."""
        if outcome.isdigit():
            label = metrics.provider_outcome(int(outcome))
        else:
            label = metrics.provider_outcome(None, timeout=outcome == "timeout")
        metrics.provider_request(self.kind, label)
        elapsed_ms = (time.monotonic() - started) * 1000
        logger.info("provider=%s GET %s -> %s in %.0fms", self.kind, path, outcome, elapsed_ms)


def get_json(
    kind: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, str] | None = None,
    auth: tuple[str, str] | None = None,
    timeout: float | None = None,
    error_message: MessageExtractor | None = None,
    secrets: Iterable[str] = (),
) -> Any:
    """One GET returning decoded JSON, or raise :class:`ProviderError` (see module doc)."""
    with ProviderSession(
        kind, secrets=secrets, timeout=timeout, error_message=error_message
    ) as session:
        return session.get_json(url, headers=headers, params=params, auth=auth)
