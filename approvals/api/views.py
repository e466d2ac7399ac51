"""Approvals API: policies per currency, the requests, and deciding them.  Thin: the rules
(self-approval, expiry, versions) live in approvals/actions.py and the kinds' handlers."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response

from approvals import actions, queries
from approvals.api import serializers as s
from approvals.models import ApprovalRequest
from approvals.registry import handler_for
from core.actors import Actor
from core.api.etag import ListETagMixin, aggregate
from core.api.schema import errors, paginated, path_param
from core.api.views import ApiView
from core.errors import NotFound
from core.money import currencies

VIEW = ("approvals.view_approvalrequest",)
DECIDE = ("approvals.view_approvalrequest", "approvals.approve")
APPROVAL_ID = path_param("approvalId", "The request's id, e.g. apr_3k2j….")
POLICY_CURRENCY = path_param(
    "currency",
    "ISO 4217 code or registered crypto asset (USDT_TRC20).",
    pattern=r"^[A-Z][A-Z0-9_]{2,15}$",
)


def approval_response(approval, *, code: int = 200) -> Response:
    return Response(s.ApprovalOut(approval).data, status=code)


def _known(currency: str) -> str:
    code = currencies.normalise_code(currency)
    if not currencies.is_known(code):
        raise NotFound(f"{code or 'That'} is not a known currency.", field="currency")
    return code


def _optional_body(request: Request) -> object:
    try:
        return request.data
    except exceptions.UnsupportedMediaType:
        return {}


class ApprovalPolicyView(ApiView):
    """``GET | PUT /approval-policies/{currency}`` (admins)."""

    required_perms = {
        "GET": ("approvals.view_approvalpolicy",),
        "PUT": ("approvals.view_approvalpolicy", "approvals.change_approvalpolicy"),
    }

    @extend_schema(
        operation_id="approval_policies_retrieve",
        summary="A currency's approval policy",
        description="The rules in force: the currency's own policy, else the platform default "
        "(`source`), else none.",
        parameters=[POLICY_CURRENCY],
        responses={200: s.PolicyOut, **errors(404)},
    )
    def get(self, request: Request, currency: str) -> Response:
        return Response(s.PolicyOut(queries.policy_rules(_known(currency))).data)

    @extend_schema(
        operation_id="approval_policies_update",
        summary="Set a currency's approval policy",
        description="Replaces the currency's policy (it overrides the platform default). "
        "Limits are amounts with the currency's digits; null: never; 0: every change.",
        parameters=[POLICY_CURRENCY],
        request=s.PolicyIn,
        responses={200: s.PolicyOut, **errors(400, 404)},
    )
    def put(self, request: Request, currency: str) -> Response:
        code = _known(currency)
        data = s.PolicyIn(data=request.data)
        data.is_valid(raise_exception=True)
        actions.policy_set(
            currency=code,
            manual_change_above=data.validated_data["manualChangeAbove"],
            payout_above=data.validated_data["payoutAbove"],
            nonzero_deletion=data.validated_data["nonZeroDeletion"],
            actor=Actor.for_request(request),
        )
        return Response(s.PolicyOut(queries.policy_rules(code)).data)


class ApprovalListView(ListETagMixin, ApiView):
    """``GET /approvals``."""

    required_perms = {"GET": VIEW}

    def etag_validator(self, request: Request, **kwargs: Any) -> Any | None:
        """A request changes by being decided, expiring or renewed: each sets one of its
        moments to now (a renewal: a later expiry) and moves the count of its status."""
        query = s.ApprovalListQuery(data=request.query_params)
        if not query.is_valid():
            return None  # the list answers the 400
        return aggregate(
            _approvals(query.validated_data),
            "requested_at",
            "decided_at",
            "expires_at",
            statuses=ApprovalRequest.Status.values,
        )

    @extend_schema(
        operation_id="approvals_list",
        summary="Approval requests",
        description="Newest first; filter by `status`, `kind`, `currency`, `serviceId` and "
        "`requestedBy` (a username).",
        parameters=[s.ApprovalListQuery],
        responses={200: paginated(s.ApprovalOut), **errors(400)},
    )
    def get(self, request: Request) -> Response:
        query = s.ApprovalListQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        return self.paginate(request, _approvals(query.validated_data), s.ApprovalOut)


def _approvals(chosen: dict[str, Any]) -> Any:
    return queries.approvals_list(
        status=chosen.get("status", ""),
        kind=chosen.get("kind", ""),
        currency=chosen.get("currency", ""),
        service=chosen.get("serviceId", ""),
        requester=chosen.get("requestedBy", ""),
    )


class ApprovalDetailView(ApiView):
    """``GET /approvals/{approvalId}``."""

    required_perms = {"GET": VIEW}

    @extend_schema(
        operation_id="approvals_retrieve",
        summary="One approval request",
        parameters=[APPROVAL_ID],
        responses={200: s.ApprovalOut, **errors(404)},
    )
    def get(self, request: Request, approvalId: str) -> Response:
        return approval_response(queries.approval_get(approvalId))


class ApprovalApproveView(ApiView):
    required_perms = {"POST": DECIDE}

    @extend_schema(
        operation_id="approvals_approve",
        summary="Approve a request (applies its change)",
        description="403 `self_approval` for the requester (any of their keys, superusers "
        "too), and for whoever renewed the request or an earlier one of its chain; 409 "
        "`not_pending`, `expired`, or `balance_moved` when the balance changed since the "
        "request (details: currentVersion, currentAmount): reject or renew it.",
        parameters=[APPROVAL_ID],
        request=s.DecisionIn,
        responses={200: s.ApprovalOut, **errors(403, 404, 409, 422)},
    )
    def post(self, request: Request, approvalId: str) -> Response:
        data = s.DecisionIn.from_request(_optional_body(request))
        data.is_valid(raise_exception=True)
        approval = actions.approval_approve(
            approval=approvalId,
            actor=Actor.for_request(request),
            comment=data.validated_data["comment"],
        )
        return approval_response(approval)


class ApprovalRejectView(ApiView):
    required_perms = {"POST": DECIDE}

    @extend_schema(
        operation_id="approvals_reject",
        summary="Reject a request (nothing is applied; a payout is canceled)",
        parameters=[APPROVAL_ID],
        request=s.DecisionIn,
        responses={200: s.ApprovalOut, **errors(404, 409)},
    )
    def post(self, request: Request, approvalId: str) -> Response:
        data = s.DecisionIn.from_request(_optional_body(request))
        data.is_valid(raise_exception=True)
        approval = actions.approval_reject(
            approval=approvalId,
            actor=Actor.for_request(request),
            comment=data.validated_data["comment"],
        )
        return approval_response(approval)


class ApprovalRenewView(ApiView):
    required_perms = {"POST": VIEW}

    @extend_schema(
        operation_id="approvals_renew",
        summary="Ask a balance change again against the balance as it is now",
        description="For a pending or expired balance request whose balance moved, or that "
        "expired: a new pending request against the balance as it is now (201), still the "
        "original requester's (`requestedBy`), renewed by the caller (`renewedBy`, "
        "`renewedFrom`); neither may approve it.  The old one becomes superseded "
        "(`renewedAs`).  409 `not_renewable` when no renewal is needed (neither expired "
        "nor moved: approve or reject it) or possible.  Needs the permission to make that "
        "change.",
        parameters=[APPROVAL_ID],
        request=None,
        responses={201: s.ApprovalOut, **errors(403, 404, 409)},
    )
    def post(self, request: Request, approvalId: str) -> Response:
        approval = queries.approval_get(approvalId)
        if not request.user.has_perm(handler_for(approval.kind).perm):
            raise exceptions.PermissionDenied("Your role does not allow this change.")
        renewed = actions.approval_renew(approval=approval, actor=Actor.for_request(request))
        return approval_response(renewed, code=201)
