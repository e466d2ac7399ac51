"""The Webhooks section: list, add (the secret is shown once), detail with the delivery log
and Redeliver, edit, delete, roll the secret.

Who: admins only, viewing included: a webhook's URL (which may carry a token in its query)
and its delivery log (what receivers answered) are not for every operator.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from core.actors import Actor
from core.errors import DomainError
from core.forms import add_domain_error
from core.permissions import require_perms
from webhooks import actions, queries
from webhooks.forms import WebhookForm
from webhooks.models import Webhook, WebhookDelivery

VIEW = "webhooks.view_webhook"
PAGE_SIZE = 25


@require_perms(VIEW)
def webhook_list(request: HttpRequest) -> HttpResponse:
    """Who: admins."""
    return render(request, "webhooks/webhook_list.html", {"webhooks": queries.webhooks_for_list()})


def _secret_page(
    request: HttpRequest, webhook: Webhook, secret: str, *, rolled: bool
) -> HttpResponse:
    return render(
        request,
        "webhooks/webhook_secret.html",
        {"webhook": webhook, "secret": secret, "rolled": rolled},
    )


@never_cache  # the answer that shows the secret must not be kept by any cache
@require_http_methods(["GET", "POST"])
@require_perms(VIEW, "webhooks.add_webhook")
def webhook_add(request: HttpRequest) -> HttpResponse:
    """Who: admins.  The answer to a successful POST shows the secret, once."""
    form = WebhookForm(request.POST or None, initial={"active": True})
    status = 200
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            webhook, secret = actions.webhook_create(
                url=data["url"],
                events=data["events"],
                description=data["description"],
                active=data["active"],
                actor=Actor.for_request(request),
            )
        except DomainError as exc:
            status = add_domain_error(form, exc)
        else:
            return _secret_page(request, webhook, secret, rolled=False)
    elif request.method == "POST":
        status = 400
    return render(
        request, "webhooks/webhook_form.html", {"form": form, "webhook": None}, status=status
    )


@require_perms(VIEW)
def webhook_detail(request: HttpRequest, webhook_id: str) -> HttpResponse:
    """Who: admins.  The webhook, and its deliveries newest first (25 a page), each with its
    attempts."""
    webhook = queries.webhook_get(webhook_id)
    status = request.GET.get("status", "")
    if status not in WebhookDelivery.Status.values:
        status = ""
    page = Paginator(queries.deliveries_of(webhook, status=status), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    attempts = queries.attempts_by_delivery(page.object_list)
    return render(
        request,
        "webhooks/webhook_detail.html",
        {
            "webhook": webhook,
            "page": page,
            "rows": [(d, attempts.get(d.pk, [])) for d in page.object_list],
            "status": status,
            "statuses": WebhookDelivery.Status.choices,
            "extra_query": f"status={status}&" if status else "",
        },
    )


@require_http_methods(["GET", "POST"])
@require_perms(VIEW, "webhooks.change_webhook")
def webhook_edit(request: HttpRequest, webhook_id: str) -> HttpResponse:
    """Who: admins.  Checking Active on a disabled webhook turns it on again."""
    webhook = queries.webhook_get(webhook_id)
    initial = {
        "url": webhook.url,
        "events": webhook.events,
        "description": webhook.description,
        "active": webhook.active,
    }
    form = WebhookForm(request.POST or None, initial=initial)
    status = 200
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            actions.webhook_update(
                webhook=webhook,
                url=data["url"],
                events=data["events"],
                description=data["description"],
                active=data["active"],
                actor=Actor.for_request(request),
            )
        except DomainError as exc:
            status = add_domain_error(form, exc)
        else:
            messages.success(request, "Webhook saved.")
            return redirect("webhooks:detail", webhook_id=webhook.public_id)
    elif request.method == "POST":
        status = 400
    return render(
        request, "webhooks/webhook_form.html", {"form": form, "webhook": webhook}, status=status
    )


@require_http_methods(["GET", "POST"])
@require_perms(VIEW, "webhooks.delete_webhook")
def webhook_delete(request: HttpRequest, webhook_id: str) -> HttpResponse:
    """Who: admins.  GET says what goes (its deliveries and their log); POST deletes."""
    webhook = queries.webhook_get(webhook_id)
    if request.method == "POST":
        actions.webhook_delete(webhook=webhook, actor=Actor.for_request(request))
        messages.success(request, f"Webhook {webhook.public_id} deleted.")
        return redirect("webhooks:list")
    return render(
        request,
        "webhooks/webhook_confirm_delete.html",
        {
            "webhook": webhook,
            "delivery_count": webhook.deliveries.count(),
            "pending_count": webhook.deliveries.filter(status="pending").count(),
        },
    )


@never_cache
@require_http_methods(["GET", "POST"])
@require_perms(VIEW, "webhooks.change_webhook")
def webhook_roll_secret(request: HttpRequest, webhook_id: str) -> HttpResponse:
    """Who: admins.  GET explains; POST makes a new secret and shows it, once."""
    webhook = queries.webhook_get(webhook_id)
    if request.method == "POST":
        secret = actions.webhook_roll_secret(webhook=webhook, actor=Actor.for_request(request))
        return _secret_page(request, webhook, secret, rolled=True)
    return render(
        request,
        "webhooks/webhook_roll_secret.html",
        {
            "webhook": webhook,
            "grace_hours": int(actions.ROLLED_SECRET_VALID.total_seconds() // 3600),
        },
    )


@require_POST
@require_perms(VIEW, "webhooks.change_webhook")
def delivery_redeliver(request: HttpRequest, webhook_id: str, delivery_id: str) -> HttpResponse:
    """Who: admins.  Sends the same event again (same id and body) as a new delivery."""
    webhook = queries.webhook_get(webhook_id)
    delivery = queries.delivery_get(delivery_id, webhook=webhook)
    try:
        again = actions.delivery_redeliver(delivery=delivery, actor=Actor.for_request(request))
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        again.refresh_from_db()
        messages.success(
            request,
            f"Event {delivery.event.public_id} redelivered as {again.public_id}: "
            f"{again.get_status_display().lower()}.",
        )
    return redirect("webhooks:detail", webhook_id=webhook.public_id)
