"""Balances API: list (the published contract), create, read, update, delete, history.

Thin views: an input serializer parses, one action or query does the work, an output
serializer answers.  Rules (precision, uniqueness, versions, what blocks a deletion) live in
``balances.actions``; their errors reach the client through ``core.api.errors``.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from balances import actions, queries
from balances.api import serializers as s
from balances.models import Balance
from core.actors import Actor
from core.api.schema import CURRENCY, IF_MATCH, SERVICE_ID, errors, paginated
from core.api.views import ApiView, expected_version
from core.money import currencies
from services.models import Service
from services.queries import service_get

VIEW_BALANCES = ("services.view_service", "balances.view_balance")


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


class BalanceListView(ApiView):
    """``GET /services/{serviceId}/balances`` (published contract) and ``POST`` to add one."""

    required_perms = {
        "GET": VIEW_BALANCES,
        "POST": ("services.view_service", "balances.add_balance"),
    }

    @extend_schema(
        operation_id="balances_list",
        summary="Balances of a service",
        description="Sorted by currency; `amount` is the available amount as an exact JSON "
        "number with the currency's digits.",
        parameters=[SERVICE_ID, s.BalanceListQuery],
        responses={200: s.BalanceListOut, **errors(400, 404)},
    )
    def get(self, request: Request, serviceId: str) -> Response:
        query = s.BalanceListQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        codes = query.validated_data.get("currency") or []
        service = service_get(serviceId)  # 1 query (provider, fee profile joined)
        balances = queries.balances_for_service(service)  # 1 query, sorted by currency
        if codes:
            balances = [b for b in balances if b.currency in codes]
        out = s.BalanceListOut({"serviceId": service.public_id, "balances": balances})
        return Response(out.data)

    @extend_schema(
        operation_id="balances_create",
        summary="Add a balance",
        parameters=[SERVICE_ID],
        request=s.BalanceCreateIn,
        responses={201: s.BalanceOut, **errors(400, 404, 409)},
    )
    def post(self, request: Request, serviceId: str) -> Response:
        service = service_get(serviceId)
        data = s.BalanceCreateIn(data=request.data)
        data.is_valid(raise_exception=True)
        balance = actions.balance_create(
            service=service,
            currency=data.validated_data["currency"],
            amount=data.validated_data.get("amount", "0"),
            reason=data.validated_data["reason"],
            actor=Actor.for_request(request),
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
        "(`error.details.held`).",
        parameters=[SERVICE_ID, CURRENCY, IF_MATCH],
        request=s.BalanceUpdateIn,
        responses={200: s.BalanceOut, **errors(400, 404, 409, 412)},
    )
    def patch(self, request: Request, serviceId: str, currency: str) -> Response:
        service = service_get(serviceId)
        data = s.BalanceUpdateIn(data=request.data)
        data.is_valid(raise_exception=True)
        balance = actions.balance_update(
            service=service,
            currency=currency,
            amount=data.validated_data["amount"],
            reason=data.validated_data["reason"],
            expected_version=expected_version(request),
            actor=Actor.for_request(request),
        )
        return balance_response(balance, service)

    @extend_schema(
        operation_id="balances_destroy",
        summary="Delete a balance",
        description="Refused (409) while the balance has pending or reserved funds or open "
        "payouts hold funds on it.  An optional `reason` (query parameter, or JSON body) is "
        "recorded in the history.",
        parameters=[SERVICE_ID, CURRENCY, IF_MATCH, s.BalanceDeleteIn],
        request=None,
        responses={204: None, **errors(400, 404, 409, 412)},
    )
    def delete(self, request: Request, serviceId: str, currency: str) -> Response:
        service = service_get(serviceId)
        sent = request.data if isinstance(request.data, dict) and request.data else None
        data = s.BalanceDeleteIn(data=sent or request.query_params)
        data.is_valid(raise_exception=True)
        actions.balance_delete(
            service=service,
            currency=currency,
            reason=data.validated_data["reason"],
            expected_version=expected_version(request),
            actor=Actor.for_request(request),
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class BalanceHistoryView(ApiView):
    """A balance's history, newest first; still readable after the balance is deleted."""

    required_perms = {"GET": ("services.view_service", "balances.view_balancechange")}

    @extend_schema(
        operation_id="balances_history",
        summary="History of a balance",
        parameters=[SERVICE_ID, CURRENCY],
        responses={200: paginated(s.BalanceChangeOut), **errors(404)},
    )
    def get(self, request: Request, serviceId: str, currency: str) -> Response:
        service = service_get(serviceId)
        code = currencies.normalise_code(currency)
        _balance, changes = queries.currency_history(service=service, currency=code)
        return self.paginate(request, changes, s.BalanceChangeOut)
