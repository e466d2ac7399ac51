"""Balances API: list (the published contract), create, read, update, delete, history.

Thin views: an input serializer parses, one action or query does the work, an output
serializer answers.  Rules (precision, uniqueness, versions, what blocks a deletion) live in
``balances.actions``; their errors reach the client through ``core.api.errors``.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings

from approvals.api.serializers import ApprovalOut
from approvals.models import ApprovalRequest
from balances import actions, history_queries, queries
from balances.api import serializers as s
from balances.forms import HistoryFilterForm
from balances.history.asof import balances_as_of
from balances.models import Balance, BalanceChange
from core.actors import Actor
from core.api.etag import ListETagMixin, appended
from core.api.pagination import keyset_page_size, keyset_response
from core.api.schema import (
    CSV_FORMAT,
    CURRENCY,
    CURSOR,
    DATE_FROM,
    DATE_TO,
    IF_MATCH,
    PAGE_SIZE,
    SERVICE_ID,
    errors,
    keyset_paginated,
)
from core.api.views import ApiView, expected_version
from core.csvexport import CsvRenderer, csv_response, wants_csv
from core.filters import raise_for_api
from core.keyset import parse_cursor
from core.money import currencies
from services.models import Service
from services.queries import service_get

VIEW_BALANCES = ("services.view_service", "balances.view_balance")
# What the balances list shows of a balance (its ETag's validator).
LISTED_FIGURES = ("currency", "available", "pending", "reserved", "held", "version")
LISTED_FIGURES += ("updated_at", "last_synced_at")


def etag(balance: Balance) -> str:
    return f'"{balance.version}"'


def balance_response(balance: Balance, service: Service, **kwargs: Any) -> Response:
    balance.service = service
    data = s.BalanceOut(balance).data
    return Response(data, headers={"ETag": etag(balance), **kwargs.pop("headers", {})}, **kwargs)


def balance_url(request: Request, balance: Balance, service: Service) -> str:
    return request.build_absolute_uri(
        f"/api/v1/services/{service.public_id}/balances/{balance.currency}"
    )


class BalanceListView(ListETagMixin, ApiView):
    """``GET /services/{serviceId}/balances`` (published contract) and ``POST`` to add one."""

    required_perms = {
        "GET": VIEW_BALANCES,
        "POST": ("services.view_service", "balances.add_balance"),
    }
    listed: list[Balance] | None = None

    def etag_validator(self, request: Request, **kwargs: Any) -> Any | None:
        """Every figure the list shows, of every balance of the service (holds move ``held``
        without a version; a sync may move only ``last_synced_at``).  The rows are read
        once: the 200 answers from them (``listed``), so the tag costs it no query.  None as
        of a moment: that answer is read from the history."""
        self.listed = None
        if request.query_params.get("asOf"):
            return None
        self.listed = list(
            Balance.objects.filter(service__public_id=kwargs["serviceId"]).order_by("currency")
        )
        if not self.listed:
            # No balances, or no such service (404): read once, the 200 reuses it.
            self.service = service_get(kwargs["serviceId"])
        return [tuple(getattr(b, field) for field in LISTED_FIGURES) for b in self.listed]

    @extend_schema(
        operation_id="balances_list",
        summary="Balances of a service",
        description="Sorted by currency; `amount` is the available amount as an exact JSON "
        "number with the currency's digits. With `asOf`, the balances as they were at that "
        "moment (read-only, from their history).",
        parameters=[SERVICE_ID, s.BalanceListQuery],
        responses={200: s.BalanceListOut, **errors(400, 404)},
    )
    def get(self, request: Request, serviceId: str) -> Response:
        query = s.BalanceListQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        codes = query.validated_data.get("currency") or []
        as_of = query.validated_data.get("asOf")
        # 1 query (provider, fee profile joined), unless the ETag's check read it already
        service = getattr(self, "service", None) or service_get(serviceId)
        balances: list[Any]
        if as_of is not None:
            balances = balances_as_of(service, as_of)  # 1 query, one probe per currency
        elif self.listed is not None:
            balances = self.listed  # read for the ETag, sorted by currency
        else:
            balances = queries.balances_for_service(service)  # 1 query, sorted by currency
        if codes:
            balances = [b for b in balances if b.currency in codes]
        out = s.BalanceListOut({"serviceId": service.public_id, "balances": balances})
        return Response(out.data)

    @extend_schema(
        operation_id="balances_create",
        summary="Add a balance",
        description="An opening amount the currency's approval policy holds for a second "
        "person (a change from zero above `manualChangeAbove`) is not applied: the balance is "
        "created at zero (`Location`) and the answer is 202 with the approval request "
        "(`approvalId`) for the amount.",
        parameters=[SERVICE_ID],
        request=s.BalanceCreateIn,
        responses={201: s.BalanceOut, 202: ApprovalOut, **errors(400, 404, 409)},
    )
    def post(self, request: Request, serviceId: str) -> Response:
        service = service_get(serviceId)
        data = s.BalanceCreateIn(data=request.data)
        data.is_valid(raise_exception=True)
        balance, approval = actions.balance_create_or_request(
            service=service,
            currency=data.validated_data["currency"],
            amount=data.validated_data.get("amount", "0"),
            reason=data.validated_data["reason"],
            actor=Actor.for_request(request),
        )
        if approval is not None:
            return Response(
                ApprovalOut(approval).data,
                status=status.HTTP_202_ACCEPTED,
                headers={"Location": balance_url(request, balance, service)},
            )
        return balance_response(
            balance,
            service,
            status=status.HTTP_201_CREATED,
            headers={"Location": balance_url(request, balance, service)},
        )


class BalanceDetailView(ApiView):
    """One balance: read (with its ETag), update (If-Match), delete."""

    required_perms = {
        "GET": VIEW_BALANCES,
        "PATCH": ("services.view_service", "balances.change_balance"),
        "DELETE": ("services.view_service", "balances.delete_balance"),
    }

    @extend_schema(
        operation_id="balances_retrieve",
        summary="One balance",
        parameters=[
            SERVICE_ID,
            CURRENCY,
            OpenApiParameter(
                "ETag",
                str,
                OpenApiParameter.HEADER,
                response=[200],
                description="The balance's version, for If-Match.",
            ),
        ],
        responses={200: s.BalanceOut, **errors(404)},
    )
    def get(self, request: Request, serviceId: str, currency: str) -> Response:
        service = service_get(serviceId)
        return balance_response(queries.balance_get(service, currency), service)

    @extend_schema(
        operation_id="balances_update",
        summary="Set a balance's available amount",
        description="Refused (409, `below_holds`) below what open payouts hold on the balance "
        "(`error.details.held`).  A change the currency's approval policy holds for a second "
        "person is not applied: 202 with the approval request (`approvalId`).",
        parameters=[SERVICE_ID, CURRENCY, IF_MATCH],
        request=s.BalanceUpdateIn,
        responses={200: s.BalanceOut, 202: ApprovalOut, **errors(400, 404, 409, 412)},
    )
    def patch(self, request: Request, serviceId: str, currency: str) -> Response:
        service = service_get(serviceId)
        data = s.BalanceUpdateIn(data=request.data)
        data.is_valid(raise_exception=True)
        balance = actions.balance_update_or_request(
            service=service,
            currency=currency,
            amount=data.validated_data["amount"],
            reason=data.validated_data["reason"],
            expected_version=expected_version(request),
            actor=Actor.for_request(request),
        )
        if isinstance(balance, ApprovalRequest):
            return Response(ApprovalOut(balance).data, status=status.HTTP_202_ACCEPTED)
        return balance_response(balance, service)

    @extend_schema(
        operation_id="balances_destroy",
        summary="Delete a balance",
        description="Refused (409) while the balance has pending or reserved funds or open "
        "payouts hold funds on it.  An optional `reason` (query parameter, or JSON body) is "
        "recorded in the history.  A deletion the approval policy holds for a second person "
        "is not done: 202 with the approval request.",
        parameters=[SERVICE_ID, CURRENCY, IF_MATCH, s.BalanceDeleteIn],
        request=None,
        responses={204: None, 202: ApprovalOut, **errors(400, 404, 409, 412)},
    )
    def delete(self, request: Request, serviceId: str, currency: str) -> Response:
        service = service_get(serviceId)
        sent = request.data if isinstance(request.data, dict) and request.data else None
        data = s.BalanceDeleteIn(data=sent or request.query_params)
        data.is_valid(raise_exception=True)
        approval = actions.balance_delete_or_request(
            service=service,
            currency=currency,
            reason=data.validated_data["reason"],
            expected_version=expected_version(request),
            actor=Actor.for_request(request),
        )
        if approval is not None:
            return Response(ApprovalOut(approval).data, status=status.HTTP_202_ACCEPTED)
        return Response(status=status.HTTP_204_NO_CONTENT)


HISTORY_FILTERS = [
    CURSOR,
    PAGE_SIZE,
    DATE_FROM,
    DATE_TO,
    OpenApiParameter(
        "actorKind",
        str,
        OpenApiParameter.QUERY,
        required=False,
        enum=["person", "sync", "payout", "approval", "system"],
        description="Who made the change; `approval`: applied by approving a request.",
    ),
    OpenApiParameter(
        "actor",
        str,
        OpenApiParameter.QUERY,
        required=False,
        description="The actor's label contains this (case-insensitive), or the username is "
        "exactly this; approvers count.",
    ),
    OpenApiParameter(
        "reason",
        str,
        OpenApiParameter.QUERY,
        required=False,
        description="The reason contains this (case-insensitive).",
    ),
    CSV_FORMAT,
]
HISTORY_CSV = OpenApiResponse(
    response={"type": "string"},
    description="Every matching change as CSV: " + ", ".join(history_queries.CSV_HEADER) + ".",
)


class _HistoryView(ListETagMixin, ApiView):
    """Keyset pages of a history, newest first, filtered; CSV on request."""

    def etag_validator(self, request: Request, **kwargs: Any) -> Any | None:
        """Changes are only ever added: every change of the service (or of the currency),
        whatever the filters (the query string is in the tag)."""
        changes = BalanceChange.objects.filter(service__public_id=kwargs["serviceId"])
        if "currency" in kwargs:
            changes = changes.filter(currency=currencies.normalise_code(kwargs["currency"]))
        return appended(changes)

    required_perms = {"GET": ("services.view_service", "balances.view_balancechange")}
    renderer_classes = [*api_settings.DEFAULT_RENDERER_CLASSES, CsvRenderer]

    def history(self, request: Request, service: Service, currency: str | None) -> Any:
        form = HistoryFilterForm(request.query_params, with_currency=currency is None)
        raise_for_api(form)
        qs = history_queries.filtered_history(
            service=service, currency=currency, filters=form.cleaned_data
        )
        if wants_csv(request):
            return csv_response(
                history_queries.CSV_HEADER,
                history_queries.csv_rows(qs, service=service),
                filename=f"{service.public_id}-{currency or 'all'}-history",
            )
        if "page" in request.query_params and not form.cleaned_data["cursor"]:
            # Numbered pages (``?page=2``, with ``count``), as this list answered before it
            # had cursors; kept for the clients written against it.
            return self.paginate(request, qs, s.BalanceChangeOut)
        cursor = parse_cursor(form.cleaned_data["cursor"], history_queries.CURSOR_SALT)
        page = history_queries.history_page(qs, cursor=cursor, size=keyset_page_size(request))
        # The first page also says how many changes match (one COUNT, as numbered pages
        # did); deeper pages do not pay for it.
        count = None if cursor else qs.count()
        return keyset_response(
            request, page, s.BalanceChangeOut(page.rows, many=True).data, count=count
        )


class BalanceHistoryView(_HistoryView):
    """A balance's history, newest first; still readable after the balance is deleted."""

    @extend_schema(
        operation_id="balances_history",
        summary="History of a balance",
        description="Newest first, in keyset pages (`next` goes to older changes); filters "
        "as on the history page.  JSON, or CSV with `Accept: text/csv` / `?format=csv`.",
        parameters=[SERVICE_ID, CURRENCY, *HISTORY_FILTERS],
        responses={
            (200, "application/json"): keyset_paginated(s.BalanceChangeOut),
            (200, "text/csv"): HISTORY_CSV,
            **errors(400, 404),
        },
    )
    def get(self, request: Request, serviceId: str, currency: str) -> Any:
        service = service_get(serviceId)
        code = currencies.normalise_code(currency)
        queries.currency_history(service=service, currency=code)  # 404 if never held
        return self.history(request, service, code)


class ServiceHistoryView(_HistoryView):
    """Every balance change of a service, deleted balances included."""

    @extend_schema(
        operation_id="balances_service_history",
        summary="Balance history of a service",
        description="Every currency's changes, newest first, in keyset pages; filters as on "
        "the history page, plus `currency`.  JSON, or CSV with `Accept: text/csv` / "
        "`?format=csv`.",
        parameters=[
            SERVICE_ID,
            *HISTORY_FILTERS,
            OpenApiParameter(
                "currency", str, OpenApiParameter.QUERY, required=False, description="EUR"
            ),
        ],
        responses={
            (200, "application/json"): keyset_paginated(s.BalanceChangeOut),
            (200, "text/csv"): HISTORY_CSV,
            **errors(400, 404),
        },
    )
    def get(self, request: Request, serviceId: str) -> Any:
        return self.history(request, service_get(serviceId), None)
