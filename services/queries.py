"""Reads of services, tuned for the pages and the API."""

from __future__ import annotations

from functools import cache

from django.db import connections, router
from django.db.models import Count, Max, OuterRef, Q, QuerySet, Subquery

from core import rawsql
from core.errors import NotFound
from services.models import Service

# What the API's list shows of a service and of its connection (services.api.serializers).
API_LIST_COLUMNS = (
    "id",
    "public_id",
    "name",
    "country",
    "status",
    "fee_profile",
    "created_at",
    "updated_at",
    "provider_connection__kind",
)


def services_for_list(*, search: str = "", api: bool = False) -> QuerySet[Service]:
    """Services with their balance count, last balance change and last sync run status,
    in one query.

    ``api``: only the columns the API's list shows (its ETag is the page as loaded, so a
    sync that moves a connection's schedule or adds a run of the same status keeps it);
    the page also links each service's latest run."""
    # Sync runs belong to balances, a higher app: reached through the reverse relation, never
    # imported.
    runs = Service._meta.get_field("sync_runs").related_model._default_manager
    last_run = runs.filter(service=OuterRef("pk")).order_by("-created_at", "-id")
    figures = {
        "balance_count": Count("balances"),
        "last_balance_change": Max("balances__updated_at"),
        "last_run_status": Subquery(last_run.values("status")[:1]),
    }
    if not api:
        figures["last_run_public_id"] = Subquery(last_run.values("public_id")[:1])
    qs = (
        Service.objects.select_related("provider_connection")
        .annotate(**figures)
        .order_by("name", "id")
    )
    if api:
        qs = qs.only(*API_LIST_COLUMNS)
    term = search.strip()
    if term:
        qs = qs.filter(Q(name__icontains=term) | Q(public_id__icontains=term))
    return qs


def service_get(public_id: str) -> Service:
    """The service with its connection and fee profile joined; ``NotFound`` otherwise."""
    service = (
        Service.objects.select_related("provider_connection", "fee_profile")
        .filter(public_id=public_id)
        .first()
    )
    if service is None:
        raise NotFound("No such service.")
    return service


@cache
def _service_sql(using: str, vendor: str) -> str:
    q = connections[using].ops.quote_name
    services = q(rawsql.table(Service))
    public_id = q(rawsql.column(Service, "public_id"))
    # Identifiers from the model only; the id is the one value, a parameter.
    columns = rawsql.select_list(Service, using=using)
    return f"SELECT {columns} FROM {services} WHERE {services}.{public_id} = %s"  # noqa: S608


def service_get_alone(public_id: str) -> Service:
    """The service without its relations (they load on first access); ``NotFound``
    otherwise.  One hand-written indexed read, for the API's hot writes (a payout), whose
    actions read what else they need themselves."""
    using = router.db_for_read(Service)
    connection = connections[using]
    rows = rawsql.fetch(_service_sql(using, connection.vendor), [public_id], using=using)
    if not rows:
        raise NotFound("No such service.")
    return rawsql.loaded(Service, rows[0], using=using)
