"""``{% service_balances_card service %}``: a service's balances in brief, for the service
details page (which loads this library by name and never imports balances)."""

from __future__ import annotations

from typing import Any

from django import template

from balances.queries import balances_for_service
from services.models import Service

register = template.Library()


@register.inclusion_tag("balances/partials/service_balances_card.html")
def service_balances_card(service: Service) -> dict[str, Any]:
    """Queries: the balances."""
    return {"service": service, "balances": balances_for_service(service)}
