"""``/services/{serviceId}/balances/{currency}/review``: the review waiting on a balance, and
the operator's decision.  Thin: the rules live in ``balances.reviews.actions``."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from balances.reviews import actions, queries
from balances.reviews.api import serializers as s
from core.actors import Actor
from core.api.schema import CURRENCY, SERVICE_ID, errors
from core.api.views import ApiView
from services.queries import service_get


class BalanceReviewView(ApiView):
    required_perms = {
        "GET": ("services.view_service", "balances.view_balance"),
        "POST": ("services.view_service", "balances.change_balance"),
    }

    @extend_schema(
        operation_id="balances_review_retrieve",
        summary="The review waiting on a balance",
        description="A sync that would have overwritten a value set by hand inside the "
        "protection window (`SYNC_PROTECTION_HOURS`) left it in place and opened this review. "
        "404 when nothing waits on the balance.",
        parameters=[SERVICE_ID, CURRENCY],
        responses={200: s.ReviewOut, **errors(404)},
    )
    def get(self, request: Request, serviceId: str, currency: str) -> Response:
        service = service_get(serviceId)
        review = queries.review_get(service, currency)
        return Response(s.ReviewOut(review).data)

    @extend_schema(
        operation_id="balances_review_decide",
        summary="Decide a review",
        description="`accept_provider` writes the provider's figures recorded in the review; "
        "`keep_manual` records the choice and keeps the value set by hand.  Both add a "
        "`reviewed` entry to the balance's history.  404 when no review waits; 409 "
        "(`balance_moved`) when the balance changed since the review opened.",
        parameters=[SERVICE_ID, CURRENCY],
        request=s.DecisionIn,
        responses={200: s.ReviewOut, **errors(400, 404, 409)},
    )
    def post(self, request: Request, serviceId: str, currency: str) -> Response:
        service = service_get(serviceId)
        data = s.DecisionIn(data=request.data)
        data.is_valid(raise_exception=True)
        review = actions.review_decide(
            service=service,
            currency=currency,
            decision=data.validated_data["decision"],
            note=data.validated_data["note"],
            actor=Actor.for_request(request),
        )
        return Response(s.ReviewOut(review).data)
