"""Test-run defaults, set before Django reads its settings.

The suite runs on PostgreSQL and Redis, never on the embedded SQLite file: constraints and
locking must be tested where they run.  Redis database 15 keeps test keys away from a
developer's data in database 0.
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
os.environ.setdefault("PROVIDER_SANDBOXES", "0")
os.environ.setdefault("ALLOWED_HOSTS", "*")
