"""Payouts API.  Thin: parse, call one action or query, answer.  The money rules (holds,
idempotency, the state machine) live in payouts/actions.py."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, status
from rest_framework.request import Request
from rest_framework.response import Response

from core.actors import Actor
from core.api.schema import IF_MATCH, SERVICE_ID, errors, paginated, path_param
from core.api.views import ApiView, expected_version
from payouts import actions, queries
from payouts.api import serializers as s
from payouts.models import Payout
from services.queries import service_get

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
    payout.timeline = queries.payout_with_events(payout)
    return Response(
        s.PayoutDetailOut(payout).data,
        status=code,
        headers={"ETag": f'"{payout.version}"', **headers},
    )


def optional_body(request: Request) -> object:
    """The body of a request whose body is optional: a bare ``POST …/pay`` from a client
    that labels its empty body as a form is not an error."""
    try:
        return request.data
    except exceptions.UnsupportedMediaType:
        return {}


class ServicePayoutsView(ApiView):
    """``GET|POST /services/{serviceId}/payouts``."""

    required_perms = {"GET": VIEW, "POST": ("services.view_service", "payouts.add_payout")}

    @extend_schema(
        operation_id="payouts_list",
        summary="Payouts of a service",
        description="Newest first; filter with `status` and `currency`.",
        parameters=[SERVICE_ID, s.PayoutListQuery],
        responses={200: paginated(s.PayoutOut), **errors(400, 404)},
    )
    def get(self, request: Request, serviceId: str) -> Response:
        service = service_get(serviceId)
        query = s.PayoutListQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        payouts = queries.payouts_for_service(
            service_id=service.pk,
            status=query.validated_data.get("status", ""),
            currency=query.validated_data.get("currency", ""),
        ).select_related("service")
        return self.paginate(request, payouts, s.PayoutOut)

    @extend_schema(
        operation_id="payouts_create",
        summary="Create a payout",
        description="Holds amount + fee on the balance until the payout ends.  Refused with "
        "422 `insufficient_funds` when amount + fee exceeds the available amount minus what "
        "open payouts hold, and 422 `below_minimum` under the minimum payout.",
        parameters=[SERVICE_ID, IDEMPOTENCY_KEY],
        request=s.PayoutCreateIn,
        responses={
            201: s.PayoutDetailOut,
            200: s.PayoutDetailOut,
            **errors(400, 404, 409, 422),
        },
    )
    def post(self, request: Request, serviceId: str) -> Response:
        service = service_get(serviceId)
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
