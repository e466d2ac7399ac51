"""Finix: ``GET /balances/{balance_id}`` per configured balance, HTTP Basic, ``Finix-Version``.

Amounts are integer minor units, converted with the currency's exponent (JPY 0, EUR 2,
KWD 3).  Several balances in one currency add up; ``posted_amount`` and the balance ids are
kept in the figures' extras.  Errors are HAL documents:
``{"total": 1, "_embedded": {"errors": [{"code", "logref", "message"}]}}``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import quote

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
    base_url,
    build_snapshot,
    check_amount,
    checked_options,
    credential,
    currency_code,
    integer_from_number,
    register,
    require_field,
    require_mapping,
)
from core.money import currencies

_BALANCE_ID = re.compile(r"[A-Za-z0-9_-]{1,100}")
_VERSION = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_AMOUNT_FIELDS = ("available_amount", "pending_amount", "posted_amount")


def error_message(body: Any) -> str | None:
    """All messages of a HAL error document, each with its code and log reference."""
    if not isinstance(body, Mapping):
        return None
    embedded = body.get("_embedded")
    errors = embedded.get("errors") if isinstance(embedded, Mapping) else None
    if not isinstance(errors, list):
        message = body.get("message")
        return message if isinstance(message, str) and message else None
    parts = []
    for error in errors:
        if not isinstance(error, Mapping):
            continue
        message = error.get("message")
        details = [str(error["code"])] if error.get("code") else []
        if error.get("logref"):
            details.append(f"logref {error['logref']}")
        text = str(message) if message else "Error"
        parts.append(f"{text} ({', '.join(details)})" if details else text)
    return "; ".join(parts) or None


def _balance_ids(raw: object) -> list[str]:
    if isinstance(raw, str):
        raw = [part for part in re.split(r"[\s,]+", raw) if part]
    if not isinstance(raw, list | tuple):
        raise ValueError("balanceIds must be a list of Finix balance ids.")
    ids: list[str] = []
    for item in raw:
        if not isinstance(item, str) or not _BALANCE_ID.fullmatch(item.strip()):
            raise ValueError(f"balanceIds: {str(item)[:40]!r} is not a Finix balance id.")
        if item.strip() not in ids:
            ids.append(item.strip())
    if not ids:
        raise ValueError("balanceIds: give at least one Finix balance id.")
    return ids


def _version(raw: object) -> str:
    if not isinstance(raw, str) or not _VERSION.fullmatch(raw.strip()):
        raise ValueError("version must be a Finix API version such as 2022-02-01.")
    return raw.strip()


@register
class FinixAdapter(ProviderAdapter):
    kind = "finix"
    label = "Finix"
    default_base_url = "https://finix.live-payments-api.com"
    sandbox_base_url = "https://finix.sandbox-payments-api.com"
    credential_fields = (
        CredentialField("username", "Username"),
        CredentialField("password", "Password", strip=False),
    )
    option_fields = (
        OptionField(
            "balanceIds",
            "Balance ids",
            _balance_ids,
            help="One per line (or comma-separated), e.g. BLxxxxxxxx.",
            input="lines",
        ),
        # The API version the parser is written against; sent as the Finix-Version header.
        OptionField("version", "Finix-Version", _version, default="2022-02-01"),
    )

    def fetch_snapshot(self, config: ConnectionConfig) -> Snapshot:
        options = checked_options(type(self), config.options)
        username = credential(config, "username")
        password = credential(config, "password", strip=False)
        root = base_url(config, self.default_base_url)
        headers = {"Finix-Version": options["version"]}

        balances: list[tuple[str, Any]] = []
        with http.ProviderSession(
            self.kind, secrets=(username, password), error_message=error_message
        ) as session:
            for balance_id in options["balanceIds"]:
                try:
                    data = session.get_json(
                        f"{root}/balances/{quote(balance_id, safe='')}",
                        headers=headers,
                        auth=(username, password),
                    )
                except ProviderError as exc:
                    raise _about_balance(exc, balance_id) from None
                balances.append((balance_id, data))
        return parse_balances(balances)


def _about_balance(exc: ProviderError, balance_id: str) -> ProviderError:
    # Which of several balances failed matters to the operator; auth and transport errors
    # are about the connection as a whole.
    if exc.category not in (
        ErrorCategory.NOT_FOUND,
        ErrorCategory.CONFIGURATION,
        ErrorCategory.BAD_RESPONSE,
    ):
        return exc
    return ProviderError(
        exc.category,
        f"Balance {balance_id}: {exc.message}",
        retryable=exc.retryable,
        status_code=exc.status_code,
        retry_after=exc.retry_after,
    )


def parse_balances(balances: list[tuple[str, Any]]) -> Snapshot:
    totals: dict[str, dict[str, Any]] = {}
    unsupported: set[str] = set()
    for balance_id, data in balances:
        where = f"Balance {balance_id}"
        body = require_mapping(data, where)
        code = currency_code(require_field(body, "currency", where), f"{where} currency")
        minor = {
            name: integer_from_number(require_field(body, name, where), f"{where} {name}")
            for name in _AMOUNT_FIELDS
        }
        if not currencies.is_known(code):
            unsupported.add(code)
            continue
        amounts = {
            name: check_amount(currencies.from_minor_units(v, code), f"{where} {name}")
            for name, v in minor.items()
        }
        total = totals.setdefault(
            code,
            {name: Decimal(0) for name in _AMOUNT_FIELDS} | {"ids": []},
        )
        for name, value in amounts.items():
            total[name] += value
        total["ids"].append(balance_id)

    figures = [
        CurrencyFigures(
            currency=code,
            available=t["available_amount"],
            pending=t["pending_amount"],
            extras={"posted": t["posted_amount"], "balanceIds": list(t["ids"])},
        )
        for code, t in totals.items()
    ]
    return build_snapshot(FinixAdapter.kind, figures, unsupported=unsupported)
