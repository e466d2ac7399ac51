"""SENTRY_DSN (core/observability/sentry.py): sentry-sdk with the Django and Celery
integrations, no personal data, the release from the package version, the request id as a
tag; nothing at all without a DSN.  sentry_sdk.init is replaced: no event leaves the test."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import sentry_sdk
from sentry_sdk.integrations.celery import CeleryIntegration
from sentry_sdk.integrations.django import DjangoIntegration

from core.observability import context, sentry

VERSION = tomllib.loads((Path(__file__).resolve().parents[3] / "pyproject.toml").read_text())[
    "project"
]["version"]


@pytest.fixture
def init_calls(monkeypatch):
    calls: list[dict] = []
    monkeypatch.setattr(sentry_sdk, "init", lambda **options: calls.append(options))
    return calls


def test_a_dsn_starts_sentry_with_django_celery_no_personal_data_and_the_release(init_calls):
    assert sentry.sentry_init(dsn="https://key@errors.example.invalid/7", environment="staging")
    (options,) = init_calls
    assert options["dsn"] == "https://key@errors.example.invalid/7"
    assert options["send_default_pii"] is False
    assert options["release"] == f"backoffice@{VERSION}"
    assert options["environment"] == "staging"
    kinds = {type(i) for i in options["integrations"]}
    assert kinds == {DjangoIntegration, CeleryIntegration}


def test_every_event_is_tagged_with_the_request_id(init_calls):
    sentry.sentry_init(dsn="https://key@errors.example.invalid/7")
    before_send = init_calls[0]["before_send"]
    with context.bound(request_id="abc123"):
        event = before_send({"message": "boom"}, {})
    assert event["tags"]["request_id"] == "abc123"
    assert "tags" not in before_send({"message": "outside a request"}, {})


def test_without_a_dsn_nothing_happens(init_calls, settings):
    assert sentry.sentry_init(dsn="") is False
    assert init_calls == []
    assert settings.SENTRY_DSN == ""
    assert not sentry_sdk.get_client().is_active()
