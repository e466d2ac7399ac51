"""The outbound rule (core/outbound.py): which URLs may be called, in every notation of an
address, and a transport that connects only to the addresses it checked."""

from __future__ import annotations

import ipaddress

import httpcore
import pytest

from core import outbound
from core.outbound import AllowEntry, OutboundRefused, check_url, parse_allowlist

DOCUMENTED = ("api.usesyncpay.com",)


def check(url: str, allow: list[str] | None = None, prefixes: tuple[str, ...] = ()):
    return check_url(
        url,
        documented_hosts=DOCUMENTED,
        allowlist=parse_allowlist(allow or []),
        trusted_prefixes=prefixes,
        setting="THE_LIST",
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:6379",
        "http://127.0.0.1:5432",
        "http://0x7f000001",
        "http://0x7f000001:6379",
        "http://2130706433",
        "http://0177.0.0.1",
        "http://127.1",
        "http://[::1]",
        "http://[::1]:6379",
        "http://[0:0:0:0:0:0:0:1]",
        "http://[::ffff:127.0.0.1]",
        "http://[::ffff:7f00:1]",
        "http://[64:ff9b::7f00:1]",
        "http://[2002:7f00:1::1]",
        "http://10.0.0.5",
        "http://172.16.0.1",
        "http://192.168.1.1",
        "http://169.254.169.254/latest/meta-data",
        "http://[fe80::1]",
        "http://[fd00::1]",
        "http://224.0.0.1",
        "http://[ff02::1]",
        "http://0.0.0.0",
        "http://[::]",
        "http://100.64.0.1",
        "http://240.0.0.1",
        "http://255.255.255.255",
        "https://api.usesyncpay.com.evil.example",
        "https://evil.example",
        "http://api.usesyncpay.com",  # documented, but only over https
        "https://api.usesyncpay.com:8443",  # documented, but only on 443
        "ftp://api.usesyncpay.com",
        "not a url",
    ],
)
def test_hostile_or_unknown_urls_are_refused(url):
    with pytest.raises(OutboundRefused):
        check(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://api.usesyncpay.com",
        "HTTPS://API.UseSyncPay.com.:443/v1/",
        "https://api.usesyncpay.com/x",
    ],
)
def test_documented_hosts_over_https_are_allowed(url):
    assert check(url).private_ok is False


def test_a_listed_host_is_allowed_on_its_default_port_only():
    assert check("https://eu.provider.example", ["eu.provider.example"]).private_ok is False
    assert check("http://eu.provider.example/api", ["eu.provider.example"]).private_ok is False
    with pytest.raises(OutboundRefused):
        check("https://eu.provider.example:8443", ["eu.provider.example"])
    assert check("https://eu.provider.example:8443", ["eu.provider.example:8443"]).private_ok


@pytest.mark.parametrize(
    ("url", "entry"),
    [
        ("http://127.0.0.1:6379", "127.0.0.1"),  # listed without its port
        ("http://127.0.0.1:6379", "127.0.0.1:6380"),  # another port
        ("http://0x7f000001:6379", "127.0.0.1:6379"),  # another spelling is not "exactly"
        ("http://[::1]:80", "::1"),
    ],
)
def test_private_addresses_need_an_exact_host_port_listing(url, entry):
    with pytest.raises(OutboundRefused, match="exactly as host:port in THE_LIST"):
        check(url, [entry])


@pytest.mark.parametrize(
    ("url", "entry"),
    [
        ("http://127.0.0.1:6379", "127.0.0.1:6379"),
        ("http://[::1]:8080/x", "[::1]:8080"),
        ("http://[0::1]:8080", "[::1]:8080"),
        ("http://localhost:8000", "LOCALHOST:8000"),
        ("http://10.0.0.5:80", "10.0.0.5:80"),
    ],
)
def test_an_exact_host_port_listing_allows_a_private_address(url, entry):
    assert check(url, [entry]).private_ok is True


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("http://127.0.0.1:8000/sandbox/syncpay", True),
        ("http://127.0.0.1:8000/sandbox/syncpay/api/v1/accounts/balances", True),
        ("http://127.0.0.1:8000/sandbox", True),
        ("http://127.0.0.1:8000/sandboxes", False),
        ("http://127.0.0.1:8000/admin/", False),
        ("http://127.0.0.1:8000/sandbox/%2e%2e/admin/", False),
        ("http://127.0.0.1:8000/sandbox/./x", True),  # httpx removes a literal "./"
        ("http://127.0.0.1:6379/sandbox/syncpay", False),
        ("https://127.0.0.1:8000/sandbox/syncpay", False),
    ],
)
def test_a_trusted_prefix_allows_only_what_lies_under_it(url, allowed):
    prefixes = ("http://127.0.0.1:8000/sandbox",)
    if allowed:
        assert check(url, prefixes=prefixes).private_ok is True
    else:
        with pytest.raises(OutboundRefused):
            check(url, prefixes=prefixes)


@pytest.mark.parametrize(
    ("entries", "parsed"),
    [
        (["a.example"], [AllowEntry("a.example", None)]),
        ([" A.Example.:8443 "], [AllowEntry("a.example", 8443)]),
        (["[::1]:8080", "::1"], [AllowEntry("::1", 8080), AllowEntry("::1", None)]),
        (["", "10.0.0.1:1"], [AllowEntry("10.0.0.1", 1)]),
    ],
)
def test_allowlist_entries(entries, parsed):
    assert list(parse_allowlist(entries)) == parsed


@pytest.mark.parametrize(
    "entry", ["a.example:", "a.example:0", "a.example:70000", "a:b", "[::1", "https://a.example/"]
)
def test_malformed_allowlist_entries_are_refused(entry):
    with pytest.raises(ValueError):
        parse_allowlist([entry])


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("0x7f000001", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("[::ffff:127.0.0.1]", "::ffff:7f00:1"),
        ("api.example.com", None),
        ("deadbeef", None),
    ],
)
def test_literal_addresses_in_odd_notations(host, address):
    found = outbound.literal_address(host)
    assert (str(found) if found else None) == address


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2606:4700::1111", True),
        ("127.0.0.1", False),
        ("::ffff:8.8.8.8", False),
        ("64:ff9b::a00:1", False),  # NAT64 of 10.0.0.1
        ("2002:a00:1::", False),  # 6to4 of 10.0.0.1
        ("224.0.0.251", False),
        ("100.64.1.1", False),
    ],
)
def test_public_addresses(address, public):
    assert outbound.is_public(ipaddress.ip_address(address)) is public


@pytest.mark.parametrize(
    ("url", "normal"),
    [
        ("HTTPS://API.Example.com:443/v1/", "https://api.example.com/v1"),
        ("https://api.example.com", "https://api.example.com"),
        ("http://127.0.0.1:8000/sandbox/SyncPay/", "http://127.0.0.1:8000/sandbox/SyncPay"),
        ("http://[0::1]:80/", "http://[::1]"),
        ("https://bücher.example/", "https://xn--bcher-kva.example"),
    ],
)
def test_normalised_urls(url, normal):
    assert outbound.normalise_url(url) == normal


def test_a_listed_name_resolving_to_a_private_address_is_refused_on_save(monkeypatch):
    monkeypatch.setattr(outbound, "resolve", lambda host, port: ["93.184.216.34", "10.1.2.3"])
    with pytest.raises(OutboundRefused, match=r"10\.1\.2\.3"):
        check_url(
            "https://internal.example",
            documented_hosts=(),
            allowlist=parse_allowlist(["internal.example"]),
            resolve_names=True,
        )


def test_a_listed_name_that_does_not_resolve_yet_can_be_saved(monkeypatch):
    def nowhere(host, port):
        raise OSError("no such name")

    monkeypatch.setattr(outbound, "resolve", nowhere)
    decision = check_url(
        "https://new.example",
        documented_hosts=(),
        allowlist=parse_allowlist(["new.example"]),
        resolve_names=True,
    )
    assert decision.private_ok is False


# --- The connect-time check ------------------------------------------------------------------


class RecordingBackend(httpcore.NetworkBackend):
    def __init__(self):
        self.connected: list[tuple[str, int]] = []

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        self.connected.append((host, port))
        raise httpcore.ConnectError("recorded")


@pytest.fixture
def resolver(monkeypatch):
    """Plays DNS: ``answers`` is what each successive lookup returns."""
    state = {"answers": [], "calls": 0}

    def resolve(host, port):
        answer = state["answers"][min(state["calls"], len(state["answers"]) - 1)]
        state["calls"] += 1
        return list(answer)

    monkeypatch.setattr(outbound, "resolve", resolve)
    return state


def test_the_socket_connects_to_the_checked_address_never_to_the_name(resolver):
    # A rebinding resolver: public for the check, loopback for a second lookup.
    resolver["answers"] = [["93.184.216.34"], ["127.0.0.1"]]
    inner = RecordingBackend()
    backend = outbound.CheckingBackend({("api.example", 443): False}, inner=inner)
    with pytest.raises(httpcore.ConnectError):
        backend.connect_tcp("api.example", 443, timeout=1)
    assert inner.connected == [("93.184.216.34", 443)]
    assert resolver["calls"] == 1  # one lookup: the checked answer is the one used


def test_one_private_address_among_public_ones_refuses_the_host(resolver):
    resolver["answers"] = [["93.184.216.34", "127.0.0.1"]]
    inner = RecordingBackend()
    backend = outbound.CheckingBackend({("api.example", 443): False}, inner=inner)
    with pytest.raises(outbound.AddressRefused):
        backend.connect_tcp("api.example", 443, timeout=1)
    assert inner.connected == []


def test_a_host_nobody_checked_is_never_resolved_nor_connected(resolver):
    resolver["answers"] = [["93.184.216.34"]]
    inner = RecordingBackend()
    backend = outbound.CheckingBackend({("api.example", 443): False}, inner=inner)
    with pytest.raises(outbound.AddressRefused):
        backend.connect_tcp("elsewhere.example", 443, timeout=1)
    with pytest.raises(outbound.AddressRefused):
        backend.connect_tcp("api.example", 8443, timeout=1)
    assert (inner.connected, resolver["calls"]) == ([], 0)


def test_an_exactly_listed_host_may_resolve_to_a_private_address(resolver):
    resolver["answers"] = [["10.0.0.7"]]
    inner = RecordingBackend()
    backend = outbound.CheckingBackend({("vpn.example", 8443): True}, inner=inner)
    with pytest.raises(httpcore.ConnectError):
        backend.connect_tcp("vpn.example", 8443, timeout=1)
    assert inner.connected == [("10.0.0.7", 8443)]


def test_a_name_lookup_that_hangs_is_abandoned_in_time(monkeypatch):
    """The system resolver can take many seconds per attempt; a lookup is given
    RESOLVE_SECONDS, or what is left of the call's deadline, and then refused as
    unresolved (retryable at the caller), without waiting for the resolver."""
    import threading
    import time

    release = threading.Event()

    def hanging(host, port):
        release.wait(10)
        return ["93.184.216.34"]

    monkeypatch.setattr(outbound, "resolve", hanging)
    monkeypatch.setattr(outbound, "RESOLVE_SECONDS", 0.3)
    try:
        started = time.monotonic()
        with pytest.raises(outbound.NameNotResolved, match=r"did not resolve within 0\.3 s"):
            outbound.checked_addresses("slow.example", 443, private_ok=False)
        assert time.monotonic() - started < 1.5
        # Inside a call whose deadline is nearer, the deadline wins.
        monkeypatch.setattr(outbound, "RESOLVE_SECONDS", 3.0)
        started = time.monotonic()
        with outbound.within(0.1), pytest.raises(outbound.NameNotResolved):
            outbound.checked_addresses("slow.example", 443, private_ok=False)
        assert time.monotonic() - started < 1.5
        # Two lookups of that host still hang: a third is refused at once, and no other
        # host waits for them.
        started = time.monotonic()
        with pytest.raises(outbound.NameNotResolved, match="earlier lookups still running"):
            outbound.checked_addresses("slow.example", 443, private_ok=False)
        assert time.monotonic() - started < 0.2
        monkeypatch.setattr(
            outbound,
            "resolve",
            lambda host, port: hanging(host, port) if host == "slow.example" else ["93.184.216.34"],
        )
        for host in ("api.wise.com", "api.finix.io", "fast.example"):
            assert outbound.checked_addresses(host, 443, private_ok=False) == ["93.184.216.34"]
    finally:
        release.set()
    deadline = time.monotonic() + 5
    while outbound._hung and time.monotonic() < deadline:  # the hung lookups end
        time.sleep(0.01)
    assert outbound._hung == {}


def test_many_lookups_of_one_host_at_once_all_answer(monkeypatch):
    """Only abandoned lookups count against a host: a batch of syncs opening connections to
    one provider at the same moment is never refused."""
    import threading
    import time

    def slowish(host, port):
        time.sleep(0.1)
        return ["93.184.216.34"]

    monkeypatch.setattr(outbound, "resolve", slowish)
    found: list[object] = []

    def one() -> None:
        try:
            found.append(outbound.checked_addresses("api.wise.com", 443, private_ok=False))
        except Exception as exc:
            found.append(exc)

    threads = [threading.Thread(target=one) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert found == [["93.184.216.34"]] * 12
