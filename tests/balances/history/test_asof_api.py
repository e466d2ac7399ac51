"""``GET /api/v1/services/{serviceId}/balances?asOf=…``: the documented shape, as the
balances were at that moment; strict about the moment (400 naming ``asOf``)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from urllib.parse import quote

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from balances.actions import balance_update
from core.actors import Actor
from core.csvexport import iso_utc
from core.money.currencies import plain_amount
from tests.config.helpers import CALLERS, READERS, api_client_for, assert_error, body

D = Decimal


def url(service, moment: str | None = None, **extra: str) -> str:
    query = "&".join(f"{k}={quote(v, safe='')}" for k, v in extra.items())
    if moment is not None:
        query = f"asOf={quote(moment, safe='')}" + (f"&{query}" if query else "")
    return f"/api/v1/services/{service.public_id}/balances" + (f"?{query}" if query else "")


def expected_items(figures: dict[str, tuple]) -> list[dict]:
    return [
        {
            "currency": code,
            "amount": available,
            "pending": pending,
            "reserved": reserved,
            "availableForPayout": None,
            "version": version,
            "updatedAt": iso_utc(updated_at),
            "lastSyncedAt": None,
        }
        for code, (available, pending, reserved, version, updated_at, _by) in sorted(
            figures.items()
        )
    ]


def normalised(item: dict) -> dict:
    """Timestamps compared as instants (DRF writes +00:00 or Z depending on settings)."""
    from datetime import datetime

    moment = datetime.fromisoformat(item["updatedAt"].replace("Z", "+00:00"))
    return {**item, "updatedAt": iso_utc(moment)}


def test_as_of_answers_the_documented_shape_as_balances_were(world, viewer_api):
    for at, _ in world.states:
        for moment in (at, at + timedelta(seconds=30), at - timedelta(microseconds=1)):
            response = viewer_api.get(url(world.service, iso_utc(moment)))
            assert response.status_code == 200, response.content
            data = body(response)
            assert list(data) == ["serviceId", "balances"]
            assert data["serviceId"] == world.service.public_id
            got = [normalised(item) for item in data["balances"]]
            assert got == expected_items(world.expected_at(moment)), moment


def test_amounts_keep_their_currencys_digits(world, viewer_api):
    moment = world.states[8][0]  # KWD re-created with 0.001, EUR after the payout
    response = viewer_api.get(url(world.service, iso_utc(moment)))
    raw = response.content.decode().replace(" ", "")
    assert '"currency":"KWD","amount":0.001,"pending":0.000,"reserved":0.000' in raw
    eur = world.expected_at(moment)["EUR"]
    written = f'"currency":"EUR","amount":{plain_amount(eur[0], "EUR")},"pending":25.00'
    assert written in raw and eur[0] == D("1200.00")  # 1300.00 from the sync, less the payout


@pytest.mark.parametrize(
    "written",
    ["2026-11-20T10:05:00+01:00", "2026-11-20T09:05:00Z", "2026-11-20t09:05:00z",
     "2026-11-20T04:05:00-05:00", "2026-11-20T09:05Z", "2026-11-20 09:05:00.000000000Z"],
)  # fmt: skip
def test_any_offset_names_the_same_moment(world, viewer_api, written):
    reference = body(viewer_api.get(url(world.service, "2026-11-20T09:05:00Z")))
    assert body(viewer_api.get(url(world.service, written))) == reference
    assert reference["balances"][0]["amount"] == D("1300.00")  # the sync's figure


def test_currency_filter_applies_to_the_past(world, viewer_api):
    moment = iso_utc(world.states[5][0])
    data = body(viewer_api.get(url(world.service, moment, currency="kwd")))
    assert [b["currency"] for b in data["balances"]] == ["KWD"]


def test_without_as_of_the_current_answer_is_unchanged(world, viewer_api):
    data = body(viewer_api.get(url(world.service)))
    assert [b["currency"] for b in data["balances"]] == ["EUR", "KWD"]
    assert all(b["availableForPayout"] is not None for b in data["balances"])


BAD_MOMENTS = [
    ("2026-11-20T09:05:00", "naive"),
    ("2026-11-20", "date only"),
    ("yesterday", "garbage"),
    ("9999-12-31T23:59:59Z", "far future"),
    ("2026-13-01T00:00:00Z", "month 13"),
    ("2026-02-30T00:00:00Z", "30 February"),
    ("2026-11-20T24:00:00Z", "hour 24"),
    ("2026-11-20T09:05:60Z", "leap second"),
    ("2026-11-20T09:05:00+24:00", "offset out of range"),
    ("2026-11-20T09:05:00.1234567891Z", "ten fraction digits"),
    ("2026-11-20T10:05:00 01:00", "plus read as a space"),
    ("\uff12\uff10\uff12\uff16-11-20T09:05:00Z", "full-width digits"),
    ("1" * 5000, "huge"),
    ("1764000000", "epoch seconds"),
    ("9999-12-31T23:59:59-05:00", "beyond year 9999 in UTC"),
    ("0001-01-01T00:00:00+01:00", "before year 1 in UTC"),
    ("0000-01-01T00:00:00Z", "year 0"),
]


@pytest.mark.parametrize(("moment", "why"), BAD_MOMENTS, ids=[w for _, w in BAD_MOMENTS])
def test_bad_moments_are_400_naming_as_of(world, viewer_api, moment, why):
    error = assert_error(viewer_api.get(url(world.service, moment)), 400)
    assert "asOf" in error["details"], error


@pytest.mark.parametrize("moment", ["2026-11-20T09:05:00Z\x00", "2026-11-20T09:05\x00Z"])
def test_nul_is_refused_before_any_view_like_everywhere(world, viewer_api, moment):
    # core/pathguard.py answers any NUL in a query parameter with the API's 404 envelope.
    assert_error(viewer_api.get(url(world.service, moment)), 404, "not_found")


def test_an_empty_as_of_is_no_moment(world, viewer_api):
    # As for every optional query parameter (DRF): an empty form field means "not given".
    assert body(viewer_api.get(url(world.service, ""))) == body(viewer_api.get(url(world.service)))


def test_a_moment_in_the_future_is_refused(world, viewer_api, clock):
    later = iso_utc(clock.now + timedelta(seconds=1))
    error = assert_error(viewer_api.get(url(world.service, later)), 400)
    assert "future" in error["details"]["asOf"][0]
    assert viewer_api.get(url(world.service, iso_utc(clock.now))).status_code == 200


def test_unknown_service_is_404_with_as_of(world, viewer_api):
    response = viewer_api.get("/api/v1/services/srv_nope/balances?asOf=2026-11-20T09:05:00Z")
    assert_error(response, 404, "not_found")


@pytest.mark.parametrize("caller", CALLERS)
def test_who_may_read_the_past(world, request, caller):
    client = api_client_for(request, caller)
    response = client.get(url(world.service, "2026-11-20T09:05:00Z"))
    if caller in READERS:
        assert response.status_code == 200
    elif caller in ("anonymous", "bad_key"):
        assert_error(response, 401)
    else:
        assert_error(response, 403, "permission_denied")


def test_query_count_does_not_grow_with_the_history(world, viewer_api, clock):
    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            response = viewer_api.get(url(world.service, iso_utc(clock.now)))
        assert response.status_code == 200
        return len(queries)

    count()  # the key's first use records itself; measured from the second call
    short = count()
    actor = Actor.system("tests")
    for n in range(30):
        clock.advance(seconds=1)
        balance_update(
            service=world.service,
            currency="EUR",
            amount=D(n),
            expected_version=None,
            actor=actor,
            reason="more history",
        )
    assert count() == short
