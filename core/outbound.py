"""Outbound HTTP to URLs that operators type (provider base URLs today): which hosts may be
called, and an httpx transport that connects only to addresses it has checked.

The rule (README, "Security"):

* a URL's host is one the integration documents (https on the default port), or is listed in
  an allow-list setting: ``host`` allows that host on its scheme's default port, ``host:port``
  exactly that port (``[::1]:8443`` for IPv6);
* a host that is, or resolves to, a loopback, private, link-local, multicast, reserved or
  unspecified address (IPv4 or IPv6, in any notation: ``0x7f000001``, ``2130706433``,
  ``[::ffff:127.0.0.1]``...) is refused unless it is listed exactly as ``host:port``, or the
  URL lies under a trusted prefix (the app's own built-in sandboxes);
* the check is made when the URL is saved and again when connecting: :class:`PinnedTransport`
  resolves the name once, checks every address, then connects to one of those checked
  addresses (no second lookup, so no DNS rebinding between check and connect).

Nothing here reads settings: callers pass the documented hosts, the allow-list and the
trusted prefixes, so the same rule can serve other outbound URLs (webhooks) later.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

logger = logging.getLogger("core.outbound")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
DEFAULT_PORTS = {"http": 80, "https": 443}
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_LEGACY_IPV4 = set("0123456789abcdefx.")


class OutboundRefused(Exception):
    """A URL or an address the rule does not allow.  The message is for operators: it names
    the host, never a credential."""


class NameNotResolved(OutboundRefused):
    """The name has no address (now): refused when connecting, not when saving."""


@dataclass(frozen=True)
class Target:
    """A parsed http(s) URL: ``host`` lower-case (IDNA for international names), without a
    trailing dot, IPv6 without brackets; ``port`` always set; ``path`` decoded, for prefix
    checks; ``raw_path`` as it is sent (percent-encoding kept), without the query."""

    scheme: str
    host: str
    port: int
    path: str
    raw_path: str

    @property
    def host_port(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def default_port(self) -> bool:
        return self.port == DEFAULT_PORTS[self.scheme]


@dataclass(frozen=True)
class AllowEntry:
    host: str
    port: int | None  # None: the scheme's default port only


@dataclass(frozen=True)
class Decision:
    """An allowed target.  ``private_ok``: its addresses need not be public (listed exactly
    as host:port, or under a trusted prefix)."""

    target: Target
    private_ok: bool


# --- Parsing --------------------------------------------------------------------------------


def normalise_host(host: str) -> str:
    host = host.strip().lower().rstrip(".")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if ":" in host:  # IPv6: one spelling per address ("0:0::1" is "::1")
        try:
            return str(ipaddress.IPv6Address(host))
        except ValueError:
            return host
    return host


def parse_url(url: str | httpx.URL) -> Target:
    """Parse as httpx will send it; raise :class:`OutboundRefused` for anything but an
    absolute http(s) URL with a host."""
    try:
        parsed = url if isinstance(url, httpx.URL) else httpx.URL(str(url).strip())
        scheme = parsed.scheme.lower()
        host = parsed.raw_host.decode("ascii")
    except (httpx.InvalidURL, ValueError, UnicodeError):
        raise OutboundRefused("It is not a valid http(s) URL.") from None
    if scheme not in DEFAULT_PORTS or not host:
        raise OutboundRefused("It must be an http(s) URL with a host.")
    raw_path = parsed.raw_path.decode("ascii").split("?", 1)[0]
    return Target(
        scheme=scheme,
        host=normalise_host(host),
        port=parsed.port or DEFAULT_PORTS[scheme],
        path=parsed.path,
        raw_path=raw_path,
    )


def normalise_url(url: str) -> str:
    """One spelling per base URL, for comparing them: lower-case scheme and host, default
    port left out, no trailing slash (``HTTPS://API.Example.com:443/v1/`` ->
    ``https://api.example.com/v1``).  The path keeps its case."""
    target = parse_url(url)
    host = f"[{target.host}]" if ":" in target.host else target.host
    port = "" if target.default_port else f":{target.port}"
    return f"{target.scheme}://{host}{port}{target.raw_path.rstrip('/')}"


def parse_allowlist(entries: Iterable[str]) -> tuple[AllowEntry, ...]:
    """``["api.example.com", "10.0.0.5:8443", "[fd00::1]:443"]``; raise ``ValueError`` naming
    a malformed entry."""
    parsed: list[AllowEntry] = []
    for raw in entries:
        entry = raw.strip()
        if not entry:
            continue
        host, port = entry, None
        if entry.startswith("["):
            host, sep, rest = entry[1:].partition("]")
            if not sep or (rest and not rest.startswith(":")):
                raise ValueError(f"{entry!r} is not host or host:port")
            port = rest[1:] if rest else None
        elif entry.count(":") == 1:
            host, port = entry.split(":")
        if "/" in host or "@" in host or not host.strip():
            raise ValueError(f"{entry!r} is not host or host:port")
        if port is not None and not (port.isdigit() and 0 < int(port) < 65536):
            raise ValueError(f"{entry!r} has no valid port")
        parsed.append(AllowEntry(normalise_host(host), int(port) if port else None))
    return tuple(parsed)


# --- Addresses ------------------------------------------------------------------------------


def literal_address(host: str) -> IPAddress | None:
    """The address a host names literally, in any notation the C library accepts
    (``0x7f000001``, ``2130706433``, ``0177.0.0.1``, ``127.1``); None for a name."""
    host = normalise_host(host)
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    if host and set(host) <= _LEGACY_IPV4 and any(c.isdigit() for c in host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, 6to4, NAT64), if any."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_public(address: IPAddress) -> bool:
    """A globally routable unicast address: not loopback, private, link-local, multicast,
    reserved, unspecified or shared (CGNAT), nor an IPv6 address carrying such an IPv4."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None and not is_public(embedded):
            return False
    return address.is_global and not (
        address.is_multicast
        or address.is_reserved
        or address.is_loopback
        or address.is_link_local
        or address.is_unspecified
        or address.is_private
    )


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (IPv4 and IPv6), in the resolver's order.  Tests
    replace this function to play a resolver."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    found: list[str] = []
    for family, _type, _proto, _name, sockaddr in infos:
        if family in (socket.AF_INET, socket.AF_INET6) and sockaddr[0] not in found:
            found.append(str(sockaddr[0]))
    return found


# A name lookup waits this long at most (less when the call's deadline is nearer): the
# system resolver's own timeouts can add up to much more, and a lookup cannot be
# interrupted, so it runs on a thread of its own and is abandoned when late.  A host with
# HUNG_PER_HOST abandoned lookups still running is refused at once until one ends: one bad
# name never holds threads without end, nor delays the lookups of any other host (nor the
# host's own lookups that answer in time, however many run at once).
RESOLVE_SECONDS = 5.0
HUNG_PER_HOST = 2
_hung: dict[str, int] = {}
_hung_lock = threading.Lock()


def _resolved_in_time(host: str, port: int) -> list[str]:
    wait = RESOLVE_SECONDS
    end = _DEADLINE.get()
    if end is not None:
        wait = max(0.0, min(wait, end - time.monotonic()))
    with _hung_lock:
        if _hung.get(host, 0) >= HUNG_PER_HOST:
            raise NameNotResolved(f"{host} did not resolve (earlier lookups still running).")
    outcome: dict[str, Any] = {}
    done = threading.Event()

    def lookup() -> None:
        try:
            outcome["addresses"] = resolve(host, port)  # the resolver as called now
        except BaseException as exc:  # handed to the caller, if it still waits
            outcome["error"] = exc
        finally:
            with _hung_lock:
                done.set()
                if outcome.get("abandoned"):
                    _hung[host] -= 1
                    if not _hung[host]:
                        del _hung[host]

    threading.Thread(target=lookup, name="outbound-resolve", daemon=True).start()
    if not done.wait(wait):
        with _hung_lock:
            if not done.is_set():  # still running: abandoned, and counted until it ends
                outcome["abandoned"] = True
                _hung[host] = _hung.get(host, 0) + 1
        if outcome.get("abandoned"):
            raise NameNotResolved(f"{host} did not resolve within {wait:g} s.")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["addresses"]


def checked_addresses(host: str, port: int, *, private_ok: bool) -> list[str]:
    """Resolve ``host`` and check every address; raise :class:`OutboundRefused` when the
    name does not resolve or any address is not public (unless ``private_ok``).  One bad
    address refuses the host: a resolver that answers both a public and a private address
    must not get a second chance."""
    try:
        addresses = _resolved_in_time(host, port)
    except (OSError, UnicodeError) as exc:
        raise NameNotResolved(f"{host} does not resolve ({type(exc).__name__}).") from None
    if not addresses:
        raise NameNotResolved(f"{host} does not resolve.")
    if not private_ok:
        for raw in addresses:
            try:
                address = ipaddress.ip_address(raw.split("%", 1)[0])
            except ValueError:
                raise OutboundRefused(f"{host} resolves to an unreadable address.") from None
            if not is_public(address):
                raise OutboundRefused(
                    f"{host} resolves to {address}, a loopback, private or reserved address."
                )
    return addresses


# --- The rule -------------------------------------------------------------------------------


def _under(target: Target, prefix: Target) -> bool:
    if (target.scheme, target.host, target.port) != (prefix.scheme, prefix.host, prefix.port):
        return False
    segments = target.path.split("/")
    if "." in segments or ".." in segments:  # "/sandbox/%2e%2e/admin" leaves the prefix
        return False
    base = prefix.path.rstrip("/")
    return target.path == base or target.path.startswith(base + "/")


def check_url(
    url: str | httpx.URL,
    *,
    documented_hosts: Iterable[str],
    allowlist: Iterable[AllowEntry],
    trusted_prefixes: Iterable[str] = (),
    setting: str = "the allow-list",
    resolve_names: bool = False,
) -> Decision:
    """Whether ``url`` may be called; raise :class:`OutboundRefused` saying why not.

    With ``resolve_names`` a listed name is also resolved now and refused if it points to a
    non-public address (a name that does not resolve yet passes: the connect-time check
    still applies).  Documented hosts are not resolved here, only when connecting.
    """
    target = parse_url(url)
    allowlist = tuple(allowlist)
    if any(e.host == target.host and e.port == target.port for e in allowlist):
        return Decision(target, private_ok=True)
    for prefix in trusted_prefixes:
        if prefix and _under(target, parse_url(prefix)):
            return Decision(target, private_ok=True)

    literal = literal_address(target.host)
    if literal is not None and not is_public(literal):
        raise OutboundRefused(
            f"{target.host_port} is a loopback, private or reserved address; such an "
            f"address is only allowed when listed exactly as host:port in {setting}."
        )
    documented = target.host in {normalise_host(h) for h in documented_hosts if h}
    if documented and target.scheme == "https" and target.default_port:
        return Decision(target, private_ok=False)
    listed = target.default_port and any(
        e.host == target.host and e.port is None for e in allowlist
    )
    if not listed:
        if documented:
            raise OutboundRefused(
                f"The provider's documented host {target.host} is only called over https on "
                "port 443."
            )
        raise OutboundRefused(
            f"{target.host_port} is not one of the provider's documented hosts nor listed "
            f"in {setting}."
        )
    if resolve_names and literal is None:
        try:
            checked_addresses(target.host, target.port, private_ok=False)
        except NameNotResolved:
            pass
        except OutboundRefused as exc:
            raise OutboundRefused(
                f"{exc} List it exactly as host:port in {setting} to allow it."
            ) from None
    return Decision(target, private_ok=False)


# --- A whole call's time ------------------------------------------------------------------

# When the outbound calls of this thread (or task) must have ended (time.monotonic()).
_DEADLINE: ContextVar[float | None] = ContextVar("outbound_deadline", default=None)


@contextmanager
def within(seconds: float) -> Iterator[None]:
    """Every network step of the outbound calls made inside the block (connecting, the TLS
    handshake, writing the request, each read of the answer's head and body) ends ``seconds``
    from now at the latest.  httpx's timeouts bound each step on its own, so a peer that
    drips its status line or headers a byte at a time would otherwise hold the call for as
    long as it likes.  Nested blocks keep the earlier end."""
    end = time.monotonic() + seconds
    outer = _DEADLINE.get()
    token = _DEADLINE.set(end if outer is None else min(outer, end))
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def _step_timeout(timeout: float | None, timed_out: type[Exception]) -> float | None:
    """The timeout of one network step: its own, or what is left of the call's time when
    that is less; ``timed_out`` once nothing is left."""
    end = _DEADLINE.get()
    if end is None:
        return timeout
    left = end - time.monotonic()
    if left <= 0:
        raise timed_out("the call's time limit was reached")
    return left if timeout is None else min(timeout, left)


class DeadlineStream(httpcore.NetworkStream):
    """A connection whose every read and write ends by the call's deadline (:func:`within`),
    read when the step starts: a pooled connection serves each call with that call's."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _step_timeout(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _step_timeout(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        return DeadlineStream(
            self._inner.start_tls(
                ssl_context, server_hostname, _step_timeout(timeout, httpcore.ConnectTimeout)
            )
        )

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


# --- Connecting -----------------------------------------------------------------------------


class AddressRefused(httpcore.ConnectError):
    """Raised inside the transport; httpx reports it as ``httpx.ConnectError``."""


class CheckingBackend(httpcore.NetworkBackend):
    """httpcore's network backend, connecting only to permitted ``(host, port)`` pairs and
    only to addresses checked for them.

    Why this is enough: httpcore asks the backend for every new TCP connection, with the
    request's own host and port.  We resolve that host once, check every address, and hand
    the inner backend a numeric address, for which ``socket.create_connection`` performs no
    lookup: the socket connects to an address we checked.  TLS still verifies the
    certificate against the host name (httpcore takes ``server_hostname`` from the request,
    not from us).
    """

    def __init__(
        self,
        permits: Mapping[tuple[str, int], bool],
        inner: httpcore.NetworkBackend | None = None,
    ) -> None:
        self.permits = permits
        self.inner = inner or httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        private_ok = self.permits.get((normalise_host(host), port))
        if private_ok is None:
            logger.warning("outbound refused %s:%s: not checked by the caller", host, port)
            raise AddressRefused("not permitted")
        timeout = _step_timeout(timeout, httpcore.ConnectTimeout)
        started = time.monotonic()
        try:
            addresses = checked_addresses(host, port, private_ok=private_ok)
        except OutboundRefused as exc:
            logger.warning("outbound refused %s:%s: %s", host, port, exc)
            raise AddressRefused("not permitted") from None
        last: Exception | None = None
        for address in addresses:
            remaining = None if timeout is None else timeout - (time.monotonic() - started)
            if remaining is not None and remaining <= 0:
                break
            try:
                return DeadlineStream(
                    self.inner.connect_tcp(
                        address,
                        port,
                        timeout=remaining,
                        local_address=local_address,
                        socket_options=socket_options,
                    )
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        if isinstance(last, httpcore.ConnectTimeout) or last is None:
            raise httpcore.ConnectTimeout("timed out")
        raise last

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        raise AddressRefused("unix sockets are not used for outbound calls")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class PinnedTransport(httpx.HTTPTransport):
    """``httpx.HTTPTransport`` whose connections go through :class:`CheckingBackend`.
    No proxy, no ``.netrc``, no environment: a proxy would resolve the name itself, and
    ``.netrc`` would add credentials of its own to any host."""

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext,
        permits: Mapping[tuple[str, int], bool],
        backend_factory: Callable[[Mapping[tuple[str, int], bool]], httpcore.NetworkBackend]
        | None = None,
    ) -> None:
        super().__init__(verify=ssl_context, trust_env=False)
        factory = backend_factory or CheckingBackend
        # httpx builds its own pool in __init__ and offers no hook for the network backend;
        # the pool is the one thing HTTPTransport delegates to, so replacing it is enough.
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            max_connections=10,
            max_keepalive_connections=5,
            keepalive_expiry=5.0,
            network_backend=factory(permits),
        )
