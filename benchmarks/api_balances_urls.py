"""Benchmark-only URLconf: the whole application, plus the hand-written balances view that
``benchmarks/api_balances.py`` compares the DRF endpoint with.

The hand-written view returns the same bytes from the same queries as
``GET /api/v1/services/{id}/balances``, and does what any endpoint serving this data must do:
authenticate the Bearer key (one query) and check the role's permissions.  It leaves out
what DRF adds on top: content negotiation, throttling (a Redis round trip), serializers, the
browsable API.
"""

from __future__ import annotations

import simplejson
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path

from balances.queries import balances_for_service
from config.urls import handler400, handler403, handler404, handler500  # noqa: F401
from config.urls import urlpatterns as app_urlpatterns
from core.exactjson import decimal_literal
from core.money.fields import exact_amount
from services.accounts.actions import hash_key
from services.models import ApiKey
from services.queries import service_get

PERMS = ("services.view_service", "balances.view_balance")


def _iso(value) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def plain_balances(request: HttpRequest, service_id: str) -> HttpResponse:
    header = request.headers.get("Authorization", "")
    key = None
    if header.startswith("Bearer "):
        key = (
            ApiKey.objects.select_related("user")
            .filter(key_hash=hash_key(header[7:]), revoked_at__isnull=True)
            .first()
        )
    if key is None or not key.user.is_active:
        return JsonResponse({"error": "unauthorized"}, status=401)
    if not key.user.has_perms(PERMS):
        return JsonResponse({"error": "forbidden"}, status=403)
    service = service_get(service_id)
    balances = balances_for_service(service)
    data = {
        "serviceId": service.public_id,
        "balances": [
            {
                "currency": b.currency,
                "amount": exact_amount(b.available, b.currency),
                "pending": exact_amount(b.pending, b.currency),
                "reserved": exact_amount(b.reserved, b.currency),
                "availableForPayout": exact_amount(b.available_for_payout, b.currency),
                "version": b.version,
                "updatedAt": _iso(b.updated_at),
                "lastSyncedAt": _iso(b.last_synced_at),
            }
            for b in balances
        ],
    }
    # Decimals as the API writes them: digit for digit, never "0E-8".
    body = simplejson.dumps(
        data,
        use_decimal=False,
        default=decimal_literal,
        separators=(", ", ": "),
        ensure_ascii=False,
    )
    return HttpResponse(body.encode(), content_type="application/json")


urlpatterns = [
    path("bench/plain/services/<str:service_id>/balances", plain_balances),
    *app_urlpatterns,
]
