"""Services API.  Thin: parse, call one action or query, answer."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from core.actors import Actor
from core.api.etag import ListETagMixin
from core.api.schema import SERVICE_ID, errors, paginated
from core.api.views import ApiView
from services import actions, queries
from services.api import serializers as s


class ServiceListView(ListETagMixin, ApiView):
    required_perms = {"GET": ("services.view_service",), "POST": ("services.add_service",)}

    def etag_validator(self, request: Request, **kwargs: Any) -> Any | None:
        """The page itself: a service's figures come from its balances, its connection and
        its latest sync run, which no one aggregate follows."""
        query = s.ServiceListQuery(data=request.query_params)
        if not query.is_valid():
            return None  # the list answers the 400
        return self.etag_page(request, self.listed(query))

    @staticmethod
    def listed(query: s.ServiceListQuery) -> Any:
        """Only the columns the list shows: its tag is the page as loaded."""
        return queries.services_for_list(search=query.validated_data.get("search", ""), api=True)

    @extend_schema(
        operation_id="services_list",
        summary="Services",
        parameters=[s.ServiceListQuery],
        responses={200: paginated(s.ServiceListItemOut)},
    )
    def get(self, request: Request) -> Response:
        query = s.ServiceListQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        # 2 queries whatever the page: the count, then the page with its figures annotated.
        return self.paginate(request, self.listed(query), s.ServiceListItemOut)

    @extend_schema(
        operation_id="services_create",
        summary="Create a service",
        request=s.ServiceCreateIn,
        responses={201: s.ServiceOut, **errors(400)},
    )
    def post(self, request: Request) -> Response:
        data = s.ServiceCreateIn(data=request.data)
        data.is_valid(raise_exception=True)
        service = actions.service_create(actor=Actor.for_request(request), **data.validated_data)
        location = request.build_absolute_uri(f"/api/v1/services/{service.public_id}")
        return Response(
            s.ServiceOut(service).data,
            status=status.HTTP_201_CREATED,
            headers={"Location": location},
        )


class ServiceDetailView(ApiView):
    required_perms = {
        "GET": ("services.view_service",),
        "PATCH": ("services.view_service", "services.change_service"),
        "DELETE": ("services.view_service", "services.delete_service"),
    }

    @extend_schema(
        operation_id="services_retrieve",
        summary="One service",
        parameters=[SERVICE_ID],
        responses={200: s.ServiceOut, **errors(404)},
    )
    def get(self, request: Request, serviceId: str) -> Response:
        return Response(s.ServiceOut(queries.service_get(serviceId)).data)

    @extend_schema(
        operation_id="services_update",
        summary="Change a service",
        description="Only the fields sent change. `feeProfileId` takes a fee profile's id, or "
        "null to remove the profile.",
        parameters=[SERVICE_ID],
        request=s.ServiceUpdateIn,
        responses={200: s.ServiceOut, **errors(400, 404)},
    )
    def patch(self, request: Request, serviceId: str) -> Response:
        service = queries.service_get(serviceId)
        data = s.ServiceUpdateIn(data=request.data)
        data.is_valid(raise_exception=True)
        changes = dict(data.validated_data)
        if "feeProfileId" in changes:
            changes["fee_profile"] = changes.pop("feeProfileId")
        actions.service_update(service=service, actor=Actor.for_request(request), **changes)
        return Response(s.ServiceOut(queries.service_get(serviceId)).data)

    @extend_schema(
        operation_id="services_destroy",
        summary="Delete a service",
        description="Refused (409) while the service has balances or payouts.",
        parameters=[SERVICE_ID],
        responses={204: None, **errors(404, 409)},
    )
    def delete(self, request: Request, serviceId: str) -> Response:
        service = queries.service_get(serviceId)
        actions.service_delete(service=service, actor=Actor.for_request(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
