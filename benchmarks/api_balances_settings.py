"""Settings of the API benchmark only: the application's settings, plus a URLconf that also
mounts the hand-written comparison view (never mounted by the application itself)."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "benchmarks.api_balances_urls"
