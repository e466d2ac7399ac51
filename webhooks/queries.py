"""Reads of webhooks: the lists of the pages and the API, the one getter per object, and the
deliveries that are due (for ``webhooks.tasks.retry_due``)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from core.errors import NotFound
from webhooks.models import Webhook, WebhookAttempt, WebhookDelivery


def webhooks_for_list() -> QuerySet[Webhook]:
    """Newest first, with the number of pending and failed deliveries (one query)."""
    return Webhook.objects.annotate(
        pending_count=Count("deliveries", filter=Q(deliveries__status="pending")),
        failed_count=Count("deliveries", filter=Q(deliveries__status="failed")),
    ).order_by("-created_at", "-id")


def webhook_get(public_id: str) -> Webhook:
    webhook = Webhook.objects.filter(public_id=public_id).first()
    if webhook is None:
        raise NotFound(f"There is no webhook {public_id}.")
    return webhook


def deliveries_of(webhook: Webhook, *, status: str = "") -> QuerySet[WebhookDelivery]:
    """Newest first, with their event (for its id and type)."""
    qs = (
        WebhookDelivery.objects.filter(webhook=webhook)
        .select_related("event", "redelivery_of")
        .defer("event__body")
        .order_by("-created_at", "-id")
    )
    if status:
        qs = qs.filter(status=status)
    return qs


def delivery_get(public_id: str, *, webhook: Webhook) -> WebhookDelivery:
    delivery = (
        WebhookDelivery.objects.select_related("webhook", "event")
        .defer("event__body")
        .filter(webhook=webhook, public_id=public_id)
        .first()
    )
    if delivery is None:
        raise NotFound(f"There is no delivery {public_id} of webhook {webhook.public_id}.")
    return delivery


def attempts_by_delivery(deliveries: Iterable[WebhookDelivery]) -> dict[int, list[WebhookAttempt]]:
    """The attempt log of each delivery, oldest first (one query for all of them)."""
    found: dict[int, list[WebhookAttempt]] = defaultdict(list)
    ids = [d.pk for d in deliveries]
    if ids:
        for attempt in WebhookAttempt.objects.filter(delivery_id__in=ids).order_by(
            "delivery_id", "number"
        ):
            found[attempt.delivery_id].append(attempt)
    return found


def deliveries_due(*, limit: int = 500, now: datetime | None = None) -> list[int]:
    """Pending deliveries whose next attempt is due and that no worker holds, oldest due
    first."""
    now = now or timezone.now()
    return list(
        WebhookDelivery.objects.filter(status="pending", next_attempt_at__lte=now)
        .filter(Q(locked_until__isnull=True) | Q(locked_until__lt=now))
        .order_by("next_attempt_at", "id")
        .values_list("id", flat=True)[:limit]
    )
