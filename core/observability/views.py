"""``/healthz`` (liveness), ``/readyz`` (readiness) and ``/metrics`` (Prometheus).

No login: probes and Prometheus do not sign in.  ``/metrics`` asks for
``Authorization: Bearer <METRICS_TOKEN>`` instead, and does not exist without a token
configured.  None of them reveals more than its fixed words.
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from core.observability import exposition, health


@never_cache
@require_safe
def healthz(request: HttpRequest) -> HttpResponse:
    """Alive: answers without touching the database or Redis."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_safe
def readyz(request: HttpRequest) -> HttpResponse:
    state = health.readiness()
    return JsonResponse(state.as_json(), status=200 if state.ready else 503)


def _bearer_matches(request: HttpRequest, token: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given:
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


@never_cache
@require_safe
def metrics(request: HttpRequest) -> HttpResponse:
    token = settings.METRICS_TOKEN
    if not token:
        raise Http404("Metrics are not enabled.")
    if not _bearer_matches(request, token):
        response = HttpResponse("Unauthorized\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(exposition.exposition(), content_type=exposition.CONTENT_TYPE)
