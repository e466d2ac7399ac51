"""``{% service_balances_card service %}``: a service's balances in brief, for the service
details page (which loads this library by name and never imports balances).

``{{ balance|delete_blockers }}``: why Delete would be refused now (the action's own rule,
read from the row: no query), so that the card shows Delete disabled with the reason."""

from __future__ import annotations

from typing import Any

from django import template

from balances.actions.balance import deletion_blockers
from balances.models import Balance
from balances.queries import balances_for_service
from services.models import Service

register = template.Library()


@register.inclusion_tag("balances/partials/service_balances_card.html")
def service_balances_card(service: Service) -> dict[str, Any]:
    """Queries: the balances."""
    return {"service": service, "balances": balances_for_service(service)}


@register.filter
def delete_blockers(balance: Balance) -> list[str]:
    return deletion_blockers(balance)
