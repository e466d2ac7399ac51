"""Payouts API.  Thin: parse, call one action or query, answer.  The money rules (holds,
idempotency, the state machine) live in payouts/actions.py."""

from __future__ import annotations

from typing import Any

from django.http.response import HttpResponseBase
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, status
from rest_framework.request import Request
from rest_framework.response import Response

from approvals.api.serializers import ApprovalOut
from approvals.queries import approval_for_payout
from core.actors import Actor
from core.api.etag import ListETagMixin, aggregate
from core.api.schema import IF_MATCH, SERVICE_ID, errors, paginated, path_param
from core.api.views import ApiView, expected_version
from core.csvexport import CSV_FORMAT, CsvOnGet, csv_list_responses, csv_response, wants_csv
from payouts import actions, queries
from payouts.api import serializers as s
from payouts.exports import PAYOUT_HEADER, payout_rows
from payouts.models import Payout
from services.queries import service_get, service_get_alone

VIEW = ("services.view_service", "payouts.view_payout")
PAYOUT_ID = path_param("payoutId", "The payout's id, e.g. po_3k2j….")
IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    required=False,
    description="Any unique string (a UUID). The same key with the same body returns the "
    "payout created first (200); with a different body, 409.",
)


def payout_response(payout: Payout, *, code: int = status.HTTP_200_OK, **headers: str) -> Response:
    # A payout just created carries its timeline as written (payout_create): not read back.
    if getattr(payout, "timeline", None) is None:
        payout.timeline = queries.payout_with_events(payout)
    return Response(
        s.PayoutDetailOut(payout).data,
        status=code,
        headers={"ETag": f'"{payout.version}"', **headers},
    )


def _payout_filters(chosen: dict[str, Any]) -> dict[str, Any]:
    """The list's filters as ``queries.payouts_for_service`` applies them."""
    found = {"status": chosen.get("status", ""), "currency": chosen.get("currency", "")}
    return {name: value for name, value in found.items() if value}


def optional_body(request: Request) -> object:
    """The body of a request whose body is optional: a bare ``POST …/pay`` from a client
    that labels its empty body as a form is not an error."""
    try:
        return request.data
    except exceptions.UnsupportedMediaType:
        return {}


class ServicePayoutsView(ListETagMixin, CsvOnGet, ApiView):
    """``GET|POST /services/{serviceId}/payouts``; the list also as CSV."""

    required_perms = {"GET": VIEW, "POST": ("services.view_service", "payouts.add_payout")}

    def etag_validator(self, request: Request, **kwargs: Any) -> Any | None:
        """Every change of a payout moves its version and ``updated_at``."""
        query = s.PayoutListQuery(data=request.query_params)
        if not query.is_valid():
            return None  # the list answers the 400
        return aggregate(
            Payout.objects.filter(
                service__public_id=kwargs["serviceId"],
                **_payout_filters(query.validated_data),
            ),
            "updated_at",
            version="version",
        )

    @extend_schema(
        operation_id="payouts_list",
        summary="Payouts of a service",
        description="Newest first; filter with `status` and `currency`.  With "
        "`Accept: text/csv` or `format=csv`, every payout the filters select as CSV.",
        parameters=[SERVICE_ID, s.PayoutListQuery, CSV_FORMAT],
        responses=csv_list_responses(paginated(s.PayoutOut), 400, 404),
    )
    def get(self, request: Request, serviceId: str) -> HttpResponseBase:
        service = service_get(serviceId)
        query = s.PayoutListQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        payouts = queries.payouts_for_service(
            service_id=service.pk,
            status=query.validated_data.get("status", ""),
            currency=query.validated_data.get("currency", ""),
        )
        if wants_csv(request):
            return csv_response(
                PAYOUT_HEADER, payout_rows(payouts), filename=f"payouts-{service.public_id}"
            )
        return self.paginate(request, payouts.select_related("service"), s.PayoutOut)

    @extend_schema(
        operation_id="payouts_create",
        summary="Create a payout",
        description="Holds amount + fee on the balance until the payout ends.  Refused with "
        "422 `insufficient_funds` when amount + fee exceeds the available amount minus what "
        "open payouts hold, and 422 `below_minimum` under the minimum payout.  Above the "
        "currency's approval limit the payout is created `awaiting_approval` (its funds held) "
        "and the answer is 202 with its approval request (`approvalId`, `payoutId`).",
        parameters=[SERVICE_ID, IDEMPOTENCY_KEY],
        request=s.PayoutCreateIn,
        responses={
            201: s.PayoutDetailOut,
            200: s.PayoutDetailOut,
            202: ApprovalOut,
            **errors(400, 404, 409, 422),
        },
    )
    def post(self, request: Request, serviceId: str) -> Response:
        # payout_create reads the service's state and pricing itself, under its own rules.
        service = service_get_alone(serviceId)
        data = s.PayoutCreateIn(data=request.data)
        data.is_valid(raise_exception=True)
        payout, created = actions.payout_create(
            service=service,
            currency=data.validated_data["currency"],
            amount=data.validated_data["amount"],
            destination=data.validated_data["destination"],
            idempotency_key=request.headers.get("Idempotency-Key"),
            actor=Actor.for_request(request),
        )
        location = request.build_absolute_uri(f"/api/v1/payouts/{payout.public_id}")
        if payout.status == Payout.Status.AWAITING_APPROVAL:
            # Above the currency's approval limit: created, funds held, waiting for a second
            # person; the answer is its approval request (the same on an idempotent replay).
            approval = approval_for_payout(payout.public_id)
            return Response(
                ApprovalOut(approval).data,
                status=status.HTTP_202_ACCEPTED,
                headers={"Location": location},
            )
        return payout_response(
            payout,
            code=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
            Location=location,
        )


class PayoutDetailView(ApiView):
    """``GET /payouts/{payoutId}``, with its timeline."""

    required_perms = {"GET": VIEW}

    @extend_schema(
        operation_id="payouts_retrieve",
        summary="One payout",
        parameters=[PAYOUT_ID],
        responses={200: s.PayoutDetailOut, **errors(404)},
    )
    def get(self, request: Request, payoutId: str) -> Response:
        return payout_response(queries.payout_get(payoutId))


class PayoutTransitionView(ApiView):
    """``POST /payouts/{payoutId}/{process|pay|fail|cancel}``; 409 when the payout's state
    does not allow it."""

    required_perms = {"POST": ("services.view_service", "payouts.change_payout")}
    verb = ""

    def post(self, request: Request, payoutId: str) -> Response:
        payout = queries.payout_get(payoutId)
        data = s.PayoutTransitionIn.from_request(optional_body(request))
        data.is_valid(raise_exception=True)
        payout = actions.payout_transition(
            payout=payout,
            to_status=actions.ACTIONS[self.verb],
            reason=data.validated_data["reason"],
            expected_version=expected_version(request),
            actor=Actor.for_request(request),
        )
        return payout_response(payout)


_SUMMARIES = {
    "process": "Start processing a pending payout",
    "pay": "Mark a processing payout paid (debits the balance by amount + fee)",
    "fail": "Mark a payout failed (ends its hold)",
    "cancel": "Cancel a payout (ends its hold)",
}


def transition_view(verb: str):
    """One view class per verb, so that each has its own operation in the schema."""
    schema = extend_schema(
        operation_id=f"payouts_{verb}",
        summary=_SUMMARIES[verb],
        parameters=[PAYOUT_ID, IF_MATCH],
        request=s.PayoutTransitionIn,
        responses={200: s.PayoutDetailOut, **errors(404, 409, 412)},
    )

    # A function of its own per verb: extend_schema annotates the function it decorates.
    def post(self: PayoutTransitionView, request: Request, payoutId: str) -> Response:
        return PayoutTransitionView.post(self, request, payoutId)

    cls = type(f"Payout{verb.capitalize()}View", (PayoutTransitionView,), {"verb": verb})
    cls.post = schema(post)
    return cls.as_view()
