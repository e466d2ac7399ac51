"""The service's payment provider connection: edit, Test connection, disconnect, resume."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from balances.connections import actions as connection_actions
from balances.connections.forms import ConnectionForm
from balances.connections.queries import stored_credential_names
from balances.providers.base import ProviderError, provider_label
from balances.sync.failures import FETCH, PREVIEW, InternalFailure, log_unexpected
from balances.sync.held import protection_start
from balances.sync.plan import plan_snapshot
from core.actors import Actor
from core.errors import DomainError
from core.permissions import require_perms
from services.queries import service_get


def _render(request, service, form, *, preview=None, preview_error=None, status=200):
    connection = service.provider_connection_or_none
    return render(
        request,
        "balances/connections/connection_form.html",
        {
            "service": service,
            "connection": connection,
            "form": form,
            "credentials_set": stored_credential_names(connection),
            "preview": preview,
            "preview_error": preview_error,
        },
        status=status,
    )


@require_http_methods(["GET", "POST"])
@require_perms("services.view_service", "services.change_providerconnection")
def connection_edit(request: HttpRequest, service_id: str) -> HttpResponse:
    """Who: admin role.  Secrets are never rendered back; blank keeps the stored one."""
    service = service_get(service_id)
    connection = service.provider_connection_or_none
    form = ConnectionForm(request.POST or None, initial=ConnectionForm.initial_for(connection))
    if request.method == "POST" and form.is_valid():
        try:
            connection_actions.connection_save(
                service=service, actor=Actor.for_request(request), **form.payload()
            )
        except DomainError as exc:
            form.add_error(form.field_for(exc.field, form.cleaned_data["kind"]), exc.message)
        else:
            messages.success(request, "Provider connection saved.")
            return redirect("services:detail", service_id=service.public_id)
    return _render(request, service, form, status=400 if form.errors else 200)


@require_POST
@require_perms("services.view_service", "services.change_providerconnection")
def connection_test(request: HttpRequest, service_id: str) -> HttpResponse:
    """Who: admin role.  Fetches once with the form's settings (stored secrets where blank,
    if still bound to this kind and base URL) and shows what a sync would change; writes
    nothing but the audit entry of the test."""
    service = service_get(service_id)
    form = ConnectionForm(request.POST)
    if not form.is_valid():
        return _render(request, service, form, status=400)
    payload = form.payload()
    try:
        snapshot = connection_actions.connection_test(
            service=service,
            actor=Actor.for_request(request),
            kind=payload["kind"],
            base_url=payload["base_url"],
            credentials=payload["credentials"],
            options=payload["options"],
        )
    except DomainError as exc:
        form.add_error(form.field_for(exc.field, payload["kind"]), exc.message)
        return _render(request, service, form, status=400)
    except ProviderError as exc:
        return _render(request, service, form, preview_error=exc)
    except Exception as exc:  # a bug or a strange answer: said on the page, never a 500
        return _render(request, service, form, preview_error=_unexpected(exc, FETCH))
    try:
        plan = plan_snapshot(
            balances=list(service.balances.order_by("currency")),
            snapshot=snapshot,
            provider_label=provider_label(payload["kind"]),
            create_missing=payload["create_missing_balances"],
            protect_since=protection_start(timezone.now()),
        )
    except Exception as exc:
        return _render(request, service, form, preview_error=_unexpected(exc, PREVIEW))
    return _render(request, service, form, preview=plan)


def _unexpected(exc: Exception, step: str) -> InternalFailure:
    failure = InternalFailure.of(exc, step)
    log_unexpected("Test connection", failure, exc)
    return failure


@require_http_methods(["GET", "POST"])
@require_perms("services.view_service", "services.delete_providerconnection")
def connection_delete(request: HttpRequest, service_id: str) -> HttpResponse:
    """Who: admin role.  Balances stay; they are no longer updated from the provider."""
    service = service_get(service_id)
    connection = service.provider_connection_or_none
    if connection is None:
        messages.info(request, "This service has no provider connection.")
        return redirect("services:detail", service_id=service.public_id)
    if request.method == "POST":
        try:
            connection_actions.connection_delete(service=service, actor=Actor.for_request(request))
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"{provider_label(connection.kind)} disconnected.")
        return redirect("services:detail", service_id=service.public_id)
    return render(
        request,
        "balances/connections/connection_confirm_delete.html",
        {"service": service, "connection": connection},
    )


@require_POST
@require_perms("services.view_service", "balances.sync_balances")
def connection_resume(request: HttpRequest, service_id: str) -> HttpResponse:
    """Who: operator and above.  Un-pauses scheduled updates."""
    service = service_get(service_id)
    try:
        connection_actions.connection_resume(service=service, actor=Actor.for_request(request))
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Scheduled updates resumed.")
    return redirect("balances:list", service_id=service.public_id)
