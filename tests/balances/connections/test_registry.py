"""Providers describe themselves; the connection form, the API, the kind choices and the rate
limiter are built from the registry, so a new provider is one adapter module (plus its sandbox
and tests), with no migration and no change to forms, serializers or settings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from balances.connections.forms import ConnectionForm
from balances.connections.queries import stored_credentials
from balances.providers import base
from balances.providers.base import (
    ConnectionConfig,
    CredentialField,
    OptionField,
    ProviderAdapter,
    Snapshot,
    build_snapshot,
)
from balances.providers.ratelimit import limit_for
from services.models import ProviderConnection
from tests.config.helpers import assert_error, body, send

BASE_DIR = Path(__file__).resolve().parents[3]


def _merchant_id(raw: object) -> str:
    if not isinstance(raw, str) or not raw.strip().isalnum():
        raise ValueError("merchantId must be letters and digits.")
    return raw.strip()


class AcmePayAdapter(ProviderAdapter):
    """A throwaway provider: registered by the fixture below, removed afterwards."""

    kind = "acmepay"
    label = "AcmePay"
    default_base_url = "https://api.acmepay.example"
    sandbox_base_url = "https://sandbox.acmepay.example"
    credential_fields = (
        CredentialField("secretKey", "Secret key", help="From the AcmePay dashboard."),
    )
    option_fields = (
        OptionField(
            "merchantId", "Merchant id", _merchant_id, help="As shown on your AcmePay invoices."
        ),
        OptionField("region", "Region", str.upper, default="eu"),
    )
    rate_limit = (42, 60.0)

    @classmethod
    def validate_credentials(cls, credentials: Mapping[str, str]) -> None:
        if not credentials["secretKey"].startswith("acme_"):
            raise ValueError("An AcmePay secret key starts with acme_.")

    @classmethod
    def describe_credentials(cls, credentials: Mapping[str, str]) -> str | None:
        return "AcmePay key"

    def fetch_snapshot(self, config: ConnectionConfig) -> Snapshot:
        return build_snapshot(self.kind, [])


@pytest.fixture
def acmepay():
    base.register(AcmePayAdapter)
    yield AcmePayAdapter
    base.unregister(AcmePayAdapter.kind)


def url(service) -> str:
    return f"/api/v1/services/{service.public_id}/provider"


# --- What the adapters declare ----------------------------------------------------------------


def test_the_registry_lists_the_providers_in_their_order():
    assert base.kind_choices() == [
        ("syncpay", "SyncPay"),
        ("finix", "Finix"),
        ("wise", "Wise"),
        ("payop", "Payop"),
    ]
    assert base.provider_label("finix") == "Finix"
    assert base.provider_label("gone") == "gone"


@pytest.mark.parametrize("adapter", list(base.adapter_classes().values()), ids=str)
def test_every_adapter_describes_itself(adapter: type[ProviderAdapter]):
    assert adapter.label and adapter.default_base_url.startswith("https://")
    assert adapter.documented_hosts() and all(adapter.documented_hosts())
    assert adapter.credential_fields and all(f.label for f in adapter.credential_fields)
    assert all(f.label for f in adapter.option_fields)
    requests, seconds = adapter.rate_limit
    assert requests > 0 and seconds > 0


def test_default_rate_limits_come_from_the_adapters(settings):
    settings.PROVIDER_RATE_LIMITS = {}
    assert limit_for("payop") == (10, 60.0)  # documented by Payop
    assert limit_for("syncpay") == (600, 60.0)
    settings.PROVIDER_RATE_LIMITS = {"payop": (3, 1.0)}
    assert limit_for("payop") == (3, 1.0)


def test_settings_hold_only_the_overrides_from_the_environment():
    script = (
        "import json, os\n"
        "os.environ['DJANGO_SETTINGS_MODULE'] = 'config.settings'\n"
        "import django; django.setup()\n"
        "from django.conf import settings\n"
        "from balances.providers.ratelimit import limit_for\n"
        "print(json.dumps({'settings': settings.PROVIDER_RATE_LIMITS,\n"
        "  'limits': {k: limit_for(k) for k in ('payop', 'wise', 'finix', 'syncpay')}}))\n"
    )
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(BASE_DIR),
        "PAYOP_RATE_LIMIT_PER_MINUTE": "5",
        "PROVIDER_RATE_LIMITS": "wise=100/10",
    }
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout.strip().splitlines()[-1])
    assert data["settings"] == {"payop": [5, 60.0], "wise": [100, 10.0]}
    assert data["limits"] == {
        "payop": [5, 60.0],
        "wise": [100, 10.0],
        "finix": [600, 60.0],
        "syncpay": [600, 60.0],
    }


def test_finix_version_default_is_declared_once_and_used_by_form_and_validation():
    finix = base.adapter_classes()["finix"]
    (version,) = [o for o in finix.option_fields if o.name == "version"]
    assert finix.validate_options({"balanceIds": ["BL1"]})["version"] == version.default
    assert ConnectionForm.initial_for(None)["finix_version"] == version.default


# --- A provider registered later ----------------------------------------------------------------


def test_a_registered_provider_is_offered_by_the_connection_form(
    acmepay, admin_client_role, service
):
    form = ConnectionForm()
    assert ("acmepay", "AcmePay") in list(form.fields["kind"].choices)
    assert form.fields["acmepay_secret_key"].label == "Secret key"
    assert form.fields["acmepay_merchant_id"].help_text == "As shown on your AcmePay invoices."
    assert (
        "acmepay",
        "AcmePay",
        [form["acmepay_secret_key"], form["acmepay_merchant_id"], form["acmepay_region"]],
    ) in [(kind, label, fields) for kind, label, fields in form.fieldsets()]

    page = admin_client_role.get(f"/services/{service.public_id}/provider/").content.decode()
    assert '<option value="acmepay">AcmePay</option>' in page
    assert 'data-kind="acmepay"' in page and "<legend>AcmePay</legend>" in page
    assert 'name="acmepay_secret_key"' in page and 'type="password"' in page
    assert 'name="acmepay_region" value="eu"' in page  # its default, pre-filled


def test_a_registered_provider_is_saved_from_the_form_page(acmepay, admin_client_role, service):
    response = admin_client_role.post(
        f"/services/{service.public_id}/provider/",
        {"kind": "acmepay", "acmepay_secret_key": "acme_123", "acmepay_merchant_id": " M42 "},
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    connection = ProviderConnection.objects.get(service=service)
    assert connection.kind == "acmepay"
    assert connection.options == {"merchantId": "M42", "region": "EU"}
    assert stored_credentials(connection) == {"secretKey": "acme_123"}
    detail = admin_client_role.get(f"/services/{service.public_id}/").content.decode()
    assert "AcmePay" in detail and '<span class="badge">AcmePay key</span>' in detail
    assert "https://api.acmepay.example" in detail and "acme_123" not in detail


def test_a_registered_provider_field_errors_land_on_its_fields(acmepay, admin_client_role, service):
    response = admin_client_role.post(
        f"/services/{service.public_id}/provider/",
        {"kind": "acmepay", "acmepay_secret_key": "nope", "acmepay_merchant_id": "M42"},
    )
    assert response.status_code == 400
    assert response.context["form"].errors["acmepay_secret_key"] == [
        "An AcmePay secret key starts with acme_."
    ]
    assert not ProviderConnection.objects.exists()


def test_a_registered_provider_is_accepted_by_the_api(acmepay, admin_api, service):
    response = send(
        admin_api,
        "put",
        url(service),
        {
            "kind": "acmepay",
            "credentials": {"secretKey": "acme_secret"},
            "options": {"merchantId": "M1"},
        },
    )

    assert response.status_code == 201, response.content
    data = body(response)
    assert data["kind"] == "acmepay"
    assert data["effectiveBaseUrl"] == "https://api.acmepay.example"
    assert data["credentialsSet"] == ["secretKey"]
    assert data["options"] == {"merchantId": "M1", "region": "EU"}
    assert b"acme_secret" not in response.content
    assert limit_for("acmepay") == (42, 60.0)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"credentials": {"secretKey": "acme_1"}, "options": {"merchantId": "no!"}}, "options"),
        ({"credentials": {"secretKey": "acme_1", "apiKey": "x"}}, "credentials"),
        ({"credentials": {"secretKey": "wrong"}, "options": {"merchantId": "M1"}}, "credentials"),
    ],
)
def test_the_api_validates_a_registered_provider_from_its_description(
    acmepay, admin_api, service, payload: dict[str, Any], field: str
):
    response = send(admin_api, "put", url(service), {"kind": "acmepay", **payload})

    error = assert_error(response, 400, "validation_error")
    assert field in error["details"], error
    assert not ProviderConnection.objects.exists()


def test_an_unregistered_provider_is_refused(admin_api, service):
    response = send(
        admin_api, "put", url(service), {"kind": "acmepay", "credentials": {"secretKey": "x"}}
    )

    assert "kind" in assert_error(response, 400, "validation_error")["details"]
    assert ("acmepay", "AcmePay") not in list(ConnectionForm().fields["kind"].choices)
