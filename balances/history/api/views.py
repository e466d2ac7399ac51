"""``GET /api/v1/balances``: every service's balances, now or as of a moment, as a JSON
page or a streamed CSV file (``Accept: text/csv`` or ``?format=csv``)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.settings import api_settings

from balances.history.api import serializers as s
from balances.history.asof import BalanceThen
from balances.history.export import (
    BalanceFilters,
    balances_csv_response,
    balances_then,
    current_balances,
)
from core.api.etag import ListETagMixin
from core.api.schema import errors, paginated
from core.api.views import ApiView
from core.csvexport import CsvRenderer, wants_csv

CSV_FORMAT = OpenApiParameter(
    "format",
    str,
    OpenApiParameter.QUERY,
    required=False,
    enum=["json", "csv"],
    description="`csv` (or `Accept: text/csv`): every matching balance as a streamed CSV "
    "file, filters applied, pages ignored.",
)


def _rows(filters: BalanceFilters) -> QuerySet:
    """The balances now, or the history entries that set them at ``filters.as_of``."""
    return current_balances(filters) if filters.as_of is None else balances_then(filters)


class BalancesAcrossView(ListETagMixin, ApiView):
    """Same rule as the page of balances across services: viewer and above."""

    required_perms = {"GET": ("services.view_service", "balances.view_balance")}
    renderer_classes = [*api_settings.DEFAULT_RENDERER_CLASSES, CsvRenderer]

    def etag_validator(self, request: Request, **kwargs: Any) -> Any | None:
        """The page itself (the balances now with their services, or the history entries
        that set them at ``asOf``); CSV carries no ETag."""
        query = s.BalancesAcrossQuery(data=request.query_params)
        if not query.is_valid():
            return None  # the list answers the 400
        return self.etag_page(request, _rows(query.filters()))

    @extend_schema(
        operation_id="balances_across_services",
        summary="Balances of every service (JSON or CSV)",
        description="Sorted by service name, service id and currency. With `Accept: "
        "text/csv` or `?format=csv` the whole list is streamed as CSV (columns service_id, "
        "service_name, currency, available, pending, reserved, held, updated_at, updated_by; "
        "amounts with the currency's digits, UTC ISO times); otherwise a JSON page. "
        "`asOf`: the balances as they were at that moment, from their history (`held` is "
        "then null, or empty in CSV).",
        parameters=[s.BalancesAcrossQuery, CSV_FORMAT],
        responses={
            (200, "application/json"): paginated(s.BalanceAcrossOut),
            (200, "text/csv"): OpenApiResponse(
                response={"type": "string"}, description="The list as CSV, with a header row."
            ),
            **errors(400),
        },
    )
    def get(self, request: Request) -> Any:
        query = s.BalancesAcrossQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        filters = query.filters()
        if wants_csv(request):
            return balances_csv_response(filters)
        if filters.as_of is None:
            return self.paginate(request, _rows(filters), s.BalanceAcrossOut)
        paginator, page = self.page_of(request, _rows(filters))
        rows = [BalanceThen.of(change) for change in page]
        return paginator.get_paginated_response(s.BalanceAcrossOut(rows, many=True).data)
