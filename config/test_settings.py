"""Settings for the test suite: PostgreSQL and Redis, never the embedded SQLite file, so that
constraints and locking are tested where they run.  Values already in the environment win
(CI may point DATABASE_URL elsewhere).  Redis database 15 keeps test keys away from a
developer's data in database 0, and a key prefix per run (below) keeps concurrent runs apart.

pytest-django imports this module before any conftest runs, which is why the defaults live
here and not in conftest.py.
"""

import os

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("SECRET_KEY", "test-only-secret-key-" + "x" * 40)
os.environ.setdefault("CREDENTIALS_ENCRYPTION_KEY", "VGVzdE9ubHlLZXlUZXN0T25seUtleVRlc3RPbmx5S2U=")
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("HTTPS_ONLY", "0")
os.environ.setdefault("STATIC_MANIFEST", "0")
os.environ.setdefault("TASKS_IN_PROCESS", "1")
os.environ.setdefault("PROVIDER_SANDBOXES", "1")
os.environ.setdefault("ALLOWED_HOSTS", "*")
# Every Redis key of this run (locks, rate windows, throttles, cache, Celery's queues) under a
# prefix of its own, so that two runs sharing a Redis database never see or delete each
# other's keys.  Set in the environment, so that the Celery workers a test starts inherit it
# (a "test:" prefix is inherited, any other is replaced); an xdist worker adds its id to the
# prefix it inherits from the controller.
_prefix = os.environ.get("REDIS_KEY_PREFIX", "")
if not _prefix.startswith("test:"):
    _prefix = f"test:{os.getpid()}:"
_xdist = os.environ.get("PYTEST_XDIST_WORKER", "")
if _xdist and f":{_xdist}:" not in _prefix:
    _prefix += f"{_xdist}:"
os.environ["REDIS_KEY_PREFIX"] = _prefix

from config.settings import *  # noqa: E402, F403

# Hashing passwords at production strength would dominate the suite's run time.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# A test database of its own per run, so that two runs on one machine (a developer's and
# CI's, say) never drop each other's database.  pytest-django drops it at the end.
DATABASES["default"]["TEST"] = {  # noqa: F405
    "NAME": f"test_{DATABASES['default']['NAME']}_{os.getpid()}"  # noqa: F405
}

# A second database, SQLite as the embedded default (`make run`) runs on, for the tests that
# prove amounts are exact there too (tests/core/test_money_storage.py).  In memory, and only
# created (migrations included) when a collected test asks for it with
# ``django_db(databases=[..., "sqlite"])``: the rest of the suite never pays for it.
DATABASES["sqlite"] = {  # noqa: F405
    "ENGINE": "django.db.backends.sqlite3",
    "NAME": ":memory:",
}
