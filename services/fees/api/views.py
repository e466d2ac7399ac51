"""Fee profiles API.  Thin: parse, call one action (services/fee_actions.py) or the formula
(services/fees.py), answer."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from core.actors import Actor
from core.api.etag import ListETagMixin
from core.api.permissions import HasRolePermission, required_perms_for
from core.api.schema import IF_MATCH, errors, paginated, path_param
from core.api.views import ApiView, expected_version
from services.fees import actions as fee_actions
from services.fees import formula as fees
from services.fees import queries as fee_queries
from services.fees.api import serializers as s

VIEW = ("services.view_feeprofile", "services.view_feerule")
PROFILE_ID = path_param("id", "The fee profile's id (an integer).")
RULE_ID = path_param("ruleId", "The rule's id (an integer).")


def profile_response(pk: int, *, code: int = status.HTTP_200_OK, **headers: str) -> Response:
    profile = fee_queries.fee_profile_get(pk)  # fresh, with what the action just wrote
    return Response(
        s.FeeProfileOut(profile).data,
        status=code,
        headers={"ETag": f'"{profile.version}"', **headers},
    )


class FeeProfileListView(ListETagMixin, ApiView):
    """``GET|POST /fee-profiles``."""

    required_perms = {"GET": VIEW, "POST": (*VIEW, "services.add_feeprofile")}

    def etag_validator(self, request: Request, **kwargs: Any) -> Any | None:
        """The page itself, with each profile's rules and services."""
        return self.etag_page(request, fee_queries.fee_profiles())

    @extend_schema(
        operation_id="fee_profiles_list",
        summary="Fee profiles",
        responses={200: paginated(s.FeeProfileOut)},
    )
    def get(self, request: Request) -> Response:
        return self.paginate(request, fee_queries.fee_profiles(), s.FeeProfileOut)

    @extend_schema(
        operation_id="fee_profiles_create",
        summary="Create a fee profile",
        request=s.FeeProfileCreateIn,
        responses={201: s.FeeProfileOut, **errors(400, 409)},
    )
    def post(self, request: Request) -> Response:
        data = s.FeeProfileCreateIn(data=request.data)
        data.is_valid(raise_exception=True)
        profile = fee_actions.fee_profile_create(
            name=data.validated_data["name"],
            description=data.validated_data["description"],
            rules=[s.FeeRuleIn.action_kwargs(r) for r in data.validated_data.get("rules", [])],
            actor=Actor.for_request(request),
        )
        location = request.build_absolute_uri(f"/api/v1/fee-profiles/{profile.pk}")
        return profile_response(profile.pk, code=status.HTTP_201_CREATED, Location=location)


class FeeProfileDetailView(ApiView):
    """``GET|PATCH|DELETE /fee-profiles/{id}``."""

    required_perms = {
        "GET": VIEW,
        "PATCH": (*VIEW, "services.change_feeprofile"),
        "DELETE": (*VIEW, "services.delete_feeprofile"),
    }

    @extend_schema(
        operation_id="fee_profiles_retrieve",
        summary="One fee profile",
        parameters=[PROFILE_ID],
        responses={200: s.FeeProfileOut, **errors(404)},
    )
    def get(self, request: Request, id: int) -> Response:
        return profile_response(id)

    @extend_schema(
        operation_id="fee_profiles_update",
        summary="Change a fee profile",
        description="Only the fields sent change; `rules`, when sent, replaces every rule.",
        parameters=[PROFILE_ID, IF_MATCH],
        request=s.FeeProfileUpdateIn,
        responses={200: s.FeeProfileOut, **errors(400, 404, 409, 412)},
    )
    def patch(self, request: Request, id: int) -> Response:
        profile = fee_queries.fee_profile_get(id)
        data = s.FeeProfileUpdateIn(data=request.data)
        data.is_valid(raise_exception=True)
        rules = data.validated_data.get("rules")
        fee_actions.fee_profile_update(
            profile=profile,
            name=data.validated_data.get("name"),
            description=data.validated_data.get("description"),
            rules=None if rules is None else [s.FeeRuleIn.action_kwargs(r) for r in rules],
            expected_version=expected_version(request),
            actor=Actor.for_request(request),
        )
        return profile_response(id)

    @extend_schema(
        operation_id="fee_profiles_destroy",
        summary="Delete a fee profile",
        description="Refused (409 `in_use`) while services use it; the error names them.",
        parameters=[PROFILE_ID, IF_MATCH],
        responses={204: None, **errors(404, 409, 412)},
    )
    def delete(self, request: Request, id: int) -> Response:
        fee_actions.fee_profile_delete(
            profile=fee_queries.fee_profile_get(id),
            expected_version=expected_version(request),
            actor=Actor.for_request(request),
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class QuoteIsARead(HasRolePermission):
    """A quote is a POST that writes nothing: read-only keys may ask for one."""

    def writes(self, request: Request) -> bool:
        return False

    def perms_for(self, request: Request, view: Any) -> tuple[str, ...]:
        return required_perms_for(view, "POST")


class FeeQuoteView(ApiView):
    """``POST /fee-profiles/{id}/quote`` ``{"operation", "currency", "amount"}``."""

    permission_classes = [QuoteIsARead]
    required_perms = {"POST": VIEW}

    @extend_schema(
        operation_id="fee_profiles_quote",
        summary="Price an amount with a fee profile",
        description="fee = percentage / 100 * amount + fixed, clamped to [minimum, maximum], "
        "rounded half-up to the currency's minor unit; the rule for the currency wins over the "
        "rule for any currency; without a rule, the platform defaults (fee 0).",
        parameters=[PROFILE_ID],
        request=s.FeeQuoteIn,
        responses={200: s.FeeQuoteOut, **errors(400, 404)},
    )
    def post(self, request: Request, id: int) -> Response:
        profile = fee_queries.fee_profile_get(id)
        data = s.FeeQuoteIn(data=request.data)
        data.is_valid(raise_exception=True)
        quote = fees.quote_request(profile=profile, **data.validated_data)
        return Response({"profileId": profile.pk, **s.FeeQuoteOut(quote).data})


class FeeRuleListView(ApiView):
    """``POST /fee-profiles/{id}/rules``: add one rule."""

    required_perms = {"POST": (*VIEW, "services.add_feerule")}

    @extend_schema(
        operation_id="fee_rules_create",
        summary="Add a rule to a fee profile",
        parameters=[PROFILE_ID, IF_MATCH],
        request=s.FeeRuleIn,
        responses={201: s.FeeProfileOut, **errors(400, 404, 409, 412)},
    )
    def post(self, request: Request, id: int) -> Response:
        profile = fee_queries.fee_profile_get(id)
        data = s.FeeRuleIn(data=request.data)
        data.is_valid(raise_exception=True)
        fee_actions.fee_rule_create(
            profile=profile,
            expected_version=expected_version(request),
            actor=Actor.for_request(request),
            **s.FeeRuleIn.action_kwargs(data.validated_data),
        )
        return profile_response(id, code=status.HTTP_201_CREATED)


class FeeRuleDetailView(ApiView):
    """``PATCH|DELETE /fee-profiles/{id}/rules/{ruleId}``."""

    required_perms = {
        "PATCH": (*VIEW, "services.change_feerule"),
        "DELETE": (*VIEW, "services.delete_feerule"),
    }

    @extend_schema(
        operation_id="fee_rules_update",
        summary="Change a rule",
        description="Only the fields sent change.",
        parameters=[PROFILE_ID, RULE_ID, IF_MATCH],
        request=s.FeeRulePatchIn,
        responses={200: s.FeeProfileOut, **errors(400, 404, 409, 412)},
    )
    def patch(self, request: Request, id: int, ruleId: int) -> Response:
        rule = fee_queries.fee_rule_get(profile=fee_queries.fee_profile_get(id), rule_id=ruleId)
        data = s.FeeRulePatchIn(data=request.data)
        data.is_valid(raise_exception=True)
        # The figures not sent stay as they are.
        current = {name: getattr(rule, name) for name in s.FeeRuleIn.FIELDS.values()}
        fee_actions.fee_rule_update(
            rule=rule,
            expected_version=expected_version(request),
            actor=Actor.for_request(request),
            **{**current, **s.FeeRuleIn.action_kwargs(data.validated_data)},
        )
        return profile_response(id)

    @extend_schema(
        operation_id="fee_rules_destroy",
        summary="Remove a rule",
        parameters=[PROFILE_ID, RULE_ID, IF_MATCH],
        responses={200: s.FeeProfileOut, **errors(404, 412)},
    )
    def delete(self, request: Request, id: int, ruleId: int) -> Response:
        rule = fee_queries.fee_rule_get(profile=fee_queries.fee_profile_get(id), rule_id=ruleId)
        fee_actions.fee_rule_delete(
            rule=rule,
            expected_version=expected_version(request),
            actor=Actor.for_request(request),
        )
        return profile_response(id)
