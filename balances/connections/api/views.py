"""The provider connection API.  Thin: parse, call one action or query, answer."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from balances.connections import actions
from balances.connections.api import serializers as s
from balances.connections.queries import connection_get
from core.actors import Actor
from core.api.schema import SERVICE_ID, errors
from core.api.views import ApiView
from services.queries import service_get


class ConnectionView(ApiView):
    """The service's provider connection.  Credentials go in, never out."""

    required_perms = {
        "GET": ("services.view_service", "services.view_providerconnection"),
        "PUT": (
            "services.view_service",
            "services.add_providerconnection",
            "services.change_providerconnection",
        ),
        "DELETE": ("services.view_service", "services.delete_providerconnection"),
    }

    @extend_schema(
        operation_id="provider_retrieve",
        summary="A service's provider connection",
        parameters=[SERVICE_ID],
        responses={200: s.ConnectionOut, **errors(404)},
    )
    def get(self, request: Request, serviceId: str) -> Response:
        service = service_get(serviceId)
        return Response(s.ConnectionOut(connection_get(service)).data)

    @extend_schema(
        operation_id="provider_update",
        summary="Connect or reconfigure the provider",
        description="Creates the connection (201) or replaces its settings (200).  A "
        "credential left out or empty keeps the stored value, as long as the kind and base URL "
        "stay the same: stored credentials are bound to them.  A base URL must be on the "
        "provider's documented hosts or in PROVIDER_BASE_URL_ALLOWLIST.  Saving resumes a "
        "paused connection.",
        parameters=[SERVICE_ID],
        request=s.ConnectionIn,
        responses={200: s.ConnectionOut, 201: s.ConnectionOut, **errors(400, 404)},
    )
    def put(self, request: Request, serviceId: str) -> Response:
        service = service_get(serviceId)
        data = s.ConnectionIn(data=request.data)
        data.is_valid(raise_exception=True)
        existed = service.provider_connection_or_none is not None
        connection = actions.connection_save(
            service=service, actor=Actor.for_request(request), **data.to_action_kwargs()
        )
        return Response(
            s.ConnectionOut(connection).data,
            status=status.HTTP_200_OK if existed else status.HTTP_201_CREATED,
        )

    @extend_schema(
        operation_id="provider_destroy",
        summary="Disconnect the provider",
        parameters=[SERVICE_ID],
        responses={204: None, **errors(404)},
    )
    def delete(self, request: Request, serviceId: str) -> Response:
        service = service_get(serviceId)
        actions.connection_delete(service=service, actor=Actor.for_request(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
