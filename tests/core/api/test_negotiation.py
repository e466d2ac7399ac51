"""core.api.negotiation answers the usual requests without parsing their Accept header: its
choice is DRF's for every combination of header, ?format= and renderers."""

from __future__ import annotations

import pytest
from django.test import RequestFactory
from rest_framework.renderers import BrowsableAPIRenderer
from rest_framework.request import Request

from core.api.negotiation import ApiContentNegotiation
from core.api.renderers import DecimalJSONRenderer

ACCEPTS = [
    None,
    "*/*",
    "application/json",
    "application/json; indent=4",
    "text/html",
    "text/html,*/*",
    "*/*;q=0.8",
    "application/xml",
    "",
]
QUERIES = ["", "?format=json", "?format=api", "?format=", "?format=csv"]
ORDERS = [
    [DecimalJSONRenderer, BrowsableAPIRenderer],
    [BrowsableAPIRenderer, DecimalJSONRenderer],
]


def choice(select, accept, query, order, suffix):
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}
    request = Request(RequestFactory().get("/api/v1/services" + query, **headers))
    try:
        renderer, media_type = select(request, [cls() for cls in order], suffix)
    except Exception as exc:  # the refusal must be the same too
        return type(exc), str(exc)
    return type(renderer), media_type


@pytest.mark.parametrize("suffix", [None, "json"])
@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize("accept", ACCEPTS)
def test_the_choice_is_drfs(accept, query, order, suffix):
    ours = ApiContentNegotiation()
    drfs = super(ApiContentNegotiation, ours).select_renderer

    assert choice(ours.select_renderer, accept, query, order, suffix) == choice(
        drfs, accept, query, order, suffix
    )
