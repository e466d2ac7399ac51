"""Wise: ``GET /v4/profiles/{profileId}/balances?types=STANDARD[,SAVINGS]``, Bearer token.

The answer is an array of balance objects whose amounts are JSON *numbers*
(``{"value": 10000594.71, "currency": "GBP"}``); they are decoded straight to ``Decimal``.
A STANDARD balance gives the currency's available (``amount``) and reserved
(``reservedAmount``) figures.  A SAVINGS balance (a jar) is money set aside: its amount adds to
the currency's reserved figure and is listed by name in the figures' extras.
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
    OptionField,
    ProviderAdapter,
    Snapshot,
    bad_response,
    base_url,
    build_snapshot,
    checked_options,
    credential,
    currency_code,
    decimal_from_number,
    register,
    require_field,
    require_list,
    require_mapping,
)
from core.money import currencies

TYPES = ("STANDARD", "SAVINGS")
_PROFILE_ID = re.compile(r"\d{1,20}", re.ASCII)


def error_message(body: Any) -> str | None:
    """Wise answers ``{"errors": [{"code", "message"}]}``, or OAuth's
    ``{"error", "error_description"}``, or ``{"message"}``."""
    if not isinstance(body, Mapping):
        return None
    errors = body.get("errors")
    if isinstance(errors, list):
        parts = []
        for error in errors:
            if isinstance(error, Mapping) and error.get("message"):
                code = error.get("code")
                parts.append(f"{error['message']} ({code})" if code else str(error["message"]))
        if parts:
            return "; ".join(parts)
    description = body.get("error_description")
    error = body.get("error")
    if isinstance(description, str) and description:
        return f"{description} ({error})" if isinstance(error, str) and error else description
    for key in ("message", "error"):
        value = body.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _profile_id(raw: object) -> str:
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = str(raw)
    if not isinstance(raw, str) or not _PROFILE_ID.fullmatch(raw.strip()):
        raise ValueError("profileId is required: the numeric id of the Wise profile.")
    return raw.strip()


def _types(raw: object) -> list[str]:
    if isinstance(raw, str):
        raw = [part for part in re.split(r"[\s,]+", raw) if part]
    if not isinstance(raw, list | tuple):
        raise ValueError("types must be a list of STANDARD and/or SAVINGS.")
    result: list[str] = []
    for item in raw:
        value = item.strip().upper() if isinstance(item, str) else item
        if value not in TYPES:
            raise ValueError(f"types: {str(item)[:30]!r} is not STANDARD or SAVINGS.")
        if value not in result:
            result.append(value)
    if "STANDARD" not in result:
        # A currency's available amount is its STANDARD balance: without it every synced
        # balance would read 0 available, money that is there.
        raise ValueError("types must include STANDARD; SAVINGS adds the jars as reserved.")
    return result


@register
class WiseAdapter(ProviderAdapter):
    kind = "wise"
    label = "Wise"
    default_base_url = "https://api.wise.com"
    sandbox_base_url = "https://api.sandbox.transferwise.tech"
    credential_fields = (CredentialField("apiToken", "API token"),)
    option_fields = (
        OptionField("profileId", "Profile id", _profile_id, max_length=40),
        OptionField(
            "types",
            "Balance types",
            _types,
            input="checkboxes",
            default=("STANDARD",),
            choices=(("STANDARD", "STANDARD"), ("SAVINGS", "SAVINGS (jars count as reserved)")),
        ),
    )

    def fetch_snapshot(self, config: ConnectionConfig) -> Snapshot:
        options = checked_options(type(self), config.options)
        token = credential(config, "apiToken")
        url = (
            base_url(config, self.default_base_url)
            + f"/v4/profiles/{quote(options['profileId'], safe='')}/balances"
        )
        data = http.get_json(
            self.kind,
            url,
            headers={"Authorization": f"Bearer {token}"},
            # Wise requires the parameter: always sent, comma-separated.
            params={"types": ",".join(options["types"])},
            error_message=error_message,
            secrets=(token,),
        )
        return parse_balances(data)


def _money(entry: Mapping[str, Any], name: str, code: str, where: str) -> Decimal:
    money = require_mapping(require_field(entry, name, where), f"{where}.{name}")
    value = decimal_from_number(
        require_field(money, "value", f"{where}.{name}"), f"{where}.{name}.value"
    )
    money_code = currency_code(
        require_field(money, "currency", f"{where}.{name}"), f"{where}.{name}.currency"
    )
    if money_code != code:
        raise bad_response(f"{where}.{name} is in {money_code}, the balance in {code}.")
    return value


def parse_balances(data: Any) -> Snapshot:
    entries = require_list(data, "The response")
    standard: dict[str, dict[str, Decimal]] = {}
    jars: dict[str, list[dict[str, Any]]] = {}
    unsupported: set[str] = set()
    for index, raw in enumerate(entries):
        where = f"balances[{index}]"
        entry = require_mapping(raw, where)
        code = currency_code(require_field(entry, "currency", where), f"{where}.currency")
        kind = require_field(entry, "type", where)
        if kind not in TYPES:
            raise bad_response(f"{where}.type {str(kind)[:30]!r} is not STANDARD or SAVINGS.")
        amount = _money(entry, "amount", code, where)
        if kind == "STANDARD":
            figures = {
                "available": amount,
                "reserved": _money(entry, "reservedAmount", code, where),
            }
            for optional, key in (("cashAmount", "cash"), ("totalWorth", "totalWorth")):
                if entry.get(optional) is not None:
                    figures[key] = _money(entry, optional, code, where)
            if code in standard:
                raise bad_response(f"Two STANDARD balances in {code}.")
            standard[code] = figures
        else:
            name = entry.get("name")
            jars.setdefault(code, []).append(
                {
                    "id": entry.get("id"),
                    "name": name if isinstance(name, str) and name else f"Jar {entry.get('id')}",
                    "amount": amount,
                }
            )
        if not currencies.is_known(code):
            unsupported.add(code)

    result = []
    for code in sorted(set(standard) | set(jars)):
        if code in unsupported:
            continue
        std = standard.get(code, {})
        code_jars = jars.get(code, [])
        extras: dict[str, Any] = {k: v for k, v in std.items() if k in ("cash", "totalWorth")}
        if code_jars:
            extras["jars"] = code_jars
        result.append(
            CurrencyFigures(
                currency=code,
                available=std.get("available", Decimal(0)),
                reserved=std.get("reserved", Decimal(0))
                + sum((j["amount"] for j in code_jars), Decimal(0)),
                extras=extras,
            )
        )
    return build_snapshot(WiseAdapter.kind, result, unsupported=unsupported)
