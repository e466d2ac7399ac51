from __future__ import annotations

from urllib.parse import quote

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from core.actors import Actor
from core.errors import DomainError
from core.forms import add_domain_error
from core.permissions import require_perms
from services import actions, queries
from services.forms import ServiceForm, ServiceSearchForm
from services.models import AuditEntry, Service

PAGE_SIZE = 25


@require_perms("services.view_service")
def service_list(request: HttpRequest) -> HttpResponse:
    """Who: any signed-in user with the viewer role or above."""
    search = ServiceSearchForm(request.GET or None)
    term = search.cleaned_data["q"] if search.is_valid() else ""
    page = Paginator(queries.services_for_list(search=term), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "services/service_list.html",
        {
            "page": page,
            "search": search,
            "term": term,
            # The pages keep the search (partials/pagination.html).
            "extra_query": f"q={quote(term)}&" if term else "",
        },
    )


@require_perms("services.view_service")
def service_detail(request: HttpRequest, service_id: str) -> HttpResponse:
    """Who: viewer and above; the provider connection's secrets are never shown.  The
    balances and the provider section come from balances' template tags."""
    service = queries.service_get(service_id)
    # Delete is shown disabled with the reason where the action would refuse it (two counts,
    # only for those who may delete).
    may_delete = request.user.has_perm("services.delete_service")
    return render(
        request,
        "services/service_detail.html",
        {
            "service": service,
            "audit": AuditEntry.objects.filter(service=service)[:5],
            "delete_blockers": actions.deletion_blockers(service) if may_delete else [],
        },
    )


@require_http_methods(["GET", "POST"])
@require_perms("services.add_service")
def service_add(request: HttpRequest) -> HttpResponse:
    """Who: admin role."""
    return _service_form_page(request, None)


@require_http_methods(["GET", "POST"])
@require_perms("services.change_service")
def service_edit(request: HttpRequest, service_id: str) -> HttpResponse:
    """Who: admin role."""
    return _service_form_page(request, queries.service_get(service_id))


def _service_form_page(request: HttpRequest, service: Service | None) -> HttpResponse:
    initial = None
    if service is not None:
        initial = {"name": service.name, "country": service.country, "status": service.status}
    form = ServiceForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        actor = Actor.for_request(request)
        try:
            if service is None:
                saved = actions.service_create(actor=actor, **form.cleaned_data)
                done = f"Service {saved.name} created ({saved.public_id})."
            else:
                saved = actions.service_update(service=service, actor=actor, **form.cleaned_data)
                done = f"Service {saved.public_id} saved."
        except DomainError as exc:
            add_domain_error(form, exc)
        else:
            messages.success(request, done)
            return redirect("services:detail", service_id=saved.public_id)
    return render(request, "services/service_form.html", {"form": form, "service": service})


@require_http_methods(["GET", "POST"])
@require_perms("services.delete_service")
def service_delete(request: HttpRequest, service_id: str) -> HttpResponse:
    """Who: admin role.  GET shows what will go; POST deletes."""
    service = queries.service_get(service_id)
    blockers = actions.deletion_blockers(service)
    if request.method == "POST" and not blockers:
        try:
            actions.service_delete(service=service, actor=Actor.for_request(request))
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"Service {service.name} ({service.public_id}) deleted.")
            return redirect("services:list")
    return render(
        request,
        "services/service_confirm_delete.html",
        {"service": service, "blockers": blockers},
        status=409 if request.method == "POST" and blockers else 200,
    )


@require_perms("services.view_service", "services.view_auditentry")
def service_history(request: HttpRequest, service_id: str) -> HttpResponse:
    """Who: viewer and above.  Changes to the service and its provider connection."""
    service = queries.service_get(service_id)
    page = Paginator(
        AuditEntry.objects.filter(service=service).select_related("actor_user"), 50
    ).get_page(request.GET.get("page"))
    return render(request, "services/service_history.html", {"service": service, "page": page})
