"""``GET /api/v1/overview``: the overview page's figures for REST clients."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from alerts.overview import queries
from alerts.overview.api import serializers as s
from core.api.schema import errors
from core.api.views import ApiView


class OverviewView(ApiView):
    """Same rule as the page: viewer and above; alert rows for those who may see alerts."""

    required_perms = {"GET": ("services.view_service", "balances.view_balance")}

    @extend_schema(
        operation_id="overview_retrieve",
        summary="Totals per currency and what needs attention",
        description="`totals`: per currency, the sums of every service's balances (exact, "
        "with the currency's digits) and the number of services holding it. `attention`: "
        "negative balances, balances whose available for payout is below zero, balances "
        "under an alert threshold (open alerts of the amount kinds), stale balances, paused "
        "or failing provider connections and other open alerts, worst first. The filters "
        "apply to `attention` only.",
        parameters=[s.OverviewQuery],
        responses={200: s.OverviewOut, **errors(400)},
    )
    def get(self, request: Request) -> Response:
        query = s.OverviewQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = {
            "totals": queries.currency_totals(),
            "attention": queries.attention_rows(
                filters=query.filters(),
                include_alerts=request.user.has_perm("alerts.view_alert"),
            ),
        }
        return Response(s.OverviewOut(data).data)
