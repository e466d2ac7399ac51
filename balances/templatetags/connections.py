"""Template tags for a service's provider connection, for the pages of lower apps too (the
services details and list pages load them by name; they never import balances).

* ``{{ kind|provider_label }}``: "SyncPay" for "syncpay", from the provider registry.
* ``{% connection_section service %}``: the details page's provider section: the connection
  as it is, with "Edit connection" for those who may change it (the form is its own page,
  provider:edit, which also shows its errors after a failed save).
"""

from __future__ import annotations

from typing import Any

from django import template

from balances.connections.queries import connection_summary
from balances.providers import base as providers
from balances.queries import last_sync_run
from services.models import Service

register = template.Library()


@register.filter
def provider_label(kind: str | None) -> str:
    return providers.provider_label(kind) if kind else ""


@register.inclusion_tag("balances/connections/partials/service_connection.html", takes_context=True)
def connection_section(context: template.Context, service: Service) -> dict[str, Any]:
    """Queries: the last sync run (the connection is joined by ``service_get``)."""
    connection = service.provider_connection_or_none
    return {
        "service": service,
        "connection": connection,
        "perms": context.get("perms"),
        "last_run": last_sync_run(service),
        **connection_summary(connection),
    }
