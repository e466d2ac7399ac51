"""Fixtures of the adapter tests: a scripted provider server (tests/provider_server.py), a
rate-limit namespace of their own, and a check that no credential leaks."""

from __future__ import annotations

import uuid

import pytest

from tests.provider_server import ProviderServer


@pytest.fixture
def provider_server(allow_listed):
    with ProviderServer() as server:
        allow_listed(server.url)
        yield server


@pytest.fixture(autouse=True)
def isolated_rate_limits(settings):
    """Each test gets its own rate-limit keys in Redis, so earlier tests (or runs) never use
    up a provider's allowance (Payop: 10 per minute)."""
    settings.PROVIDER_RATE_LIMIT_KEY_PREFIX = f"test-ratelimit:{uuid.uuid4().hex}"
    yield
    from balances.providers import ratelimit

    ratelimit.reset()


@pytest.fixture
def assert_no_secret():
    """Check that nothing a user or a log could see contains any of the credentials."""

    def check(exc: BaseException, *secrets: str) -> None:
        texts = [str(exc), getattr(exc, "message", ""), repr(exc)]
        for secret in secrets:
            for text in texts:
                assert secret not in text, f"credential leaked into {text!r}"

    return check
