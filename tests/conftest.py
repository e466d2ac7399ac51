"""A small cast of users, one per role, and clients signed in as each."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from django.test import Client

from tests.factories import PASSWORD, BalanceFactory, ServiceFactory, UserFactory


@pytest.fixture
def viewer(db):
    return UserFactory(username="vera", role="viewer")


@pytest.fixture
def operator(db):
    return UserFactory(username="otto", role="operator")


@pytest.fixture
def admin(db):
    return UserFactory(username="ada", role="admin")


@pytest.fixture
def nobody(db):
    """Signed in, but in no group."""
    return UserFactory(username="nemo")


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """pytest-django's, and before the run's test database is dropped, the sessions still
    connected to it ended: threads that served requests keep their connections under
    CONN_MAX_AGE (a live server's, for one) and nothing closes them, so the drop could fail
    and leave the database behind.  Nothing of the run uses it any more by then."""
    yield
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


@pytest.fixture
def superuser(db):
    return UserFactory(username="root", is_superuser=True, is_staff=True)


def _client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def viewer_client(viewer):
    return _client_for(viewer)


@pytest.fixture
def operator_client(operator):
    return _client_for(operator)


@pytest.fixture
def admin_client_role(admin):
    return _client_for(admin)


@pytest.fixture
def nobody_client(nobody):
    return _client_for(nobody)


@pytest.fixture
def root(superuser):
    """A superuser's client: the Django admin's user."""
    return _client_for(superuser)


@pytest.fixture
def clients(viewer, operator, admin, nobody):
    """Clients per role name, plus an anonymous one."""
    return {
        "anonymous": Client(),
        "nobody": _client_for(nobody),
        "viewer": _client_for(viewer),
        "operator": _client_for(operator),
        "admin": _client_for(admin),
    }


@pytest.fixture
def service(db):
    return ServiceFactory(name="Acme Payments", country="NG")


@pytest.fixture
def eur_balance(service):
    return BalanceFactory(service=service, currency="EUR")


@pytest.fixture
def password():
    return PASSWORD


# --- Outbound calls ------------------------------------------------------------------------
# Provider base URLs must be documented hosts or listed in PROVIDER_BASE_URL_ALLOWLIST
# (core/outbound.py).  The local servers the tests start on 127.0.0.1:<random port> are
# listed exactly as host:port, the documented way, by the fixture that starts them.


@pytest.fixture
def allow_listed(settings, monkeypatch):
    """``allow_listed("http://127.0.0.1:5123")`` (or ``"127.0.0.1:5123"``) lists that
    host:port in PROVIDER_BASE_URL_ALLOWLIST for this test, in the settings and in the
    environment (real Celery workers started by the test read it from there)."""

    def allow(address: str) -> str:
        entry = urlsplit(address).netloc if "://" in address else address
        entries = [*settings.PROVIDER_BASE_URL_ALLOWLIST, entry]
        settings.PROVIDER_BASE_URL_ALLOWLIST = entries
        monkeypatch.setenv("PROVIDER_BASE_URL_ALLOWLIST", ",".join(entries))
        return entry

    return allow


@pytest.fixture(autouse=True)
def _sandboxes_of_the_live_server(request, settings):
    """Under ``live_server`` the app's own sandboxes answer at ``<live_server>/sandbox``:
    allowed as the embedded default allows ``http://127.0.0.1:$PORT/sandbox``."""
    if "live_server" in request.fixturenames:
        live_server = request.getfixturevalue("live_server")
        settings.PROVIDER_SANDBOX_URL = f"{live_server.url}/sandbox"


@pytest.fixture(autouse=True)
def _clean_redis(settings):
    """Every test starts without this run's Redis keys (locks, rate windows, throttles, the
    cache) and with empty in-memory rate windows.  Only keys under this run's
    REDIS_KEY_PREFIX go: other test runs sharing the Redis database keep theirs."""
    from core import ratelimit
    from core import redis as shared_redis

    if settings.USE_REDIS:
        assert settings.REDIS_KEY_PREFIX, "config/test_settings.py gives each run a key prefix"
        shared_redis.delete_matching("*")  # the cache too: its KEY_PREFIX starts with it
    else:
        from django.core.cache import cache

        cache.clear()
    ratelimit.reset_local()


# --- REST API ------------------------------------------------------------------------------
# Clients that speak to /api/v1/ with an API key, one per role, plus the odd ones out: no
# credentials, a key that does not exist, and a read-only key of an admin (whose role could
# write, so a refusal can only come from the key).

BAD_API_KEY = "bo_" + "x" * 43  # well-formed, never issued


def api_client_with_key(raw_key: str | None) -> Client:
    headers = {"Authorization": f"Bearer {raw_key}"} if raw_key else {}
    return Client(headers=headers)


@pytest.fixture
def make_api_key():
    """make_api_key(user, read_only=False) -> the raw key."""
    from services.accounts.actions import api_key_create

    def make(user, *, read_only: bool = False, name: str = "tests") -> str:
        return api_key_create(user=user, name=name, read_only=read_only)[1]

    return make


@pytest.fixture
def viewer_api(viewer, make_api_key):
    return api_client_with_key(make_api_key(viewer))


@pytest.fixture
def operator_api(operator, make_api_key):
    return api_client_with_key(make_api_key(operator))


@pytest.fixture
def admin_api(admin, make_api_key):
    return api_client_with_key(make_api_key(admin))


@pytest.fixture
def read_only_api(admin, make_api_key):
    """An admin's read-only key: reads like an admin, never writes."""
    return api_client_with_key(make_api_key(admin, read_only=True))


@pytest.fixture
def bad_key_api(db):
    return api_client_with_key(BAD_API_KEY)


@pytest.fixture
def anonymous_api(db):
    return Client()


@pytest.fixture
def api_clients(anonymous_api, bad_key_api, read_only_api, viewer_api, operator_api, admin_api):
    """API clients per caller: anonymous, bad_key, read_only, viewer, operator, admin."""
    return {
        "anonymous": anonymous_api,
        "bad_key": bad_key_api,
        "read_only": read_only_api,
        "viewer": viewer_api,
        "operator": operator_api,
        "admin": admin_api,
    }


@pytest.fixture(autouse=True)
def _celery_left_as_found():
    """Tests run Celery tasks in-process; a test that points the app at a worker must put it
    back, or every later test would queue tasks that nobody runs."""
    from config.celery import app

    before = (app.conf.task_always_eager, app.conf.broker_url)
    yield
    after = (app.conf.task_always_eager, app.conf.broker_url)
    assert after == before, f"this test left the Celery app changed: {before} -> {after}"
