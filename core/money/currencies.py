"""Currencies and their precision: ISO 4217 (from py-moneyed) plus the crypto assets in settings.

Every amount that enters the system passes through :func:`parse_amount`, which refuses (never
rounds) a value more precise than its currency allows.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal
from functools import cache

import moneyed
from django.conf import settings

from core.errors import ValidationFailed

# Storage (core/money/dbfields.py): a 64-bit integer of 10^-8 units, the finest precision of
# any asset, exact on SQLite and PostgreSQL alike.  The largest amount it keeps is
# (2^63 - 1) / 10^8 = 92233720368.54775807 in any currency; the parser refuses more.
STORAGE_DECIMAL_PLACES = 8
MAX_STORAGE_UNITS = 2**63 - 1
MAX_ABS_AMOUNT = Decimal(MAX_STORAGE_UNITS).scaleb(-STORAGE_DECIMAL_PLACES)

# ISO 4217 codes that are not money a service can hold: no currency (XXX), testing (XTS),
# accounting units (XDR, XSU, XUA, the bond units XBA-XBD) and precious metals.
NOT_MONEY = frozenset(
    {"XXX", "XTS", "XDR", "XSU", "XUA", "XBA", "XBB", "XBC", "XBD", "XAU", "XAG", "XPD", "XPT"}
    | {"XFO", "XFU", "XRE"}
)

# Offered first in currency pickers; the rest follow alphabetically.
COMMON_CODES = ("EUR", "USD", "GBP", "NGN", "GHS", "KES", "JPY", "KWD", "CHF", "USDT_TRC20")


class AmountError(ValueError):
    """An amount that cannot be accepted for a currency; the message says why, for users."""


@dataclass(frozen=True)
class CurrencyInfo:
    code: str
    name: str
    decimals: int
    is_crypto: bool = False

    @property
    def quantum(self) -> Decimal:
        return Decimal(1).scaleb(-self.decimals)


def _register_crypto_assets() -> None:
    for code, spec in settings.CRYPTO_ASSETS.items():
        if code not in moneyed.CURRENCIES:
            moneyed.add_currency(
                code=code,
                numeric=None,
                sub_unit=10 ** int(str(spec["decimals"])),
                name=str(spec["name"]),
                countries=[],
            )


@cache
def _registry() -> dict[str, CurrencyInfo]:
    _register_crypto_assets()
    crypto = set(settings.CRYPTO_ASSETS)
    result: dict[str, CurrencyInfo] = {}
    for code, cur in moneyed.CURRENCIES.items():
        if code == "DEFAULT" or not code or code in NOT_MONEY:
            continue
        sub_unit = int(cur.sub_unit or 1)
        decimals = round(math.log10(sub_unit)) if sub_unit > 1 else 0
        if code in crypto:
            decimals = int(str(settings.CRYPTO_ASSETS[code]["decimals"]))
        result[code] = CurrencyInfo(
            code=code, name=cur.name or code, decimals=decimals, is_crypto=code in crypto
        )
    return result


def all_currencies() -> list[CurrencyInfo]:
    return sorted(_registry().values(), key=lambda c: c.code)


def is_known(code: str) -> bool:
    return isinstance(code, str) and CODE.fullmatch(code) is not None and code in _registry()


def get(code: str) -> CurrencyInfo:
    """The currency for ``code``; raises ``AmountError`` for an unknown code."""
    try:
        return _registry()[code]
    except (KeyError, TypeError):
        raise AmountError(f"Unknown currency: {code!r}.") from None


def decimals_of(code: str) -> int:
    return get(code).decimals


CODE = re.compile(r"[A-Z0-9_]{1,16}", re.ASCII)


def normalise_code(raw: object) -> str:
    """A currency code as sent, trimmed of surrounding spaces only and upper-cased in ASCII
    (a non-ASCII look-alike such as a long s stays unknown; so does "CHF\n")."""
    text = str(raw or "").strip(" ")
    return text.upper() if text.isascii() else text


def check_precision(amount: Decimal, currency: str) -> Decimal:
    """Return ``amount`` written with the currency's digits when ``currency`` can hold it
    exactly; raise otherwise.

    Trailing zeros are harmless ("10.50" EUR, "5.000" KWD): only a value that would change
    when written with the currency's digits is refused.
    """
    info = get(currency)
    if not amount.is_finite():
        raise AmountError("Amount must be a finite number.")
    # Before quantize(): beyond Decimal's 28 digits it raises InvalidOperation.
    if abs(amount) > MAX_ABS_AMOUNT:
        raise AmountError("Amount is too large.")
    if amount != amount.quantize(info.quantum, rounding="ROUND_DOWN"):
        if info.decimals == 0:
            raise AmountError(f"{info.code} amounts are whole numbers; {amount:f} has decimals.")
        raise AmountError(
            f"{info.code} amounts have at most {info.decimals} decimal places; {amount:f} has more."
        )
    # The same value with the currency's digits: "0E-16384" or "1E+3" never reach storage.
    return amount.quantize(info.quantum)


# A plain decimal: an optional minus, ASCII digits, at most one point with digits after it.
# No exponent, no underscores, no "+", no non-ASCII digits (Arabic-Indic, fullwidth...).
PLAIN_DECIMAL = re.compile(r"-?[0-9]+(?:\.[0-9]+)?", re.ASCII)
# Longest text worth parsing: 11 integer digits, a point, and trailing zeros within reason.
MAX_AMOUNT_TEXT = 64


def parse_decimal(raw: object) -> Decimal:
    """The shape check every amount passes, before any currency rule: a plain decimal as a
    string (surrounding spaces ignored), an ``int``, or a ``Decimal`` (a JSON number from
    :mod:`core.exactjson`, refused when it was written with an exponent).  Refuses floats,
    exponents, underscores, "+", non-ASCII digits and more integer digits than storage keeps.
    """
    if isinstance(raw, bool) or raw is None:
        raise AmountError("Amount is required and must be a number.")
    if isinstance(raw, float):
        # A float has already lost the exact value; the API parser never produces one.
        raise AmountError("Amount must be given as a decimal string or an exact number.")
    if isinstance(raw, Decimal):
        if getattr(raw, "has_exponent", False):
            raise AmountError("Write the amount as a plain decimal, without an exponent.")
        value = raw
    elif isinstance(raw, int):
        if abs(raw) > MAX_ABS_AMOUNT:
            raise AmountError("Amount is too large.")
        value = Decimal(raw)
    else:
        text = str(raw).strip(" ")
        if not text:
            raise AmountError("Amount is required.")
        if len(text) > MAX_AMOUNT_TEXT:
            raise AmountError("Amount is too long.")
        if not PLAIN_DECIMAL.fullmatch(text):
            shown = text if len(text) <= 24 else text[:24] + "…"
            raise AmountError(
                f"{shown!r} is not a number: write a plain decimal such as 1250.50 "
                "(digits 0-9, an optional minus, one point, no exponent)."
            )
        value = Decimal(text)
    if not value.is_finite():
        raise AmountError("Amount must be a finite number.")
    if abs(value) > MAX_ABS_AMOUNT:
        raise AmountError("Amount is too large.")
    return value


def parse_amount(raw: object, currency: str) -> Decimal:
    """Parse an amount from any door (API, form, query parameter, provider) exactly:
    :func:`parse_decimal`, then the currency's precision; never rounds."""
    return check_precision(parse_decimal(raw), currency)


def clean_code(raw: object) -> str:
    """A currency code from an operator or a client: a known one, else ``ValidationFailed``
    on the ``currency`` field."""
    code = normalise_code(raw)
    if not code:
        raise ValidationFailed("Choose a currency.", field="currency")
    if not is_known(code):
        raise ValidationFailed(f"{code!r} is not a known currency.", field="currency")
    return code


def clean_amount(raw: object, currency: str) -> Decimal:
    """:func:`parse_amount` for the actions: a refusal is ``ValidationFailed`` on the
    ``amount`` field."""
    try:
        return parse_amount(raw, currency)
    except AmountError as exc:
        raise ValidationFailed(str(exc), field="amount") from None


def from_minor_units(minor: int, currency: str) -> Decimal:
    """Integer minor units (Finix) to an exact Decimal: 1050 EUR -> 10.50, 1050 JPY -> 1050."""
    info = get(currency)
    return Decimal(minor).scaleb(-info.decimals) if info.decimals else Decimal(minor)


def format_amount(amount: Decimal | None, currency: str, *, grouping: bool = True) -> str:
    """Format with the currency's digits and grouping separators ("12,500.75", "5,000").

    More digits are shown when the value carries them (a provider may report finer amounts
    than ISO 4217 allows), so a displayed value is never rounded.
    """
    if amount is None:
        return ""
    try:
        decimals = decimals_of(currency)
    except AmountError:
        decimals = 2
    exponent = amount.normalize().as_tuple().exponent
    places = max(decimals, -exponent if isinstance(exponent, int) and exponent < 0 else 0)
    spec = f"{',' if grouping else ''}.{places}f"
    text = format(amount, spec)
    return text.replace("-", "\u2212") if text.startswith("-") else text


def plain_amount(amount: Decimal, currency: str) -> str:
    """The amount as a plain decimal string with the currency's digits ("8400.00", "5000")."""
    return format_amount(amount, currency, grouping=False).replace("\u2212", "-")


def currency_choices(exclude: set[str] | frozenset[str] = frozenset()) -> list[tuple[str, str]]:
    common = [c for c in COMMON_CODES if is_known(c) and c not in exclude]
    rest = [c.code for c in all_currencies() if c.code not in exclude and c.code not in common]
    reg = _registry()
    return [(code, f"{code} — {reg[code].name}") for code in common + rest]
