"""Webhooks API.  Thin: parse, call one action or query, answer.  Who: admins (viewing
included: URLs and delivery logs are sensitive)."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from core.actors import Actor
from core.api.etag import ListETagMixin
from core.api.schema import errors, paginated, path_param
from core.api.views import ApiView
from webhooks import actions, queries
from webhooks.api import serializers as s
from webhooks.models import WebhookAttempt, WebhookDelivery

VIEW = ("webhooks.view_webhook",)
WEBHOOK_ID = path_param("webhookId", "The webhook's id, e.g. wh_3k2j….")
DELIVERY_ID = path_param("deliveryId", "The delivery's id, e.g. whd_8f1c….")


def _with_log(deliveries):
    return deliveries.prefetch_related(
        Prefetch("attempt_log", queryset=WebhookAttempt.objects.order_by("number"))
    )


class WebhookListView(ListETagMixin, ApiView):
    """``GET|POST /webhooks``."""

    required_perms = {"GET": VIEW, "POST": (*VIEW, "webhooks.add_webhook")}

    def etag_validator(self, request: Request, **kwargs: Any) -> Any | None:
        """The page itself, with each webhook's pending and failed counts."""
        return self.etag_page(request, queries.webhooks_for_list())

    @extend_schema(
        operation_id="webhooks_list",
        summary="Webhooks",
        responses={200: paginated(s.WebhookOut)},
    )
    def get(self, request: Request) -> Response:
        return self.paginate(request, queries.webhooks_for_list(), s.WebhookOut)

    @extend_schema(
        operation_id="webhooks_create",
        summary="Create a webhook",
        description="The answer carries `secret` (whsec_…), which signs every delivery: it is "
        "never shown again. The URL's host must be listed in WEBHOOK_URL_ALLOWLIST; private "
        "and loopback addresses only as host:port.",
        request=s.WebhookCreateIn,
        responses={201: s.WebhookCreatedOut, **errors(400)},
    )
    def post(self, request: Request) -> Response:
        data = s.WebhookCreateIn(data=request.data)
        data.is_valid(raise_exception=True)
        webhook, secret = actions.webhook_create(
            actor=Actor.for_request(request), **data.validated_data
        )
        webhook.secret = secret
        location = request.build_absolute_uri(f"/api/v1/webhooks/{webhook.public_id}")
        return Response(
            s.WebhookCreatedOut(webhook).data,
            status=status.HTTP_201_CREATED,
            headers={"Location": location, "Cache-Control": "no-store"},
        )


class WebhookDetailView(ApiView):
    """``GET|PATCH|DELETE /webhooks/{webhookId}``."""

    required_perms = {
        "GET": VIEW,
        "PATCH": (*VIEW, "webhooks.change_webhook"),
        "DELETE": (*VIEW, "webhooks.delete_webhook"),
    }

    @extend_schema(
        operation_id="webhooks_retrieve",
        summary="One webhook",
        parameters=[WEBHOOK_ID],
        responses={200: s.WebhookOut, **errors(404)},
    )
    def get(self, request: Request, webhookId: str) -> Response:
        return Response(s.WebhookOut(queries.webhook_get(webhookId)).data)

    @extend_schema(
        operation_id="webhooks_update",
        summary="Change a webhook",
        description="Only the fields sent change. `active: true` turns a disabled webhook on "
        "again; `active: false` ends its pending deliveries.",
        parameters=[WEBHOOK_ID],
        request=s.WebhookUpdateIn,
        responses={200: s.WebhookOut, **errors(400, 404)},
    )
    def patch(self, request: Request, webhookId: str) -> Response:
        webhook = queries.webhook_get(webhookId)
        data = s.WebhookUpdateIn(data=request.data)
        data.is_valid(raise_exception=True)
        updated = actions.webhook_update(
            webhook=webhook, actor=Actor.for_request(request), **data.validated_data
        )
        return Response(s.WebhookOut(updated).data)

    @extend_schema(
        operation_id="webhooks_destroy",
        summary="Delete a webhook",
        description="With its deliveries and their log; pending deliveries are not sent.",
        parameters=[WEBHOOK_ID],
        responses={204: None, **errors(404)},
    )
    def delete(self, request: Request, webhookId: str) -> Response:
        webhook = queries.webhook_get(webhookId)
        actions.webhook_delete(webhook=webhook, actor=Actor.for_request(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookDeliveriesView(ListETagMixin, ApiView):
    """``GET /webhooks/{webhookId}/deliveries``."""

    required_perms = {"GET": VIEW}

    def etag_validator(self, request: Request, **kwargs: Any) -> Any | None:
        """The page itself, with each delivery's event and attempt log."""
        query = s.DeliveryListQuery(data=request.query_params)
        if not query.is_valid():
            return None  # the list answers the 400
        self.webhook = queries.webhook_get(kwargs["webhookId"])  # the list's own, read once
        wanted = query.validated_data.get("status", "")
        deliveries = queries.deliveries_of(self.webhook, status=wanted)
        return self.etag_page(request, _with_log(deliveries))

    @extend_schema(
        operation_id="webhooks_deliveries",
        summary="Deliveries of a webhook",
        description="Newest first, each with its attempt log (status, duration, the start of "
        "the answer). Filter with `status`.",
        parameters=[WEBHOOK_ID, s.DeliveryListQuery],
        responses={200: paginated(s.DeliveryOut), **errors(404)},
    )
    def get(self, request: Request, webhookId: str) -> Response:
        query = s.DeliveryListQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        webhook = getattr(self, "webhook", None) or queries.webhook_get(webhookId)
        deliveries = queries.deliveries_of(webhook, status=query.validated_data.get("status", ""))
        return self.paginate(request, _with_log(deliveries), s.DeliveryOut)


class DeliveryRedeliverView(ApiView):
    """``POST /webhooks/{webhookId}/deliveries/{deliveryId}/redeliver``."""

    required_perms = {"POST": (*VIEW, "webhooks.change_webhook")}

    @extend_schema(
        operation_id="webhooks_redeliver",
        summary="Redeliver an event",
        description="Sends the delivery's event again (same event id, same body, a new "
        "signature) as a new delivery, which the answer describes. 409 when the webhook is "
        "turned off.",
        parameters=[WEBHOOK_ID, DELIVERY_ID],
        request=None,
        responses={202: s.DeliveryOut, **errors(404, 409)},
    )
    def post(self, request: Request, webhookId: str, deliveryId: str) -> Response:
        webhook = queries.webhook_get(webhookId)
        delivery = queries.delivery_get(deliveryId, webhook=webhook)
        again = actions.delivery_redeliver(delivery=delivery, actor=Actor.for_request(request))
        current = _with_log(
            WebhookDelivery.objects.select_related("event", "redelivery_of").defer("event__body")
        ).get(pk=again.pk)
        return Response(s.DeliveryOut(current).data, status=status.HTTP_202_ACCEPTED)
