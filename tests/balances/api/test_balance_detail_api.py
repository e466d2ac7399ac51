"""GET/PATCH/DELETE /services/{id}/balances/{currency} (ETag, If-Match) and …/history."""

from __future__ import annotations

from decimal import Decimal

import pytest

from balances import actions
from balances.models import Balance, BalanceChange
from core.actors import Actor
from tests.config.helpers import assert_error, body, send
from tests.factories import BalanceFactory

pytestmark = pytest.mark.django_db


def url(service, suffix: str = "") -> str:
    return f"/api/v1/services/{service.public_id}/balances{suffix}"


# --- Read, update, delete --------------------------------------------------------------------


def test_get_one_balance_with_its_etag(viewer_api, eur_balance):
    response = viewer_api.get(url(eur_balance.service, "/eur"))

    assert response.status_code == 200
    assert response["ETag"] == '"1"'
    assert response.content.startswith(
        f'{{"serviceId": "{eur_balance.service.public_id}", "currency": "EUR", "amount": 100.00,'.encode()
    )


def test_get_a_missing_balance_is_a_404(viewer_api, service):
    assert_error(viewer_api.get(url(service, "/EUR")), 404, "not_found")


def test_patch_with_the_current_etag_updates_and_returns_the_new_one(operator_api, eur_balance):
    etag = operator_api.get(url(eur_balance.service, "/EUR"))["ETag"]

    response = send(
        operator_api,
        "patch",
        url(eur_balance.service, "/EUR"),
        '{"amount": 12500.75, "reason": "bank statement"}',
        headers={"If-Match": etag},
    )

    assert response.status_code == 200
    assert response["ETag"] == '"2"'
    assert b'"amount": 12500.75,' in response.content
    change = BalanceChange.objects.get(kind="updated")
    assert (change.new_available, change.reason) == (Decimal("12500.75"), "bank statement")


def test_patch_accepts_the_amount_as_a_string(operator_api, eur_balance):
    response = send(
        operator_api, "patch", url(eur_balance.service, "/EUR"), {"amount": "7.1", "reason": "r"}
    )

    assert response.status_code == 200
    assert body(response)["amount"] == Decimal("7.10")


def test_patch_with_a_stale_etag_is_a_412_and_changes_nothing(operator_api, eur_balance):
    service = eur_balance.service
    actions.balance_update(
        service=service,
        currency="EUR",
        amount="5",
        expected_version=1,
        actor=Actor.system("someone"),
        reason="meanwhile",
    )

    response = send(
        operator_api,
        "patch",
        url(service, "/EUR"),
        {"amount": "9", "reason": "r"},
        headers={"If-Match": '"1"'},
    )

    error = assert_error(response, 412, "stale_version")
    assert error["details"]["currentVersion"] == 2
    assert error["details"]["currentAmount"] == Decimal("5.00")
    assert response["ETag"] == '"2"'
    eur_balance.refresh_from_db()
    assert eur_balance.available == Decimal("5")


def test_patch_with_an_unreadable_if_match_is_a_412(operator_api, eur_balance):
    response = send(
        operator_api,
        "patch",
        url(eur_balance.service, "/EUR"),
        {"amount": "9", "reason": "r"},
        headers={"If-Match": '"not-a-version"'},
    )

    assert_error(response, 412, "stale_version")


def test_patch_too_precise_is_a_400_naming_amount_and_never_rounds(operator_api, eur_balance):
    response = send(
        operator_api,
        "patch",
        url(eur_balance.service, "/EUR"),
        '{"amount": 10.005, "reason": "r"}',
    )

    error = assert_error(response, 400, "validation_error")
    assert "10.005" in error["details"]["amount"][0]
    eur_balance.refresh_from_db()
    assert eur_balance.available == Decimal("100.00")


def test_patch_without_reason_is_a_400_naming_reason(operator_api, eur_balance):
    response = send(operator_api, "patch", url(eur_balance.service, "/EUR"), {"amount": "1"})

    assert "reason" in assert_error(response, 400)["details"]


def test_patch_of_a_missing_balance_is_a_404(operator_api, service):
    response = send(operator_api, "patch", url(service, "/EUR"), {"amount": "1", "reason": "r"})

    assert_error(response, 404)


def test_delete_is_a_204_and_keeps_the_history(operator_api, eur_balance):
    response = operator_api.delete(url(eur_balance.service, "/EUR"), headers={"If-Match": '"1"'})

    assert response.status_code == 204
    assert not Balance.objects.exists()
    assert BalanceChange.objects.filter(kind="deleted").exists()


def test_delete_with_a_stale_etag_is_a_412(operator_api, eur_balance):
    response = operator_api.delete(url(eur_balance.service, "/EUR"), headers={"If-Match": '"7"'})

    assert_error(response, 412, "stale_version")
    assert Balance.objects.exists()


def test_delete_follows_the_page_rules_409_with_reasons(operator_api, service):
    BalanceFactory(service=service, currency="EUR", pending=Decimal("3"))

    error = assert_error(operator_api.delete(url(service, "/EUR")), 409, "not_deletable")

    assert error["details"]["reasons"]
    assert Balance.objects.exists()


# --- History ---------------------------------------------------------------------------------


def test_history_is_newest_first_and_paginated(viewer_api, operator, service):
    actor = Actor.for_user(operator)
    actions.balance_create(service=service, currency="EUR", amount="1", actor=actor)
    for i in range(2, 6):
        actions.balance_update(
            service=service,
            currency="EUR",
            amount=str(i),
            expected_version=None,
            actor=actor,
            reason=f"r{i}",
        )

    first = body(viewer_api.get(url(service, "/EUR/history"), {"pageSize": 2}))
    second = body(viewer_api.get(first["next"]))

    assert [c["newAmount"] for c in first["results"]] == [Decimal("5.00"), Decimal("4.00")]
    assert [c["newAmount"] for c in second["results"]] == [Decimal("3.00"), Decimal("2.00")]
    assert first["next"] and first["previous"] is None
    assert "pageSize=2" in first["next"] and second["previous"]
    assert first["results"][0]["actorLabel"] == operator.username
    assert first["results"][0]["kind"] == "updated"


def test_history_stays_readable_after_the_balance_is_deleted(viewer_api, operator, service):
    actions.balance_create(service=service, currency="EUR", actor=Actor.for_user(operator))
    actions.balance_delete(service=service, currency="EUR", actor=Actor.for_user(operator))

    data = body(viewer_api.get(url(service, "/EUR/history")))

    assert [c["kind"] for c in data["results"]] == ["deleted", "created"]


def test_history_of_a_currency_never_held_is_a_404(viewer_api, service):
    assert_error(viewer_api.get(url(service, "/EUR/history")), 404)


def test_history_page_size_is_capped(viewer_api, eur_balance):
    data = body(viewer_api.get(url(eur_balance.service, "/EUR/history"), {"pageSize": 10_000}))

    assert len(data["results"]) <= 200


def test_history_query_count_does_not_depend_on_the_number_of_changes(
    viewer_api, operator, service, django_assert_num_queries
):
    actor = Actor.for_user(operator)
    actions.balance_create(service=service, currency="EUR", amount="1", actor=actor)
    viewer_api.get(url(service, "/EUR/history"))  # records the key's last use

    def count_queries() -> int:
        # 1 key + user; 2 permissions; 3 the ETag's validator (how many changes, the
        # newest); 4 the service; 5 does the balance exist; 6 the keyset page, with the
        # sync runs joined; 7 how many changes match (the first page only: deeper pages
        # cost one query less, whatever the depth).
        with django_assert_num_queries(7):
            response = viewer_api.get(url(service, "/EUR/history"))
        return len(body(response)["results"])

    assert count_queries() == 1
    for i in range(2, 30):
        actions.balance_update(
            service=service,
            currency="EUR",
            amount=str(i),
            expected_version=None,
            actor=actor,
            reason="r",
        )
    assert count_queries() == 29
