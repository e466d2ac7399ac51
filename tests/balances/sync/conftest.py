from __future__ import annotations

import pytest

from balances.connections.actions import connection_save
from core.actors import Actor
from tests.provider_server import ProviderServer

SYNCPAY_KEY = "sk_test_synctests123"


@pytest.fixture
def provider(allow_listed):
    with ProviderServer() as server:
        allow_listed(server.url)
        yield server


@pytest.fixture(autouse=True)
def _fast_retries(settings):
    settings.SYNC_RETRY_BASE_SECONDS = 0.01
    settings.SYNC_RETRY_MAX_SECONDS = 0.05
    settings.SYNC_INLINE_RETRY_BUDGET_SECONDS = 5
    settings.PROVIDER_HTTP_TIMEOUT = 2


@pytest.fixture
def connect(admin):
    """Connect a service to a provider at ``base_url`` (SyncPay by default)."""

    def _connect(
        service, base_url, *, kind="syncpay", credentials=None, options=None, create_missing=False
    ):
        return connection_save(
            service=service,
            kind=kind,
            actor=Actor.for_user(admin),
            base_url=base_url,
            credentials=credentials or {"apiKey": SYNCPAY_KEY},
            options=options or {},
            create_missing_balances=create_missing,
        )

    return _connect


@pytest.fixture
def run_now(django_capture_on_commit_callbacks):
    """Request a sync and run its task in-process (tasks are eager in the tests)."""
    from balances.sync.request import sync_request

    def _run(service, trigger="button", user=None):
        with django_capture_on_commit_callbacks(execute=True):
            run = sync_request(service=service, trigger=trigger, user=user)
        run.refresh_from_db()
        return run

    return _run
