"""Who is calling: the client IP, by one rule for the API throttles and the login lockout.

``X-Forwarded-For`` is written by whoever sends the request, so it is believed only behind a
proxy we run (``BEHIND_PROXY=1``), and then only as far as our own proxies go: each of the
``PROXY_HOPS`` proxies appends the address it received the request from, so the client is the
``PROXY_HOPS``-th address from the right.  Anything further left was written by the client and
may be anything.  Without a proxy the TCP peer (``REMOTE_ADDR``) is the client.

The rule is DRF's ``NUM_PROXIES`` (``REST_FRAMEWORK["NUM_PROXIES"]`` is set from the same
settings), written out here so that django-axes uses it too (``AXES_CLIENT_IP_CALLABLE``).
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def trusted_proxy_hops() -> int:
    """How many addresses at the right of X-Forwarded-For our own proxies wrote (0: none)."""
    if not settings.BEHIND_PROXY:
        return 0
    return max(int(settings.PROXY_HOPS), 0)


def client_ip(request: HttpRequest) -> str | None:
    remote_addr = request.META.get("REMOTE_ADDR")
    hops = trusted_proxy_hops()
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    if hops == 0 or not forwarded:
        return remote_addr
    addresses = [a.strip() for a in forwarded.split(",")]
    return addresses[-min(hops, len(addresses))] or remote_addr
