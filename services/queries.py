"""Reads of services, tuned for the pages and the API."""

from __future__ import annotations

from django.db.models import Count, Max, OuterRef, Q, QuerySet, Subquery
from django.http import Http404

from balances.models import SyncRun
from services.models import Service


def services_for_list(*, search: str = "") -> QuerySet[Service]:
    """Services with their balance count, last balance change and last sync run status,
    in one query."""
    last_run = SyncRun.objects.filter(service=OuterRef("pk")).order_by("-created_at", "-id")
    qs = (
        Service.objects.select_related("provider_connection")
        .annotate(
            balance_count=Count("balances"),
            last_balance_change=Max("balances__updated_at"),
            last_run_status=Subquery(last_run.values("status")[:1]),
            last_run_public_id=Subquery(last_run.values("public_id")[:1]),
        )
        .order_by("name", "id")
    )
    term = search.strip()
    if term:
        qs = qs.filter(Q(name__icontains=term) | Q(public_id__icontains=term))
    return qs


def service_by_public_id(public_id: str) -> Service:
    if not public_id.isascii() or "\x00" in public_id:
        raise Http404("No such service.")  # PostgreSQL refuses NUL bytes in text
    try:
        return Service.objects.select_related("provider_connection", "fee_profile").get(
            public_id=public_id
        )
    except Service.DoesNotExist:
        raise Http404("No such service.") from None
