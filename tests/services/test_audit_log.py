"""The audit log: an entry for every kind of write (who, through which session or API key,
which object, before and after, the reason; never a secret), the /audit/ page and
GET /api/v1/audit (admins only, filters, keyset pages, CSV), and the back-fill of the
object of older entries."""

from __future__ import annotations

import csv
import importlib
import io
import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from django.apps import apps as global_apps
from django.db import connection

from alerts import actions as alert_actions
from balances.connections.actions import connection_delete, connection_save
from core.actors import Actor
from core.keyset import Cursor
from services.accounts.actions import api_key_revoke
from services.audit import queries
from services.fees import actions as fee_actions
from services.models import ApiKey, AuditEntry, FeeRule
from tests.config.helpers import assert_error, body, send
from tests.factories import BalanceFactory, FeeProfileFactory, ServiceFactory
from webhooks import actions as webhook_actions

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)
SECRET = "sk_live_SHOULD-NEVER-SHOW-0123456789"
PAGE = "/audit/"
API = "/api/v1/audit"
RULE = {
    "operation": "payout",
    "currency": "EUR",
    "percentage": "1.5",
    "fixed_amount": "0.25",
    "minimum_fee": "0.50",
    "maximum_fee": "10.00",
    "minimum_payout_amount": "5.00",
}


def entries(**filters) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(**filters).order_by("created_at", "id"))


def key_prefix(user) -> str:
    return ApiKey.objects.filter(user=user).latest("created_at").prefix


def read_csv(response) -> list[dict[str, str]]:
    assert response.streaming and response["Content-Type"] == "text/csv; charset=utf-8"
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


# --- Every kind of write is audited ------------------------------------------------------------


def test_service_writes_through_the_api_record_the_key(admin_api, admin):
    response = send(admin_api, "post", "/api/v1/services", {"name": "Acme", "country": "NG"})
    sid = body(response)["serviceId"]
    send(admin_api, "patch", f"/api/v1/services/{sid}", {"name": "Acme 2"})

    created, updated = entries(object_type="service")
    via = f"key:{key_prefix(admin)}"
    assert (created.action, created.object_id, created.actor_user, created.via) == (
        "service_created",
        sid,
        admin,
        via,
    )
    assert updated.changes["name"] == ["Acme", "Acme 2"] and updated.via == via


def test_balance_writes_are_audited_with_their_reason_and_exact_amounts(operator_api, operator):
    service = ServiceFactory()
    base = f"/api/v1/services/{service.public_id}/balances"
    send(operator_api, "post", base, {"currency": "KWD", "amount": "10.125", "reason": "Open"})
    send(operator_api, "patch", f"{base}/KWD", {"amount": "7.5", "reason": "=Correction"})
    operator_api.delete(f"{base}/KWD?reason=Closed")

    made, changed, gone = entries(object_type="balance")
    assert [e.action for e in (made, changed, gone)] == [
        "balance_created",
        "balance_updated",
        "balance_deleted",
    ]
    assert {e.object_id for e in (made, changed, gone)} == {f"{service.public_id}:KWD"}
    assert made.changes["available"] == [None, "10.125"] and made.reason == "Open"
    assert changed.changes["available"] == ["10.125", "7.500"]
    assert changed.reason == "=Correction" and gone.reason == "Closed"
    assert gone.changes["available"] == ["7.500", None]
    assert {e.via for e in (made, changed, gone)} == {f"key:{key_prefix(operator)}"}


def test_syncs_and_system_writes_are_not_audited_per_balance(service):
    from balances.actions import balance_create

    balance_create(service=service, currency="EUR", amount="1", actor=Actor.system())

    assert not entries(object_type="balance")


def test_payout_creation_and_each_move_by_a_person_are_audited(operator_api, operator):
    profile = FeeProfileFactory(rules=[RULE], actor=Actor.system())
    service = ServiceFactory(fee_profile=profile)
    BalanceFactory(service=service, currency="EUR", available="1000.00")
    created = body(
        send(
            operator_api,
            "post",
            f"/api/v1/services/{service.public_id}/payouts",
            {"currency": "EUR", "amount": "100.00", "destination": "NL91"},
        )
    )
    pid = created["payoutId"]
    send(operator_api, "post", f"/api/v1/payouts/{pid}/process", {})
    send(operator_api, "post", f"/api/v1/payouts/{pid}/fail", {"reason": "Bank refused"})

    made, processing, failed = entries(object_type="payout", object_id=pid)
    assert made.action == "payout_created"
    assert (made.changes["amount"], made.changes["fee"]) == ("100.00", "1.75")
    assert processing.changes == {"status": ["pending", "processing"]}
    assert failed.action == "payout_failed" and failed.reason == "Bank refused"
    assert {e.via for e in (made, processing, failed)} == {f"key:{key_prefix(operator)}"}


def test_connection_changes_are_audited_without_any_secret(admin, service):
    actor = Actor.for_user(admin, via="session")
    connection_save(service=service, kind="syncpay", actor=actor, credentials={"apiKey": SECRET})
    connection_save(
        service=service, kind="syncpay", actor=actor, credentials={"apiKey": SECRET + "-rotated"}
    )
    connection_delete(service=service, actor=actor)

    trail = entries(object_type="connection", object_id=service.public_id)
    assert [e.action for e in trail] == [
        "provider_connected",
        "provider_updated",
        "provider_disconnected",
    ]
    assert trail[1].changes["credentials"] == "changed: apiKey"
    dumped = json.dumps([e.changes for e in AuditEntry.objects.all()])
    assert SECRET not in dumped and "SHOULD-NEVER-SHOW" not in dumped


def test_fee_profiles_and_rules_are_audited_with_their_objects(admin):
    actor = Actor.for_user(admin, via="session")
    profile = fee_actions.fee_profile_create(name="Std", description="", actor=actor)
    rule = fee_actions.fee_rule_create(profile=profile, actor=actor, **RULE)
    fee_actions.fee_rule_update(rule=rule, actor=actor, **{**RULE, "fixed_amount": "0.30"})
    fee_actions.fee_rule_delete(rule=FeeRule.objects.get(pk=rule.pk), actor=actor)
    fee_actions.fee_profile_delete(profile=profile, actor=actor)

    assert [(e.action, e.object_type, e.object_id) for e in entries(actor_user=admin)] == [
        ("fee_profile_created", "fee_profile", str(profile.pk)),
        ("fee_rule_added", "fee_rule", str(rule.pk)),
        ("fee_rule_changed", "fee_rule", str(rule.pk)),
        ("fee_rule_deleted", "fee_rule", str(rule.pk)),
        ("fee_profile_deleted", "fee_profile", str(profile.pk)),
    ]
    assert entries(action="fee_rule_changed")[0].changes["fixed_amount"] == ["0.25", "0.30"]


def test_api_keys_are_audited_by_their_prefix_never_the_key(admin_client_role, admin):
    response = admin_client_role.post("/account/api-keys/", {"name": "ledger"})
    raw = response.context["raw_key"]
    key = ApiKey.objects.get(name="ledger")
    admin_client_role.post(f"/account/api-keys/{key.pk}/revoke/")
    api_key_revoke(user=admin, key_id=key.pk)  # twice: harmless, audited once

    made, revoked = entries(object_type="api_key", object_id=key.prefix)
    assert (made.action, revoked.action) == ("api_key_created", "api_key_revoked")
    assert made.via == "session" and made.actor_user == admin
    dumped = json.dumps([made.changes, revoked.changes, made.subject])
    assert raw not in dumped and key.key_hash not in dumped


def test_alert_rules_are_audited_as_field_changes(admin, service):
    actor = Actor.for_user(admin, via="session")
    rule = alert_actions.rule_create(
        service=service,
        currency="EUR",
        kind="available_below",
        threshold="10",
        actor=actor,
        emails=["a@example.test", "b@example.test"],
    )
    alert_actions.rule_update(rule=rule, actor=actor, threshold="20")
    alert_actions.rule_delete(rule=rule, actor=actor)

    made, changed, gone = entries(object_type="alert_rule", object_id=rule.public_id)
    assert made.changes["emails"] == "a@example.test, b@example.test"
    assert changed.changes == {"threshold": ["10.00", "20.00"]}
    assert gone.action == "alert_rule_deleted"


def test_webhooks_are_audited_without_their_url_token_or_secret(admin, settings):
    settings.WEBHOOK_URL_ALLOWLIST = ["127.0.0.1:9"]
    actor = Actor.for_user(admin, via="session")
    hook, secret = webhook_actions.webhook_create(
        url="http://127.0.0.1:9/in?token=TOPSECRET", events=["balance.changed"], actor=actor
    )
    webhook_actions.webhook_update(webhook=hook, actor=actor, url="http://127.0.0.1:9/other")
    webhook_actions.webhook_update(webhook=hook, actor=actor, active=False)
    rolled = webhook_actions.webhook_roll_secret(webhook=hook, actor=actor)
    webhook_actions.webhook_delete(webhook=hook, actor=actor)

    trail = entries(object_type="webhook", object_id=hook.public_id)
    assert [e.action for e in trail] == [
        "webhook_created",
        "webhook_updated",
        "webhook_updated",
        "webhook_secret_rolled",
        "webhook_deleted",
    ]
    assert trail[0].changes["host"] == "127.0.0.1" and trail[1].changes == {"url": "changed"}
    assert trail[2].changes == {"active": [True, False]}
    dumped = json.dumps([e.changes for e in trail])
    assert "TOPSECRET" not in dumped and secret not in dumped and rolled not in dumped


# --- Permissions -------------------------------------------------------------------------------


def test_only_admins_see_the_audit_log(clients, superuser, anonymous_api, api_clients):
    from django.test import Client

    assert clients["viewer"].get(PAGE).status_code == 403
    assert clients["operator"].get(PAGE).status_code == 403
    assert clients["admin"].get(PAGE).status_code == 200
    root = Client()
    root.force_login(superuser)
    assert root.get(PAGE).status_code == 200
    assert Client().get(PAGE)["Location"].startswith("/accounts/login/")

    assert_error(api_clients["viewer"].get(API), 403)
    assert_error(api_clients["operator"].get(API), 403)
    assert_error(anonymous_api.get(API), 401)
    assert api_clients["admin"].get(API).status_code == 200
    assert api_clients["read_only"].get(API).status_code == 200


def test_the_navigation_links_the_audit_log_for_admins_only(clients):
    assert b'href="/audit/"' in clients["admin"].get("/services/").content
    assert b'href="/audit/"' not in clients["operator"].get("/services/").content


# --- Filters, pages, CSV ---------------------------------------------------------------------------


@pytest.fixture
def log(admin, operator):
    """Entries at known moments (set after the insert: created_at is automatic), alone in
    the log: the entries of the API keys the clients were given are cleared."""
    AuditEntry.objects.filter(object_type="api_key").delete()
    made = []

    def add(at, **fields):
        values = {
            "action": "service_updated",
            "subject": "s",
            "actor_label": "ada",
            "actor_user": admin,
            "object_type": "service",
            "object_id": "srv_a",
        }
        values.update(fields)
        entry = AuditEntry.objects.create(**values)
        AuditEntry.objects.filter(pk=entry.pk).update(created_at=at)
        entry.refresh_from_db()
        made.append(entry)
        return entry

    return SimpleNamespace(add=add, made=made)


def ids(response) -> list[int]:
    return [e["id"] for e in body(response)["results"]]


def test_each_filter_of_the_audit_log(admin_api, operator, log):
    a = log.add(T0, via="session", reason="=1+2")
    b = log.add(
        T0 + timedelta(hours=1),
        actor_label="otto",
        actor_user=operator,
        action="payout_paid",
        object_type="payout",
        object_id="po_1",
    )
    c = log.add(T0 + timedelta(days=1), object_id="srv_b", action="service_created")

    cases = {
        "actor=OTT": [b.pk],
        "actor=ada": [c.pk, a.pk],
        "objectType=payout": [b.pk],
        "objectType=service&objectId=srv_b": [c.pk],
        "action=payout": [b.pk],
        "from=2026-11-28": [c.pk],
        "to=2026-11-27": [b.pk, a.pk],
        "from=2026-11-27T18:30&to=2026-11-27T19:00:00Z": [b.pk],
    }
    for query, expected in cases.items():
        assert ids(admin_api.get(f"{API}?{query}")) == expected, query


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("from=later", "from"),
        ("objectType=planet", "objectType"),
        ("cursor=%21%21", "cursor"),
        ("objectId=" + "x" * 65, "objectId"),
        ("to=2026-01-01&from=2026-02-01", "to"),
    ],
)
def test_bad_audit_filters_are_a_400_and_a_form_error(
    admin_api, admin_client_role, log, query, field
):
    assert field in assert_error(admin_api.get(f"{API}?{query}"), 400)["details"]
    page = admin_client_role.get(f"{PAGE}?{query}")
    assert page.status_code == 400 and page.context["form"].errors[field]


def test_audit_log_pages_forward_and_back_through_ties(admin_api, log):
    made = [log.add(T0 + timedelta(minutes=i % 3)) for i in range(9)]
    expected = [e.pk for e in sorted(made, key=lambda e: (e.created_at, e.pk), reverse=True)]

    data, seen = body(admin_api.get(API, {"pageSize": 4})), []
    seen.append([e["id"] for e in data["results"]])
    while data["next"]:
        data = body(admin_api.get(data["next"]))
        seen.append([e["id"] for e in data["results"]])
    assert [i for page in seen for i in page] == expected and len(seen) == 3

    back = body(admin_api.get(data["previous"]))
    assert [e["id"] for e in back["results"]] == seen[1]
    foreign = Cursor("o", T0, made[0].pk).encode("balance-history")
    assert_error(admin_api.get(API, {"cursor": foreign}), 400)


def test_the_page_shows_actor_key_object_link_and_before_after(admin_client_role, admin, log):
    service = ServiceFactory(name="Linked Ltd")
    log.add(
        T0,
        via="key:bo_abcdefgh",
        object_id=service.public_id,
        reason="Renamed",
        changes={"name": ["Old", "Linked Ltd"]},
    )
    log.add(
        T0 - timedelta(minutes=1),
        object_id="srv_gone",
        action="service_deleted",
        changes={"name": "Gone"},
    )

    response = admin_client_role.get(PAGE)
    text = response.content.decode()

    assert f'href="/services/{service.public_id}/"' in text
    assert 'href="/services/srv_gone/"' not in text and "srv_gone" in text
    assert "API key bo_abcdefgh…" in text and "Renamed" in text
    assert "Name changed from Old to Linked Ltd" in text
    assert "<caption" in text and '<th scope="col">Changes</th>' in text
    _, _, before, after = response.context["rows"][1]
    assert (before, after) == ({"name": "Gone"}, {})


def test_csv_export_parses_back_carries_filters_and_neutralises(admin_client_role, admin_api, log):
    a = log.add(
        T0,
        reason='=HYPERLINK("x")',
        via="key:bo_abc",
        changes={"available": ["10.125", "-0.005"], "currency": "KWD"},
    )
    log.add(T0 + timedelta(hours=1), action="payout_paid", object_type="payout")

    rows = read_csv(admin_client_role.get(PAGE, {"objectType": "service", "format": "csv"}))
    api_rows = read_csv(admin_api.get(API, {"objectType": "service"}, HTTP_ACCEPT="text/csv"))

    assert rows == api_rows and len(rows) == 1
    row = rows[0]
    assert list(row) == queries.CSV_HEADER
    assert row["reason"] == '\'=HYPERLINK("x")'
    assert row["created_at"] == a.created_at.isoformat().replace("+00:00", "Z")
    assert json.loads(row["before"]) == {"available": "10.125"}
    assert json.loads(row["after"]) == {"available": "-0.005", "currency": "KWD"}
    assert (row["via"], row["object_id"]) == ("key:bo_abc", "srv_a")
    page = admin_client_role.get(PAGE, {"objectType": "service"})
    assert b"objectType=service&amp;format=csv" in page.content


def test_audit_log_query_counts_do_not_depend_on_its_length(
    admin_client_role, admin_api, log, django_assert_num_queries
):
    service = ServiceFactory()
    for i in range(60):
        log.add(T0 - timedelta(minutes=i), object_id=service.public_id)
    admin_api.get(API)  # records the key's last use

    # 1 session; 2 user; 3 permissions and groups (user's, groups', group names: one UNION);
    # 4 the page (service and user joined); 5 the linked services that still exist; 6 the
    # open alerts badge (the navigation: counted into the cache, empty at a test's start).
    with django_assert_num_queries(6):
        response = admin_client_role.get(PAGE)
    assert len(response.context["rows"]) == 50
    # 1 key + user; 2 permissions; 3 the ETag's validator (how many entries, the newest);
    # 4 the page.
    with django_assert_num_queries(4):
        response = admin_api.get(API, {"pageSize": 200})
    assert len(body(response)["results"]) == 60


# --- Back-fill of older entries ----------------------------------------------------------------


def test_the_migration_fills_the_object_of_older_entries(log):
    migration = importlib.import_module("services.migrations.0008_audit_log")
    old = [
        log.add(T0, action="service_deleted", subject="Acme (srv_abc123)", object_type=""),
        log.add(T0, action="provider_updated", subject="srv_def", object_type=""),
        log.add(T0, action="alert_rule_changed", subject="alert rule arl_x1", object_type=""),
        log.add(T0, action="fee_rule_added", subject="fee profile Std", object_type=""),
        log.add(T0, action="something_else", subject="?", object_type=""),
    ]
    for entry in old:
        AuditEntry.objects.filter(pk=entry.pk).update(object_id="")

    migration.fill_objects(global_apps, SimpleNamespace(connection=connection))

    filled = [AuditEntry.objects.get(pk=e.pk) for e in old]
    assert [(e.object_type, e.object_id) for e in filled] == [
        ("service", "srv_abc123"),
        ("connection", "srv_def"),
        ("alert_rule", "arl_x1"),
        ("fee_rule", ""),
        ("", ""),
    ]
