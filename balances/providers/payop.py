"""Payop: ``GET /v1/wallets/get-balances?includeTotal=1[&currency=EUR,USD]``, Bearer JWT.

One unified wallet; per currency ``available``, ``referral``, ``pending``, ``reserve`` and
(with ``includeTotal=1``) ``total``, all decimal strings, negatives valid.  ``snapshotAt`` (UTC)
is the snapshot time.  Payop allows 10 requests per minute per IP (our shared limiter keeps us
under it); its error bodies carry ``message`` as a string, an object of field errors or a list.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from balances.providers import http
from balances.providers.base import (
    ConnectionConfig,
    CredentialField,
    CurrencyFigures,
    ErrorCategory,
    OptionField,
    ProviderAdapter,
    ProviderError,
    Snapshot,
    bad_response,
    base_url,
    build_snapshot,
    checked_options,
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

BALANCES_PATH = "/v1/wallets/get-balances"
# Payop's limit is per minute: without a Retry-After the next minute is the safe guess.
DEFAULT_RETRY_AFTER = 60.0
_CODE = re.compile(r"[A-Z]{3}")


def error_message(body: Any) -> str | None:
    if not isinstance(body, Mapping):
        return None
    return _flatten(body.get("message")) or None


def _flatten(message: Any) -> str:
    """``"text"``; ``{"currencies [0]": ["This value is not a valid currency."]}``;
    ``[{"message": "cURL error 7: ..."}]``."""
    if isinstance(message, str):
        return message
    if isinstance(message, Mapping):
        parts = []
        for field, detail in message.items():
            text = _flatten(detail)
            if field == "message":  # [{"message": "..."}] items carry no field name
                parts.append(text)
            else:
                parts.append(f"{field}: {text}" if text else str(field))
        return "; ".join(p for p in parts if p)
    if isinstance(message, list):
        return "; ".join(t for t in (_flatten(item) for item in message) if t)
    if message is None:
        return ""
    return str(message)


def _currencies(raw: object) -> list[str]:
    if raw is None or raw == "" or raw == []:
        return []
    if isinstance(raw, str):
        raw = [part for part in re.split(r"[\s,]+", raw) if part]
    if not isinstance(raw, list | tuple):
        raise ValueError("currencies must be a list of currency codes.")
    result: list[str] = []
    for item in raw:
        code = item.strip().upper() if isinstance(item, str) else ""
        if not _CODE.fullmatch(code) or not currencies.is_known(code):
            raise ValueError(f"currencies: {str(item)[:20]!r} is not an ISO 4217 currency code.")
        if code not in result:
            result.append(code)
    return result


@register
class PayopAdapter(ProviderAdapter):
    kind = "payop"
    label = "Payop"
    # Payop documents one host, for live and test projects alike.
    default_base_url = "https://api.payop.com"
    credential_fields = (CredentialField("token", "Token (JWT)"),)
    option_fields = (
        OptionField(
            "currencies",
            "Currency filter",
            _currencies,
            help="Optional, e.g. EUR,USD. Empty for all currencies.",
            input="list",
            omit_empty=True,
        ),
    )
    # "Maximum 10 requests per minute per IP" (docs/provider-payop-wallet-balances.md).
    rate_limit = (10, 60.0)

    def fetch_snapshot(self, config: ConnectionConfig) -> Snapshot:
        options = checked_options(type(self), config.options)
        token = credential(config, "token")
        params = {"includeTotal": "1"}
        if options.get("currencies"):
            params["currency"] = ",".join(options["currencies"])
        try:
            data = http.get_json(
                self.kind,
                base_url(config, self.default_base_url) + BALANCES_PATH,
                headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
                params=params,
                error_message=error_message,
                secrets=(token,),
            )
        except ProviderError as exc:
            if exc.category == ErrorCategory.RATE_LIMITED and exc.retry_after is None:
                exc.retry_after = DEFAULT_RETRY_AFTER
            raise
        return parse_balances(data)


def _snapshot_time(value: object) -> datetime:
    text = require_str(value, "snapshotAt")
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise bad_response(f"snapshotAt ({text[:40]!r}) is not an ISO 8601 timestamp.") from None
    # Payop documents UTC timestamps; a missing offset means UTC, not local time.
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def parse_balances(data: Any) -> Snapshot:
    body = require_mapping(data, "The response")
    taken_at = _snapshot_time(require_field(body, "snapshotAt", "The response"))
    entries = require_list(require_field(body, "currencies", "The response"), "currencies")
    figures: list[CurrencyFigures] = []
    seen: set[str] = set()
    unsupported: set[str] = set()
    for index, raw in enumerate(entries):
        where = f"currencies[{index}]"
        entry = require_mapping(raw, where)
        code = currency_code(require_field(entry, "code", where), f"{where}.code")
        balance = require_mapping(require_field(entry, "balance", where), f"{where}.balance")
        values = {
            name: decimal_from_string(
                require_field(balance, name, f"{where}.balance"), f"{where}.balance.{name}"
            )
            for name in ("available", "pending", "reserve")
        }
        # referral and total only feed the extras; total is documented as optional.
        for name in ("referral", "total"):
            if balance.get(name) is not None:
                values[name] = decimal_from_string(balance[name], f"{where}.balance.{name}")
        if code in seen:
            raise bad_response(f"The currency {code} appears more than once in currencies.")
        seen.add(code)
        if not currencies.is_known(code):
            unsupported.add(code)
            continue
        extras: dict[str, Any] = {
            name: values[name] for name in ("referral", "total") if name in values
        }
        figures.append(
            CurrencyFigures(
                currency=code,
                available=values["available"],
                pending=values["pending"],
                reserved=values["reserve"],
                extras=extras,
            )
        )
    return build_snapshot(PayopAdapter.kind, figures, unsupported=unsupported, taken_at=taken_at)
