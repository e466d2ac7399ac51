"""Payouts in the Django admin: read-only, with their timeline (they change only through the
state machine, which holds, debits and releases the balance)."""

from __future__ import annotations

import pytest

from tests.admin_helpers import admin_url, assert_read_only_in_admin
from tests.factories import PayoutFactory

pytestmark = pytest.mark.django_db


def test_payouts_are_read_only_in_the_admin(root):
    payout = PayoutFactory(status="processing")
    assert_read_only_in_admin(
        root, payout, {"status": "paid", "amount": "1", "destination": "IBAN elsewhere"}
    )
    page = root.get(admin_url(payout, "change")).content.decode()
    assert payout.public_id in page and "Processing" in page  # the timeline is shown
