"""SyncPay: ``GET /api/v1/accounts/balances`` with ``Authorization: Bearer sk_test_…/sk_live_…``.

Amounts are decimal strings.  The documentation says a zero balance may be left out of the
``balances`` array, so a configured currency that is missing is zero (``omitted_means_zero``).
Test and live keys see separate balances: the mode is recorded in the snapshot.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from balances.providers import http
from balances.providers.base import (
    ConnectionConfig,
    CredentialField,
    CurrencyFigures,
    ProviderAdapter,
    Snapshot,
    bad_response,
    base_url,
    build_snapshot,
    configuration_error,
    credential,
    currency_code,
    decimal_from_string,
    register,
    require_field,
    require_list,
    require_mapping,
    require_str,
)
from core.money import currencies

BALANCES_PATH = "/api/v1/accounts/balances"
_MODES = {"sk_test_": "test", "sk_live_": "live"}


def syncpay_mode(api_key: str | None) -> str | None:
    """``"test"`` or ``"live"`` from the key's documented prefix; None for anything else."""
    key = (api_key or "").strip()
    for prefix, mode in _MODES.items():
        if key.startswith(prefix) and len(key) > len(prefix):
            return mode
    return None


def error_message(body: Any) -> str | None:
    """``{"error": {"code": "UNAUTHORIZED", "message": "Invalid API key"}}``."""
    if not isinstance(body, Mapping):
        return None
    error = body.get("error")
    if isinstance(error, Mapping):
        message = error.get("message")
        code = error.get("code")
        if isinstance(message, str) and message:
            return f"{message} ({code})" if isinstance(code, str) and code else message
        if isinstance(code, str) and code:
            return code
    if isinstance(error, str) and error:
        return error
    message = body.get("message")
    return message if isinstance(message, str) and message else None


@register
class SyncPayAdapter(ProviderAdapter):
    kind = "syncpay"
    label = "SyncPay"
    # One host for both modes: the key's prefix selects test or live balances.
    default_base_url = "https://api.usesyncpay.com"
    sandbox_base_url = "https://api.usesyncpay.com"
    credential_fields = (CredentialField("apiKey", "API key (sk_test_… or sk_live_…)"),)
    # No options: the key decides the account and the mode.

    @classmethod
    def validate_credentials(cls, credentials: Mapping[str, str]) -> None:
        if syncpay_mode(credentials.get("apiKey")) is None:
            raise ValueError("A SyncPay API key starts with sk_test_ or sk_live_.")

    @classmethod
    def describe_credentials(cls, credentials: Mapping[str, str]) -> str | None:
        # Only the mode derived from the key's prefix is shown, never the key.
        mode = syncpay_mode(credentials.get("apiKey"))
        return f"{mode} mode" if mode else None

    def fetch_snapshot(self, config: ConnectionConfig) -> Snapshot:
        api_key = credential(config, "apiKey")
        mode = syncpay_mode(api_key)
        if mode is None:
            raise configuration_error("The SyncPay API key must start with sk_test_ or sk_live_.")
        url = base_url(config, self.default_base_url) + BALANCES_PATH
        data = http.get_json(
            self.kind,
            url,
            headers={"Authorization": f"Bearer {api_key}"},
            error_message=error_message,
            secrets=(api_key,),
        )
        return parse_balances(data, mode=mode)


def parse_balances(data: Any, *, mode: str) -> Snapshot:
    body = require_mapping(data, "The response")
    success = require_field(body, "success", "The response")
    if success is not True:
        reason = error_message(body)
        raise bad_response(
            "The response says success is not true" + (f": {reason}" if reason else ".")
        )
    # account_id and total_balance_usd are informational: checked when present, but a
    # response without them still carries every balance.
    account_id = body.get("account_id")
    if account_id is not None:
        account_id = require_str(account_id, "account_id")
    total_usd = body.get("total_balance_usd")
    if total_usd is not None:
        total_usd = decimal_from_string(total_usd, "total_balance_usd")
    entries = require_list(require_field(body, "balances", "The response"), "balances")

    figures: dict[str, CurrencyFigures] = {}
    seen: set[str] = set()
    unsupported: set[str] = set()
    for index, raw in enumerate(entries):
        where = f"balances[{index}]"
        entry = require_mapping(raw, where)
        code = currency_code(require_field(entry, "currency", where), f"{where}.currency")
        available = decimal_from_string(
            require_field(entry, "available_balance", where), f"{where}.available_balance"
        )
        pending = decimal_from_string(
            require_field(entry, "pending_balance", where), f"{where}.pending_balance"
        )
        if code in seen:
            raise bad_response(f"The currency {code} appears more than once in balances.")
        seen.add(code)
        if not currencies.is_known(code):
            unsupported.add(code)
            continue
        figures[code] = CurrencyFigures(currency=code, available=available, pending=pending)

    return build_snapshot(
        SyncPayAdapter.kind,
        figures.values(),
        unsupported=unsupported,
        omitted_means_zero=True,
        extras={"account_id": account_id, "total_balance_usd": total_usd, "mode": mode},
    )
