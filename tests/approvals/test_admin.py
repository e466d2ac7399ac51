"""Approvals in the Django admin: readable by superusers, never decided, edited or deleted
there (a request is decided on the Approvals pages or through the API only)."""

from __future__ import annotations

import pytest

from balances import actions as balance_actions
from tests.admin_helpers import admin_url, assert_read_only_in_admin

pytestmark = pytest.mark.django_db


@pytest.fixture
def waiting(eur_policy, eur, operator_actor):
    return balance_actions.balance_update_or_request(
        service=eur.service,
        currency="EUR",
        amount="12000.00",
        expected_version=None,
        actor=operator_actor,
        reason="Statement",
    )


def test_requests_and_policies_are_read_only_in_the_admin(root, waiting, eur_policy):
    assert_read_only_in_admin(root, waiting, {"status": "approved", "comment": "sneaky"})
    assert_read_only_in_admin(root, eur_policy, {"manual_change_above": "", "currency": "EUR"})
    waiting.refresh_from_db()
    assert waiting.status == "pending"


def test_the_requests_list_searches_and_filters(root, waiting):
    listing = root.get(admin_url(type(waiting)), {"q": waiting.public_id, "status": "pending"})
    assert listing.status_code == 200
    assert waiting.public_id in listing.content.decode()
