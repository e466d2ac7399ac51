"""Alerts API: rules (admins write them) and alerts (operators acknowledge them).  Thin:
parse, call one action or query, answer."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from alerts import actions, queries
from alerts.api import serializers as s
from alerts.models import Alert, AlertRule
from core.actors import Actor
from core.api.etag import ListETagMixin, aggregate
from core.api.schema import errors, paginated, path_param
from core.api.views import ApiView
from core.errors import NotFound, ValidationFailed
from services.models import Service
from services.queries import service_get

VIEW_RULES = ("alerts.view_alertrule",)
VIEW_ALERTS = ("alerts.view_alert",)
RULE_ID = path_param("ruleId", "The rule's id, e.g. arl_3k2j….")
ALERT_ID = path_param("alertId", "The alert's id, e.g. alt_3k2j….")


def _service(raw: Any) -> Service | None:
    """The service a rule names in its body; null or "" for every service."""
    if raw in (None, ""):
        return None
    try:
        return service_get(str(raw).strip())
    except NotFound:
        raise ValidationFailed(f"There is no service {raw}.", field="service_id") from None


def rule_response(rule: AlertRule, *, code: int = status.HTTP_200_OK, **headers: str) -> Response:
    return Response(s.AlertRuleOut(rule).data, status=code, headers=headers)


class AlertRuleListView(ListETagMixin, ApiView):
    """``GET|POST /alert-rules``."""

    required_perms = {"GET": VIEW_RULES, "POST": (*VIEW_RULES, "alerts.add_alertrule")}

    def etag_validator(self, request: Request, **kwargs: Any) -> Any | None:
        """An edit of a rule sets its ``updated_at``; a deleted one leaves the count."""
        query = s.AlertRuleListQuery(data=request.query_params)
        if not query.is_valid():
            return None  # the list answers the 400
        return aggregate(
            queries.rules_for_list(
                currency=query.validated_data.get("currency", ""),
                service_public_id=query.validated_data.get("serviceId", ""),
            ),
            "updated_at",
        )

    @extend_schema(
        operation_id="alert_rules_list",
        summary="Alert rules",
        description="Filter with `serviceId` (that service's own rules) and `currency`.",
        parameters=[s.AlertRuleListQuery],
        responses={200: paginated(s.AlertRuleOut), **errors(400)},
    )
    def get(self, request: Request) -> Response:
        query = s.AlertRuleListQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        rules = queries.rules_for_list(
            currency=query.validated_data.get("currency", ""),
            service_public_id=query.validated_data.get("serviceId", ""),
        )
        return self.paginate(request, rules, s.AlertRuleOut)

    @extend_schema(
        operation_id="alert_rules_create",
        summary="Create an alert rule",
        description="For one service and currency, or (serviceId null) for a currency across "
        "every service; a service's own rule overrides the all-services rule of the same kind "
        "and currency.  Balances already in trouble get their alert at once.  409 "
        "`already_exists` when the same scope already has a rule of that kind.",
        request=s.AlertRuleCreateIn,
        responses={201: s.AlertRuleOut, **errors(400, 409)},
    )
    def post(self, request: Request) -> Response:
        data = s.AlertRuleCreateIn(data=request.data)
        data.is_valid(raise_exception=True)
        rule = actions.rule_create(
            service=_service(data.validated_data.get("serviceId")),
            actor=Actor.for_request(request),
            **data.action_kwargs(),
        )
        location = request.build_absolute_uri(f"/api/v1/alert-rules/{rule.public_id}")
        return rule_response(rule, code=status.HTTP_201_CREATED, Location=location)


class AlertRuleDetailView(ApiView):
    """``GET|PATCH|DELETE /alert-rules/{ruleId}``."""

    required_perms = {
        "GET": VIEW_RULES,
        "PATCH": (*VIEW_RULES, "alerts.change_alertrule"),
        "DELETE": (*VIEW_RULES, "alerts.delete_alertrule"),
    }

    @extend_schema(
        operation_id="alert_rules_retrieve",
        summary="One alert rule",
        parameters=[RULE_ID],
        responses={200: s.AlertRuleOut, **errors(404)},
    )
    def get(self, request: Request, ruleId: str) -> Response:
        return rule_response(queries.rule_get(ruleId))

    @extend_schema(
        operation_id="alert_rules_update",
        summary="Change an alert rule",
        description="Only the fields sent change.  When the rule then watches other balances "
        "or another condition, its unresolved alerts resolve; the balances are evaluated "
        "again at once.",
        parameters=[RULE_ID],
        request=s.AlertRuleUpdateIn,
        responses={200: s.AlertRuleOut, **errors(400, 404, 409)},
    )
    def patch(self, request: Request, ruleId: str) -> Response:
        rule = queries.rule_get(ruleId)
        data = s.AlertRuleUpdateIn(data=request.data)
        data.is_valid(raise_exception=True)
        kwargs = data.action_kwargs()
        if "serviceId" in data.validated_data:
            kwargs["service"] = _service(data.validated_data["serviceId"])
        rule = actions.rule_update(rule=rule, actor=Actor.for_request(request), **kwargs)
        return rule_response(queries.rule_get(rule.public_id))

    @extend_schema(
        operation_id="alert_rules_destroy",
        summary="Delete an alert rule",
        description="Its alerts resolve and are kept.",
        parameters=[RULE_ID],
        responses={204: None, **errors(404)},
    )
    def delete(self, request: Request, ruleId: str) -> Response:
        actions.rule_delete(rule=queries.rule_get(ruleId), actor=Actor.for_request(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class AlertListView(ListETagMixin, ApiView):
    """``GET /alerts``."""

    required_perms = {"GET": VIEW_ALERTS}

    def etag_validator(self, request: Request, **kwargs: Any) -> Any | None:
        """An alert changes by being acknowledged or resolved (each sets its moment to now
        and moves the status counts) or by losing its rule (the count of alerts with one)."""
        query = s.AlertListQuery(data=request.query_params)
        if not query.is_valid():
            return None  # the list answers the 400
        return aggregate(
            _alerts(query.validated_data),
            "opened_at",
            "resolved_at",
            "acknowledged_at",
            statuses=Alert.Status.values,
            present=("rule",),
        )

    @extend_schema(
        operation_id="alerts_list",
        summary="Alerts",
        description="Newest first; the history is kept.  Filter with `status`, `serviceId`, "
        "`currency` and `kind`.",
        parameters=[s.AlertListQuery],
        responses={200: paginated(s.AlertOut), **errors(400)},
    )
    def get(self, request: Request) -> Response:
        query = s.AlertListQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        return self.paginate(request, _alerts(query.validated_data), s.AlertOut)


def _alerts(chosen: dict[str, Any]) -> Any:
    return queries.alerts_for_list(
        status=chosen.get("status", ""),
        currency=chosen.get("currency", ""),
        service_public_id=chosen.get("serviceId", ""),
        kind=chosen.get("kind", ""),
    )


class AlertDetailView(ApiView):
    """``GET /alerts/{alertId}``."""

    required_perms = {"GET": VIEW_ALERTS}

    @extend_schema(
        operation_id="alerts_retrieve",
        summary="One alert",
        parameters=[ALERT_ID],
        responses={200: s.AlertOut, **errors(404)},
    )
    def get(self, request: Request, alertId: str) -> Response:
        return Response(s.AlertOut(queries.alert_get(alertId)).data)


class AlertAcknowledgeView(ApiView):
    """``POST /alerts/{alertId}/acknowledge`` ``{"note": "…"}``."""

    required_perms = {"POST": (*VIEW_ALERTS, "alerts.acknowledge_alert")}

    @extend_schema(
        operation_id="alerts_acknowledge",
        summary="Acknowledge an open alert",
        description="With a note saying what is being done.  The alert stays unresolved "
        "(no new alert opens while its condition holds) and resolves by itself.  409 "
        "`not_open` when it is already acknowledged or resolved.",
        parameters=[ALERT_ID],
        request=s.AcknowledgeIn,
        responses={200: s.AlertOut, **errors(400, 404, 409)},
    )
    def post(self, request: Request, alertId: str) -> Response:
        alert = queries.alert_get(alertId)
        data = s.AcknowledgeIn(data=request.data)
        data.is_valid(raise_exception=True)
        actions.alert_acknowledge(
            alert=alert, actor=Actor.for_request(request), note=data.validated_data["note"]
        )
        return Response(s.AlertOut(queries.alert_get(alertId)).data)
