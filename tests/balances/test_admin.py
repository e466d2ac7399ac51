"""Balances' part of the Django admin: sync runs and provider connections are read-only there
(connections are edited on their service's page, through balances' actions)."""

from __future__ import annotations

import pytest
from django.contrib import admin

from balances.models import SyncRun
from services.models import AuditEntry, ProviderConnection
from tests.admin_helpers import admin_url, assert_read_only_in_admin
from tests.factories import PROVIDER_CREDENTIALS, ProviderConnectionFactory, ServiceFactory

pytestmark = pytest.mark.django_db


def test_the_connection_admin_belongs_to_balances():
    # services must not import balances: the app that owns the connection actions registers it.
    assert type(admin.site._registry[ProviderConnection]).__module__ == "balances.admin"


def test_provider_connections_are_read_only_in_the_admin(root):
    connection = ProviderConnectionFactory(service=ServiceFactory(name="Lagos Retail"))
    audit_entries = AuditEntry.objects.count()

    assert_read_only_in_admin(
        root,
        connection,
        {"kind": "wise", "base_url": "https://attacker.example", "create_missing_balances": "on"},
    )

    assert AuditEntry.objects.count() == audit_entries
    page = root.get(admin_url(connection, "change")).content.decode()
    assert "Lagos Retail" in page
    secret = PROVIDER_CREDENTIALS["syncpay"]["apiKey"]
    assert secret not in page and connection.credentials_encrypted not in page


def test_connections_are_listed_searched_and_filtered(root):
    ProviderConnectionFactory(service=ServiceFactory(name="Lagos Retail"))
    ProviderConnectionFactory(service=ServiceFactory(name="Berlin Market"), kind="wise")
    url = admin_url(ProviderConnection)
    assert root.get(url).context["cl"].result_count == 2
    assert root.get(url, {"q": "berlin"}).context["cl"].result_count == 1
    assert root.get(url, {"kind__exact": "wise"}).context["cl"].result_count == 1


def test_sync_runs_are_read_only_in_the_admin(root):
    run = SyncRun.objects.create(
        service=ServiceFactory(), provider_kind="syncpay", trigger=SyncRun.Trigger.BUTTON
    )
    assert_read_only_in_admin(root, run, {"status": "succeeded", "provider_kind": "wise"})
