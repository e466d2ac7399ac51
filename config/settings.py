"""One settings module, driven by environment variables (every one is listed in README.md).

The defaults form the *embedded* set-up used by ``make run``: an SQLite file in the project
folder, Celery tasks executed in-process, the built-in provider sandboxes mounted.  Setting
``DATABASE_URL`` (a production database) switches the defaults to the secure ones:
``DEBUG`` off, tasks on Celery workers through Redis, sandboxes off.
"""

from __future__ import annotations

import hashlib
import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.email_url import parse_email_url
from core import outbound as _outbound
from core.observability import logs as _logs
from core.observability import sentry as _sentry

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false, yes/no, on/off).")


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer.") from exc


# The embedded default is "no DATABASE_URL": a single machine, a file database.
EMBEDDED = not os.environ.get("DATABASE_URL")

DEBUG = env_bool("DEBUG", EMBEDDED)
HTTPS_ONLY = env_bool("HTTPS_ONLY", True)

_DEV_SECRET = "dev-only-insecure-" + hashlib.sha256(str(BASE_DIR).encode()).hexdigest()
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY is required when DEBUG is off.")
    SECRET_KEY = _DEV_SECRET

ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"] if DEBUG else []
)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "axes",
    "csp",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "core",
    "services",
    "approvals",
    "balances",
    "payouts",
    "alerts",
    "webhooks",
]

MIDDLEWARE = [
    # First: the request id for every log line after it, X-Request-ID, the HTTP metrics.
    "core.observability.middleware.RequestObservabilityMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "core.pathguard.RefuseUnstorableInputMiddleware",
    "core.middleware.ContentSecurityPolicyMiddleware",  # django-csp's, built once
    "core.middleware.PermissionsPolicyMiddleware",
    # /healthz, /readyz and /metrics whatever the Host (probes send the instance's address);
    # before CommonMiddleware, the first to check the host.
    "core.observability.probes.ProbeMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "core.middleware.SessionTimeoutMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: turns a refused login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "core.context_processors.navigation",
            ],
            "builtins": [
                "core.templatetags.money",
                "core.templatetags.plain",
                "django.contrib.humanize.templatetags.humanize",
            ],
        },
    }
]

# --- Database -----------------------------------------------------------------------------
SQLITE_PATH = Path(os.environ.get("SQLITE_PATH", BASE_DIR / "db.sqlite3"))
# Where `make run` keeps the generated demo passwords, so that every start prints them.
DEMO_LOGIN_FILE = Path(os.environ.get("DEMO_LOGIN_FILE", BASE_DIR / "var" / "demo-login.txt"))
if EMBEDDED:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": SQLITE_PATH,
            "OPTIONS": {
                # Several threads (runserver, the in-process sandbox calls) share the file.
                "timeout": 20,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }
else:
    DATABASES = {
        "default": dj_database_url.parse(
            os.environ["DATABASE_URL"],
            conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
            conn_health_checks=True,
        )
    }
    # Behind a pooler in transaction mode (PgBouncer's pool_mode=transaction) a server-side
    # cursor may outlive its connection's turn; the CSV exports then read keyset batches.
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = env_bool(
        "DATABASE_DISABLE_SERVER_SIDE_CURSORS", False
    )
    # The few hand-written statements of the hot paths (core.rawsql.fetch: a payout's
    # creation, its hold, the alert rules and webhooks it asks) run as prepared statements,
    # which PostgreSQL plans once per connection; every other query is bound on the client
    # as before and never prepared.  Off (0) behind a pooler in transaction mode that does
    # not keep prepared statements (PgBouncer before 1.21, or without
    # max_prepared_statements).
    if env_bool("DATABASE_PREPARED_STATEMENTS", True):
        DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = 5
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth ---------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "overview:index"
LOGOUT_REDIRECT_URL = "login"
# The lockout check comes first: a locked-out client is refused before any password is tried.
# Then Django's ModelBackend, reading a user's permissions and groups in one query per request
# (core/auth_backend.py).
AUTHENTICATION_BACKENDS = [
    "core.lockout.LockoutBackend",
    "core.auth_backend.PermissionsBackend",
]

# Login throttling (django-axes, see core/lockout.py): LOGIN_FAILURE_LIMIT failed logins within
# the window, per username and per client IP, lock that username or IP out of every login form
# (ours and the admin's) for the cool-off, right password or not.
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 10)
LOGIN_FAILURE_WINDOW_MINUTES = env_int("LOGIN_FAILURE_WINDOW_MINUTES", 15)
LOGIN_COOLOFF_MINUTES = env_int("LOGIN_COOLOFF_MINUTES", 15)
# Password-reset emails an hour, per client address and per email address (core/password_reset.py).
PASSWORD_RESET_LIMIT_PER_IP = env_int("PASSWORD_RESET_LIMIT_PER_IP", 10)
PASSWORD_RESET_LIMIT_PER_EMAIL = env_int("PASSWORD_RESET_LIMIT_PER_EMAIL", 3)
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # either one locks
AXES_COOLOFF_TIME = timedelta(minutes=LOGIN_COOLOFF_MINUTES)
AXES_HANDLER = "core.lockout.LockoutHandler"
AXES_LOCKOUT_CALLABLE = "core.lockout.lockout_response"
AXES_CLIENT_IP_CALLABLE = "core.net.client_ip"  # the API throttles' rule (BEHIND_PROXY)
# Attempts made while locked out do not extend the lock: it ends a cool-off after it began.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "csrfmiddlewaretoken"]

# Sessions end after SESSION_IDLE_TIMEOUT_MINUTES without a request, and SESSION_MAX_AGE_HOURS
# after the login whatever the activity (core.middleware.SessionTimeoutMiddleware).
SESSION_IDLE_TIMEOUT_MINUTES = env_int("SESSION_IDLE_TIMEOUT_MINUTES", 12 * 60)
SESSION_MAX_AGE_HOURS = env_int("SESSION_MAX_AGE_HOURS", 7 * 24)
SESSION_COOKIE_AGE = min(SESSION_IDLE_TIMEOUT_MINUTES * 60, SESSION_MAX_AGE_HOURS * 3600)

# --- Email (password reset) ---------------------------------------------------------------
# EMAIL_URL (smtp://user:pass@host:587/?tls=1) or the separate EMAIL_* variables; without
# either, the embedded default prints mail on the console.
EMAIL_URL = os.environ.get("EMAIL_URL", "")
_email = parse_email_url(EMAIL_URL) if EMAIL_URL else {}
EMAIL_BACKEND = _email.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if EMBEDDED and not os.environ.get("EMAIL_HOST")
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = _email.get("EMAIL_HOST", os.environ.get("EMAIL_HOST", "localhost"))
EMAIL_PORT = _email.get("EMAIL_PORT", env_int("EMAIL_PORT", 25))
EMAIL_HOST_USER = _email.get("EMAIL_HOST_USER", os.environ.get("EMAIL_HOST_USER", ""))
EMAIL_HOST_PASSWORD = _email.get("EMAIL_HOST_PASSWORD", os.environ.get("EMAIL_HOST_PASSWORD", ""))
EMAIL_USE_TLS = _email.get("EMAIL_USE_TLS", env_bool("EMAIL_USE_TLS", False))
EMAIL_USE_SSL = _email.get("EMAIL_USE_SSL", env_bool("EMAIL_USE_SSL", False))
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("EMAIL_USE_TLS and EMAIL_USE_SSL are mutually exclusive.")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Back-office <noreply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- I18N ---------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
# Amounts are formatted by core.templatetags.money, never by locale-dependent filters.
USE_THOUSAND_SEPARATOR = False

# --- Static files -------------------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_MANIFEST = env_bool("STATIC_MANIFEST", not DEBUG)
# collectstatic (production, manifest on) writes here; without the manifest the files are
# served straight from the finders.
STATIC_ROOT = BASE_DIR / "staticfiles" if STATIC_MANIFEST else None
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if STATIC_MANIFEST
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = not STATIC_MANIFEST

# --- Security -----------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
if not DEBUG and HTTPS_ONLY:
    SECURE_SSL_REDIRECT = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    # Probes and Prometheus call the app's port directly, over plain HTTP.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
BEHIND_PROXY = env_bool("BEHIND_PROXY", False)
# Proxies of ours in front of the app, each appending to X-Forwarded-For: the client is that
# many addresses from the right (core/net.py).  Without BEHIND_PROXY the header is ignored.
PROXY_HOPS = env_int("PROXY_HOPS", 1)
if PROXY_HOPS < 1:
    raise ImproperlyConfigured("PROXY_HOPS must be 1 or more (set BEHIND_PROXY=0 for none).")
if BEHIND_PROXY:
    # The proxy in front terminates TLS and says so in this header.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Content-Security-Policy (django-csp): nothing inline, nothing from elsewhere.  Scripts and
# styles are files under static/; htmx is configured by a <meta> tag (base.html).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
# Browser features no page of ours uses (core.middleware.PermissionsPolicyMiddleware).
PERMISSIONS_POLICY = (
    "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), "
    "microphone=(), payment=(), usb=()"
)
if not HTTPS_ONLY:
    # A plain-HTTP deployment behind a TLS-terminating proxy is a deliberate choice.
    SILENCED_SYSTEM_CHECKS = [
        "security.W004",
        "security.W008",
        "security.W012",
        "security.W016",
    ]

# Credentials of provider connections are encrypted with this key (Fernet, see
# services/crypto.py).  A development key is derived from SECRET_KEY when DEBUG is on.
CREDENTIALS_ENCRYPTION_KEY = os.environ.get("CREDENTIALS_ENCRYPTION_KEY", "")
if not CREDENTIALS_ENCRYPTION_KEY and not DEBUG:
    raise ImproperlyConfigured("CREDENTIALS_ENCRYPTION_KEY is required when DEBUG is off.")

# --- Redis, cache, Celery -----------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
# Put in front of every key this deployment writes (core/redis.py, the cache, Celery's
# queues), so that several deployments or test runs can share one Redis database.
REDIS_KEY_PREFIX = os.environ.get("REDIS_KEY_PREFIX", "")
TASKS_IN_PROCESS = env_bool("TASKS_IN_PROCESS", EMBEDDED)
# The server `make run` starts (manage.py serve_embedded) also runs every entry of
# CELERY_BEAT_SCHEDULE in a thread of its own (core/periodic.py): no beat, no broker.
# Production runs one `celery -A config beat` instead.
SCHEDULE_IN_PROCESS = env_bool("SCHEDULE_IN_PROCESS", TASKS_IN_PROCESS)
if SCHEDULE_IN_PROCESS and not TASKS_IN_PROCESS:
    raise ImproperlyConfigured(
        "SCHEDULE_IN_PROCESS runs the periodic tasks in the web process, which needs "
        "TASKS_IN_PROCESS; with tasks on workers, run one `celery -A config beat`."
    )
# Locks, rate limits and the cache live in Redis whenever more than one process may share
# them: always when tasks run on workers, and whenever REDIS_URL is given explicitly.
USE_REDIS = (not TASKS_IN_PROCESS) or bool(os.environ.get("REDIS_URL"))

if USE_REDIS:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": f"{REDIS_KEY_PREFIX}bo",
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

SYNC_INTERVAL_MINUTES = env_int("SYNC_INTERVAL_MINUTES", 15)
SYNC_PAUSE_AFTER_FAILURES = env_int("SYNC_PAUSE_AFTER_FAILURES", 10)
SYNC_TASK_TIME_LIMIT = env_int("SYNC_TASK_TIME_LIMIT", 300)
SYNC_SCHEDULER_TICK_SECONDS = env_int("SYNC_SCHEDULER_TICK_SECONDS", 60)
SYNC_MAX_ATTEMPTS = env_int("SYNC_MAX_ATTEMPTS", 5)
# A balance set by hand less than this many hours ago is not overwritten by a sync that
# disagrees: the sync holds it for review (balances/reviews).  0: syncs overwrite at once.
SYNC_PROTECTION_HOURS = env_int("SYNC_PROTECTION_HOURS", 24)
SYNC_RETRY_BASE_SECONDS = float(os.environ.get("SYNC_RETRY_BASE_SECONDS", "5"))
SYNC_RETRY_MAX_SECONDS = float(os.environ.get("SYNC_RETRY_MAX_SECONDS", "300"))
# In-process mode has no worker to come back later: a retry waits at most this long inline.
SYNC_INLINE_RETRY_BUDGET_SECONDS = float(os.environ.get("SYNC_INLINE_RETRY_BUDGET_SECONDS", "10"))
# The scheduler queues its runs as batches of at most this many services of one provider (one
# task each; 1: a task per run); a batch fetches from its providers on this many threads at
# once, and applies each service in its own transaction (balances/sync/batch.py).
SYNC_BATCH_SIZE = env_int("SYNC_BATCH_SIZE", 32)
SYNC_BATCH_THREADS = env_int("SYNC_BATCH_THREADS", 4)
if SYNC_BATCH_SIZE < 1 or SYNC_BATCH_THREADS < 1:
    raise ImproperlyConfigured("SYNC_BATCH_SIZE and SYNC_BATCH_THREADS must be at least 1.")
PROVIDER_HTTP_TIMEOUT = float(os.environ.get("PROVIDER_HTTP_TIMEOUT", "10"))
PROVIDER_SANDBOXES = env_bool("PROVIDER_SANDBOXES", EMBEDDED)
# Provider base URLs must be on a provider's documented hosts or listed here: "host" (its
# default port) or "host:port"; private and loopback addresses only as "host:port"
# (balances/providers/http.py, core/outbound.py).
PROVIDER_BASE_URL_ALLOWLIST = env_list("PROVIDER_BASE_URL_ALLOWLIST", [])
try:
    _outbound.parse_allowlist(PROVIDER_BASE_URL_ALLOWLIST)
except ValueError as exc:
    raise ImproperlyConfigured(f"PROVIDER_BASE_URL_ALLOWLIST: {exc}.") from exc
# Where this app serves its own sandboxes (the port `make run` serves on): base URLs under it
# are allowed while PROVIDER_SANDBOXES is on, and nothing else on that address.
PROVIDER_SANDBOX_URL = ""
if PROVIDER_SANDBOXES:
    PROVIDER_SANDBOX_URL = os.environ.get("PROVIDER_SANDBOX_URL", "").strip().rstrip("/") or (
        f"http://127.0.0.1:{env_int('PORT', 8000)}/sandbox"
    )
# Webhook URLs must be listed here, in the same format: "host" (its default port) or
# "host:port"; private and loopback addresses only as "host:port" (webhooks/http.py).
WEBHOOK_URL_ALLOWLIST = env_list("WEBHOOK_URL_ALLOWLIST", [])
try:
    _outbound.parse_allowlist(WEBHOOK_URL_ALLOWLIST)
except ValueError as exc:
    raise ImproperlyConfigured(f"WEBHOOK_URL_ALLOWLIST: {exc}.") from exc
# Connect, send and answer, each; a hanging receiver holds a worker (or, with tasks in
# process, the web request) at most about this long.
WEBHOOK_TIMEOUT_SECONDS = float(os.environ.get("WEBHOOK_TIMEOUT_SECONDS", "5"))
# Retries of a delivery (timeouts, connection errors, 5xx, 429) for this long after the event,
# with exponential backoff and jitter between attempts.
WEBHOOK_RETRY_HOURS = float(os.environ.get("WEBHOOK_RETRY_HOURS", "24"))
WEBHOOK_RETRY_BASE_SECONDS = float(os.environ.get("WEBHOOK_RETRY_BASE_SECONDS", "30"))
WEBHOOK_RETRY_MAX_SECONDS = float(os.environ.get("WEBHOOK_RETRY_MAX_SECONDS", "3600"))
# A webhook whose every attempt has failed for this long is disabled, with the reason shown.
WEBHOOK_DISABLE_AFTER_HOURS = float(os.environ.get("WEBHOOK_DISABLE_AFTER_HOURS", "24"))
# Ended deliveries and their attempt log are kept this long.
WEBHOOK_LOG_RETENTION_DAYS = env_int("WEBHOOK_LOG_RETENTION_DAYS", 30)
# Requests allowed per provider across all workers: (requests, per seconds).  Each adapter
# declares its default (Payop documents 10 a minute; balances/providers/); these are only the
# overrides: <KIND>_RATE_LIMIT_PER_MINUTE=100, e.g. PAYOP_RATE_LIMIT_PER_MINUTE.
_PER_MINUTE = "_RATE_LIMIT_PER_MINUTE"
PROVIDER_RATE_LIMITS = {
    _name.removesuffix(_PER_MINUTE).lower(): (env_int(_name, 0), 60.0)
    for _name in sorted(os.environ)
    if _name.endswith(_PER_MINUTE) and os.environ[_name].strip()
}
# Any window: PROVIDER_RATE_LIMITS="payop=10/60,wise=100/10" (requests/seconds) overrides.
for _item in env_list("PROVIDER_RATE_LIMITS", []):
    try:
        _kind, _spec = _item.split("=", 1)
        _count, _seconds = _spec.split("/", 1)
        PROVIDER_RATE_LIMITS[_kind.strip()] = (int(_count), float(_seconds))
    except ValueError as exc:
        raise ImproperlyConfigured(
            f"PROVIDER_RATE_LIMITS entries look like payop=10/60, not {_item!r}."
        ) from exc
# A sync waits this long for a free slot, then is postponed through Celery instead of
# holding a worker.
PROVIDER_RATE_LIMIT_MAX_WAIT = float(os.environ.get("PROVIDER_RATE_LIMIT_MAX_WAIT", "5"))

CELERY_BROKER_URL = REDIS_URL
CELERY_TASK_ALWAYS_EAGER = TASKS_IN_PROCESS
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = env_int("CELERY_PREFETCH_MULTIPLIER", 1)
# The sync task enforces SYNC_TASK_TIME_LIMIT itself, on any pool (balances/sync/execute.py):
# the threads pool ignores Celery's limits.  On prefork they back it up, a little later.
CELERY_TASK_SOFT_TIME_LIMIT = SYNC_TASK_TIME_LIMIT + 10
CELERY_TASK_TIME_LIMIT = SYNC_TASK_TIME_LIMIT + 20
# Longer than the longest task, so that an unacknowledged task is never handed out twice
# while it is still running.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", SYNC_TASK_TIME_LIMIT * 4),
    # How soon a running worker puts back the task of a worker that died: kombu sweeps every
    # interval x throttle seconds (100 s by default); every 10 s here.
    "unacked_restore_interval": env_int("CELERY_UNACKED_RESTORE_SECONDS", 10),
    "unacked_restore_throttle": 1,
}
if REDIS_KEY_PREFIX:
    # Queues, unacknowledged messages and the control channels, under the same prefix.
    CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"] = REDIS_KEY_PREFIX
# Celery's Django fix-up closes the database connection around every task unless this is
# set; a sync then pays for a new PostgreSQL connection each time.  The task itself drops a
# connection that went bad (close_old_connections), so reusing it is safe.
CELERY_DB_REUSE_MAX = env_int("CELERY_DB_REUSE_MAX", 100)
# A sync holds its service's lock at most this long; a worker that dies holding it frees the
# service after this time.  The sync's deadline stays below it (sync_deadline_seconds).
SYNC_LOCK_TTL_SECONDS = env_int("SYNC_LOCK_TTL_SECONDS", SYNC_TASK_TIME_LIMIT + 30)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# How often the periodic task looks for time-based alert conditions (stale balances).
ALERTS_CHECK_SECONDS = env_int("ALERTS_CHECK_SECONDS", 60)
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE = {
    "sync-due-services": {
        "task": "balances.tasks.sync_due_services",
        "schedule": float(SYNC_SCHEDULER_TICK_SECONDS),
    },
    "reap-abandoned-sync-runs": {
        "task": "balances.tasks.reap_abandoned_runs",
        "schedule": 300.0,
    },
    # Time-based alert conditions (balances not synchronised for a rule's minutes).
    "check-alerts": {
        "task": "alerts.tasks.check_alerts",
        "schedule": float(ALERTS_CHECK_SECONDS),
    },
    # Webhook retries that are due (and deliveries a lost worker left behind).
    "retry-due-webhooks": {
        "task": "webhooks.tasks.retry_due",
        "schedule": 60.0,
    },
    "purge-old-webhook-deliveries": {
        "task": "webhooks.tasks.purge_old",
        "schedule": 3600.0,
    },
    # Approval requests past APPROVAL_EXPIRY_HOURS (a payout's hold is released); a decision
    # checks the expiry itself too, so this only tidies up.
    "expire-approval-requests": {
        "task": "approvals.tasks.expire_due",
        "schedule": 60.0,
    },
}

# --- Approvals (four eyes) ---------------------------------------------------------------
# Platform defaults per currency, overridden by a currency's stored policy:
# "EUR:manual=1000.00,payout=5000.00,deletion=1;JPY:manual=0" (approvals/policy.py parses it
# at start-up; a bad entry stops the start).  Empty: nothing needs approval without a policy.
APPROVAL_DEFAULTS = os.environ.get("APPROVAL_DEFAULTS", "")
APPROVAL_EXPIRY_HOURS = env_int("APPROVAL_EXPIRY_HOURS", 24)
if APPROVAL_EXPIRY_HOURS < 1:
    raise ImproperlyConfigured("APPROVAL_EXPIRY_HOURS must be 1 or more.")

# --- Money --------------------------------------------------------------------------------
# The currency registry (core/money/currencies.py) is py-moneyed's, which comes with the
# pinned django-money; djmoney itself is not an installed app (no MoneyField is used).
# Assets that are not ISO 4217 currencies, registered with py-moneyed at start-up
# (balances/currencies.py).  "decimals" is the asset's precision.
CRYPTO_ASSETS = {
    "USDT_TRC20": {"name": "Tether USD (TRC-20)", "decimals": 8},
    "USDT_ERC20": {"name": "Tether USD (ERC-20)", "decimals": 8},
}
# Platform defaults for payouts without a fee rule: fee 0 and these minimum payout amounts
# (SyncPay's documented minimum withdrawals); other currencies have no minimum.
PAYOUT_MINIMUMS = {
    "USD": "10",
    "NGN": "5000",
    "GHS": "50",
    "KES": "500",
    "USDT_TRC20": "10",
    "USDT_ERC20": "50",
}
CURRENCY_CODE_MAX_LENGTH = 16
# Amounts are stored with the finest precision of any currency (8 places).
MONEY_DECIMAL_PLACES = 8
MONEY_MAX_DIGITS = 28

# --- REST framework -----------------------------------------------------------------------
# JSON bodies larger than this are refused with 413 before they are decoded.
API_MAX_BODY_BYTES = int(os.environ.get("API_MAX_BODY_BYTES", str(1024 * 1024)))

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "services.accounts.auth.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Signed in, read-only keys never write, and the view's required_perms per method.
    "DEFAULT_PERMISSION_CLASSES": ["core.api.permissions.HasRolePermission"],
    "DEFAULT_PAGINATION_CLASS": "core.api.pagination.ApiPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_RENDERER_CLASSES": [
        "core.api.renderers.DecimalJSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": ["core.api.parsers.DecimalJSONParser"],
    # An unknown ?format= is a 406 in the envelope, not a bare 404.
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "core.api.negotiation.ApiContentNegotiation",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.api.errors.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        "core.api.throttling.ApiKeyRateThrottle",
        "core.api.throttling.AnonIpRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "apikey": os.environ.get("API_THROTTLE_KEY", "1200/min"),
        "anon": os.environ.get("API_THROTTLE_ANON", "60/min"),
    },
    "COERCE_DECIMAL_TO_STRING": False,
    # '"amount": 8400.00', as in the published example (docs/backoffice-balances.md).
    "COMPACT_JSON": False,
    "UNAUTHENTICATED_USER": None,
    # X-Forwarded-For is believed only behind our own proxies (core/net.py has the same rule;
    # None would make DRF trust whatever header a client sends).
    "NUM_PROXIES": PROXY_HOPS if BEHIND_PROXY else 0,
    # The API speaks JSON only; DRF's APIClient sends JSON by default, like real clients.
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Back-office API",
    "DESCRIPTION": "Services, per-currency balances, provider synchronisation, fee profiles "
    "and payouts.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v[0-9]+",
    # Several models have a "kind" or "status"; each choice set gets its own schema name.
    "ENUM_NAME_OVERRIDES": {
        "BalanceChangeKindEnum": "balances.models.BalanceChange.Kind",
        "ProviderKindEnum": "balances.providers.base.kind_choices",
        "ServiceStatusEnum": "services.models.Service.Status",
        "SyncRunStatusEnum": "balances.models.SyncRun.Status",
        "SyncRunTriggerEnum": "balances.models.SyncRun.Trigger",
        "BalanceReviewStatusEnum": "balances.models.BalanceReview.Status",
        "BalanceReviewDecisionEnum": "balances.reviews.actions.DECISIONS",
        "PayoutStatusEnum": "payouts.models.Payout.Status",
        "AlertKindEnum": "alerts.models.Kind",
        "AlertStatusEnum": "alerts.models.Alert.Status",
    },
    "PREPROCESSING_HOOKS": ["core.api.schema.drop_trailing_slash_twins"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "core.api.schema.add_common_errors",
    ],
}

# --- Logging ------------------------------------------------------------------------------
LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")
# One JSON object per line (production: time, level, logger, message, request_id, user or
# api_key, service_id, sync_run_id, payout_id, provider) or readable text (the embedded
# default).  core/observability/logs.py.
LOG_FORMAT = os.environ.get("LOG_FORMAT", "").strip().lower() or ("text" if DEBUG else "json")
if LOG_FORMAT not in ("json", "text"):
    raise ImproperlyConfigured("LOG_FORMAT must be json or text.")
LOGGING = _logs.logging_config(fmt=LOG_FORMAT, level=LOG_LEVEL)

# --- Operations: probes, metrics, error reporting (README "Operations") -------------------
# GET /metrics needs "Authorization: Bearer <METRICS_TOKEN>"; without a token it is a 404.
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
# prometheus-client's multiprocess mode (gunicorn workers, Celery workers on one host): every
# process writes its values here and /metrics adds them up.  Read by prometheus-client itself
# from the environment when it is imported; here for /metrics.
PROMETHEUS_MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
# Workers write a heartbeat this often; /readyz fails when none is younger than the max age.
WORKER_HEARTBEAT_SECONDS = env_int("WORKER_HEARTBEAT_SECONDS", 10)
WORKER_HEARTBEAT_MAX_AGE_SECONDS = env_int("WORKER_HEARTBEAT_MAX_AGE_SECONDS", 60)
# Beat (or the embedded default's schedule thread) writes one as it ticks, at least every
# CELERY_BEAT_MAX_LOOP_INTERVAL seconds.
SCHEDULER_HEARTBEAT_MAX_AGE_SECONDS = env_int("SCHEDULER_HEARTBEAT_MAX_AGE_SECONDS", 180)
CELERY_BEAT_MAX_LOOP_INTERVAL = 30
CELERY_BEAT_SCHEDULER = "core.observability.tasks:HeartbeatScheduler"
# Each readiness check (database, Redis) answers within this many seconds or is "timeout".
READINESS_TIMEOUT_SECONDS = float(os.environ.get("READINESS_TIMEOUT_SECONDS", "1.5"))
if WORKER_HEARTBEAT_MAX_AGE_SECONDS < 2 * WORKER_HEARTBEAT_SECONDS:
    raise ImproperlyConfigured(
        "WORKER_HEARTBEAT_MAX_AGE_SECONDS must be at least twice WORKER_HEARTBEAT_SECONDS."
    )
# Sentry: on when SENTRY_DSN is set (core/observability/sentry.py); no personal data.
SENTRY_DSN = os.environ.get("SENTRY_DSN", "")
SENTRY_ENVIRONMENT = os.environ.get("SENTRY_ENVIRONMENT", "")
_sentry.sentry_init(dsn=SENTRY_DSN, environment=SENTRY_ENVIRONMENT)
