from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from balances.models import SyncRun
from tests.factories import ServiceFactory
from tests.provider_server import SYNCPAY_PATH, SYNCPAY_UNAUTHORIZED, Reply, syncpay_body

pytestmark = pytest.mark.django_db(transaction=True)  # tasks run on commit


def test_sync_one_service_and_wait_prints_progress_and_summary(provider, connect):
    provider.reply(SYNCPAY_PATH, Reply(syncpay_body(("USD", "10.00", "0.00"))))
    service = ServiceFactory()
    connect(service, provider.url, create_missing=True)
    out = StringIO()
    call_command("sync_balances", "--service", service.public_id, "--wait", stdout=out)
    text = out.getvalue()
    assert f"{service.public_id}: queued run_" in text
    assert f"{service.public_id}: succeeded" in text
    assert "Summary: 1 succeeded, 0 failed" in text and "1 created" in text
    assert SyncRun.objects.get().trigger == "command"


def test_sync_all_reports_failures_and_exits_non_zero(provider, connect):
    provider.reply(SYNCPAY_PATH, SYNCPAY_UNAUTHORIZED)
    services = [ServiceFactory() for _ in range(2)]
    for s in services:
        connect(s, provider.url)
    ServiceFactory()  # no provider: not part of --all
    out = StringIO()
    with pytest.raises(CommandError, match="2 run"):
        call_command("sync_balances", "--all", "--wait", stdout=out)
    assert out.getvalue().count("failed (run_") == 2
    assert "Invalid API key" in out.getvalue()


def test_unknown_service_is_an_error():
    with pytest.raises(CommandError, match="No service"):
        call_command("sync_balances", "--service", "srv_nope")
