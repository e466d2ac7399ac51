"""The balances page's "as of" picker: the cards of that moment, read-only and marked."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from balances.actions import balance_update
from core.actors import Actor


def page_url(service, value: str | None = None) -> str:
    base = f"/services/{service.public_id}/balances/"
    return base if value is None else f"{base}?as_of={value}"


def cards_of(html: str) -> dict[str, str]:
    """currency → the card's available amount as shown."""
    found = re.findall(
        r'id="balance-([A-Z0-9_]+)".*?class="balance-amount" data-amount="[^"]*">(.*?)</div>',
        html,
        re.S,
    )
    return {code: re.sub(r"<[^>]+>", "", shown).strip() for code, shown in found}


def test_the_balances_page_offers_the_picker(world, operator_client):
    html = operator_client.get(page_url(world.service)).content.decode()
    assert 'type="datetime-local"' in html and 'name="as_of"' in html
    assert "As of (UTC)" in html and 'aria-describedby="id_as_of_helptext"' in html


def test_the_cards_of_a_moment_are_read_only_and_marked(world, operator_client):
    sync_at = world.states[5][0]  # 09:05, after the sync
    response = operator_client.get(page_url(world.service, "2026-11-20T09:05"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Balances as of 20 Nov 2026 09:05 UTC — read-only" in re.sub(r"<[^>]+>", "", html)
    assert f'datetime="{sync_at.isoformat()}"' in html
    assert cards_of(html) == {"EUR": "1,300.00", "KWD": "5.125"}
    assert "Pending" in html and "25.00" in html
    for action in ("New balance", ">Edit<", ">Delete<", "Update balances", ">Payouts<"):
        assert action not in html, action
    assert "/edit/" not in html and "/delete/" not in html and "/payouts/" not in html
    assert f'href="/services/{world.service.public_id}/balances/">Back to now' in html


def test_a_deleted_currency_shows_while_it_existed(world, viewer_client):
    before = viewer_client.get(page_url(world.service, "2026-11-20T09:09:30")).content.decode()
    assert set(cards_of(before)) == {"EUR", "KWD", "USDT_TRC20"}
    assert cards_of(before)["USDT_TRC20"] == "0.12345678"
    after = viewer_client.get(page_url(world.service, "2026-11-20T09:10:00")).content.decode()
    assert set(cards_of(after)) == {"EUR", "KWD"}


def test_before_any_balance_the_page_says_so(world, viewer_client):
    html = viewer_client.get(page_url(world.service, "2025-01-01T00:00")).content.decode()
    assert "No balances then" in html and cards_of(html) == {}


@pytest.mark.parametrize(
    "value",
    ["yesterday", "2026-11-20", "2026-13-01T00:00", "2026-11-20T25:00", "9999-01-01T00:00", ""],
)
def test_a_bad_moment_is_a_form_error(world, viewer_client, value):
    response = viewer_client.get(page_url(world.service, value))
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="id_as_of_error"' in html
    assert 'aria-describedby="id_as_of_helptext id_as_of_error"' in html
    assert cards_of(html) == {}


def test_a_link_may_carry_an_rfc3339_moment(world, viewer_client):
    html = viewer_client.get(page_url(world.service, "2026-11-20T10:05:00%2B01:00")).content
    assert cards_of(html.decode()) == {"EUR": "1,300.00", "KWD": "5.125"}


def test_who_may_see_the_past(world, clients):
    url = page_url(world.service, "2026-11-20T09:05")
    assert clients["anonymous"].get(url).status_code == 302
    assert clients["nobody"].get(url).status_code == 403
    assert clients["viewer"].get(url).status_code == 200


def test_queries_do_not_grow_with_the_history(
    world, viewer_client, clock, django_assert_num_queries
):
    url = page_url(world.service, "2026-11-20T09:05")
    viewer_client.get(url)  # warm: the session's first use

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert viewer_client.get(url).status_code == 200
        return len(queries)

    short = count()
    for n in range(25):
        balance_update(
            service=world.service,
            currency="EUR",
            amount=str(n),
            expected_version=None,
            actor=Actor.system("tests"),
            reason="more",
        )
        clock.advance(seconds=1)
    assert count() == short
    later = clock.now - timedelta(seconds=1)
    with django_assert_num_queries(short):
        viewer_client.get(page_url(world.service, later.strftime("%Y-%m-%dT%H:%M:%S")))
