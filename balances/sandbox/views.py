"""The four sandbox endpoints (behaviour described in :mod:`balances.sandbox`).

Plain GET views, csrf-exempt, no database: every answer is computed from the request, the
credential and the clock.
"""

from __future__ import annotations

import hashlib
import re
from decimal import Decimal
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from balances.sandbox.common import (
    basic_credentials,
    bearer_token,
    credential_scale,
    iso_now,
    json_response,
    minor_to_decimal,
    walk_minor,
)
from core import ratelimit
from core.money import currencies
from core.redis import RedisError


def _logref(*parts: str) -> str:
    return hashlib.sha256(":".join(parts).encode()).hexdigest()[:16]


# --- SyncPay ------------------------------------------------------------------------------
SYNCPAY_KEY = re.compile(r"sk_(test|live)_[A-Za-z0-9_]{6,}")
# (currency, decimals, available base, pending base, rate to USD); pending None = always zero.
SYNCPAY_ACCOUNTS = (
    ("USD", 2, 125050, 12500, Decimal("1")),
    ("NGN", 2, 45000000, 7500000, Decimal("0.00065")),
    ("GHS", 2, 560000, None, Decimal("0.065")),
    ("USDT_TRC20", 8, 50012345678, 5000000000, Decimal("1")),
)


def _syncpay_error(status: int, code: str, message: str) -> HttpResponse:
    return json_response({"error": {"code": code, "message": message}}, status=status)


@csrf_exempt
@require_GET
def syncpay_balances(request: HttpRequest) -> HttpResponse:
    key = bearer_token(request)
    if key is None or not SYNCPAY_KEY.fullmatch(key):
        return _syncpay_error(401, "UNAUTHORIZED", "Invalid API key")
    if "deactivated" in key:
        return _syncpay_error(404, "NOT_FOUND", "Organization not found")
    scale = credential_scale(f"syncpay:{key}")
    balances = []
    total_usd = Decimal(0)
    for code, decimals, available_base, pending_base, rate in SYNCPAY_ACCOUNTS:
        step = max(available_base // 400, 1)
        available = minor_to_decimal(
            walk_minor(f"syncpay:{key}:{code}:a", int(available_base * scale), step), decimals
        )
        pending = minor_to_decimal(
            walk_minor(f"syncpay:{key}:{code}:p", int(pending_base * scale), step)
            if pending_base is not None
            else 0,
            decimals,
        )
        total_usd += (available + pending) * rate
        balances.append(
            {
                "currency": code,
                "available_balance": f"{available:.{decimals}f}",
                "pending_balance": f"{pending:.{decimals}f}",
            }
        )
    # KES is zero: SyncPay may leave a zero balance out of the array, and so do we.
    return json_response(
        {
            "success": True,
            "account_id": "org_" + hashlib.sha256(key.encode()).hexdigest()[:10],
            "balances": balances,
            "total_balance_usd": f"{total_usd.quantize(Decimal('0.01'))}",
        }
    )


# --- Finix --------------------------------------------------------------------------------
FINIX_PASSWORD = "sandbox-secret"
FINIX_USERNAME = re.compile(r"US[A-Za-z0-9]{6,}")
FINIX_BALANCE_ID = re.compile(r"BL[A-Za-z0-9]*?(USD|EUR|GBP|JPY|KWD)")
FINIX_VERSION = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
# Major-unit size of each currency's balances, so that JPY and KWD look plausible.
FINIX_BASE = {"USD": 25000, "EUR": 18000, "GBP": 12000, "JPY": 3000000, "KWD": 4000}


def _finix_error(request: HttpRequest, status: int, code: str, message: str) -> HttpResponse:
    return json_response(
        {
            "total": 1,
            "_embedded": {
                "errors": [
                    {
                        "code": code,
                        "logref": _logref("finix", request.path, str(status)),
                        "message": message,
                        "_links": {"self": {"href": request.build_absolute_uri(request.path)}},
                    }
                ]
            },
        },
        status=status,
    )


@csrf_exempt
@require_GET
def finix_balance(request: HttpRequest, balance_id: str) -> HttpResponse:
    credentials = basic_credentials(request)
    if (
        credentials is None
        or not FINIX_USERNAME.fullmatch(credentials[0])
        or credentials[1] != FINIX_PASSWORD
    ):
        return _finix_error(request, 401, "UNKNOWN", "Unauthorized")
    accept = request.headers.get("Accept", "")
    if accept and not any(
        media in accept for media in ("application/json", "application/hal+json", "*/*")
    ):
        return _finix_error(request, 406, "NOT_ACCEPTABLE", f"Cannot produce {accept[:60]}")
    version = request.headers.get("Finix-Version")
    if version is not None and not FINIX_VERSION.fullmatch(version):
        return _finix_error(
            request, 422, "INVALID_FIELD", "Finix-Version must be a date such as 2022-02-01"
        )
    if balance_id.startswith("BLforbidden"):
        return _finix_error(request, 403, "UNKNOWN", "Forbidden")
    match = FINIX_BALANCE_ID.fullmatch(balance_id)
    if match is None:
        return _finix_error(request, 404, "NOT_FOUND", f"Balance {balance_id[:60]} not found")

    code = match.group(1)
    decimals = currencies.decimals_of(code)
    seed = f"finix:{credentials[0]}:{balance_id}"
    base_minor = int(FINIX_BASE[code] * credential_scale(seed) * 10**decimals)
    step = max(base_minor // 300, 1)
    posted = walk_minor(f"{seed}:posted", base_minor, step)
    outflow = walk_minor(f"{seed}:out", base_minor // 10, step, floor=0)
    inflow = walk_minor(f"{seed}:in", base_minor // 8, step, floor=0)
    available = max(posted - outflow, 0)
    pending = posted - outflow + inflow
    return json_response(
        {
            "id": balance_id,
            "created_at": "2024-01-15T09:30:00.000Z",
            "updated_at": iso_now(millis=True),
            "available_amount": available,
            "currency": code,
            "linked_to": "AP" + hashlib.sha256(credentials[0].encode()).hexdigest()[:20],
            "linked_type": "APPLICATION",
            "pending_amount": pending,
            "posted_amount": posted,
            "tags": {},
            "type": "DISBURSEMENT",
            "_links": {"self": {"href": request.build_absolute_uri(request.path)}},
        }
    )


# --- Wise ---------------------------------------------------------------------------------
WISE_TOKEN = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
# (id offset, currency, type, name, amount base in minor units, reserved base)
WISE_BALANCES = (
    (1, "EUR", "STANDARD", None, 1250075, 12000),
    (2, "GBP", "STANDARD", None, 840010, 0),
    (3, "USD", "STANDARD", None, 560000, 4550),
    (4, "EUR", "SAVINGS", "Tax reserve", 300000, 0),
)


def _wise_error(status: int, code: str, message: str, path: str | None = None) -> HttpResponse:
    error: dict[str, Any] = {"code": code, "message": message, "arguments": []}
    if path:
        error["path"] = path
    return json_response({"errors": [error]}, status=status)


def _wise_money(minor: int, code: str) -> dict[str, Any]:
    return {"value": minor_to_decimal(minor, 2), "currency": code}


@csrf_exempt
@require_GET
def wise_balances(request: HttpRequest, profile_id: str) -> HttpResponse:
    token = bearer_token(request)
    if token is None or not WISE_TOKEN.fullmatch(token):
        return json_response(
            {"error": "invalid_token", "error_description": "Invalid token"}, status=401
        )
    if not profile_id.isdigit():
        return _wise_error(404, "NOT_FOUND", "Profile not found")
    raw_types = request.GET.get("types", "")
    if not raw_types.strip():
        return _wise_error(400, "NOT_VALID", "Parameter types is required", "types")
    types = [t.strip() for t in raw_types.split(",")]
    if any(t not in ("STANDARD", "SAVINGS") for t in types):
        return _wise_error(400, "NOT_VALID", "types must be STANDARD and/or SAVINGS", "types")

    scale = credential_scale(f"wise:{token}:{profile_id}")
    answer = []
    for offset, code, kind, name, amount_base, reserved_base in WISE_BALANCES:
        if kind not in types:
            continue
        seed = f"wise:{token}:{profile_id}:{offset}"
        amount = walk_minor(f"{seed}:a", int(amount_base * scale), max(amount_base // 400, 1))
        reserved = (
            walk_minor(f"{seed}:r", reserved_base, max(reserved_base // 50, 1))
            if reserved_base
            else 0
        )
        cash = amount + reserved
        answer.append(
            {
                "id": int(profile_id) * 10 + offset,
                "currency": code,
                "type": kind,
                "name": name,
                "icon": "💰" if kind == "SAVINGS" else None,
                "investmentState": "NOT_INVESTED",
                "amount": _wise_money(amount, code),
                "reservedAmount": _wise_money(reserved, code),
                "cashAmount": _wise_money(cash, code),
                "totalWorth": _wise_money(cash, code),
                "creationTime": "2024-03-01T10:00:00.000Z",
                "modificationTime": iso_now(millis=True),
                "visible": True,
            }
        )
    return json_response(answer)


# --- Payop --------------------------------------------------------------------------------
PAYOP_TOKEN = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
PAYOP_LIMIT, PAYOP_WINDOW = 10, 60.0
# (currency, available, referral, pending, reserve) bases in minor units; USD pending is the
# sum of chargeback adjustments, always negative.
PAYOP_WALLET = (
    ("EUR", 100050, 1500, 5000, 20000),
    ("USD", 800050, 0, -4200, 0),
)


class _PerIpLimit:
    """Payop's documented 10 requests per minute per IP, counted by :mod:`core.ratelimit` (so
    shared by every process serving the sandbox when they share Redis)."""

    name = "sandbox:payop:ip"

    def __init__(self, limit: int, window: float) -> None:
        self.limit, self.window = limit, window

    def check(self, ip: str) -> float:
        """0 when the request may go on, else the seconds until it may."""
        try:
            return ratelimit.hit(f"{self.name}:{ip}", limit=self.limit, seconds=self.window)
        except RedisError:
            return 0.0  # a simulator without its counter simply does not limit

    def reset(self) -> None:
        ratelimit.reset(prefix=f"{self.name}:")


payop_rate_limit = _PerIpLimit(PAYOP_LIMIT, PAYOP_WINDOW)


def _payop_currency_filter(raw: str) -> tuple[list[str], dict[str, list[str]]]:
    codes = [c.strip() for c in raw.split(",")]
    errors = {
        f"currencies [{i}]": ["This value is not a valid currency."]
        for i, code in enumerate(codes)
        if not re.fullmatch(r"[A-Z]{3}", code) or not currencies.is_known(code)
    }
    return codes, errors


@csrf_exempt
@require_GET
def payop_balances(request: HttpRequest) -> HttpResponse:
    wait = payop_rate_limit.check(request.META.get("REMOTE_ADDR", ""))
    if wait > 0:
        return json_response(
            {"message": "Too many requests from ip"},
            status=429,
            headers={"Retry-After": str(max(int(wait + 0.999), 1))},
        )
    token = bearer_token(request)
    if token is None or not PAYOP_TOKEN.fullmatch(token):
        return json_response({"message": "Unable find authenticated user"}, status=401)
    include_total = request.GET.get("includeTotal", "0")
    if include_total not in ("0", "1", "true", "false"):
        return json_response(
            {"message": {"includeTotal": ["This value should be of type bool."]}}, status=400
        )
    wanted: list[str] | None = None
    if "currency" in request.GET:
        wanted, errors = _payop_currency_filter(request.GET["currency"])
        if errors:
            return json_response({"message": errors}, status=400)

    scale = credential_scale(f"payop:{token}")
    answer = []
    for code, *bases in PAYOP_WALLET:
        if wanted is not None and code not in wanted:
            continue
        values = {}
        for name, base in zip(("available", "referral", "pending", "reserve"), bases, strict=True):
            step = max(abs(base) // 200, 1) if base else 0
            minor = walk_minor(f"payop:{token}:{code}:{name}", int(base * scale), step, floor=None)
            if base < 0:
                minor = -abs(minor)  # chargeback adjustments only ever take money away
            elif name != "available":
                minor = max(minor, 0)
            values[name] = minor_to_decimal(minor, 2)
        if include_total in ("1", "true"):
            values["total"] = sum(values.values(), Decimal(0))
        answer.append({"code": code, "balance": {k: f"{v:.2f}" for k, v in values.items()}})
    return json_response({"snapshotAt": iso_now(), "currencies": answer})
