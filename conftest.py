"""Root conftest: the test settings are config/test_settings.py (see pyproject.toml)."""

pytest_plugins = ["tests.browser_fixtures"]
