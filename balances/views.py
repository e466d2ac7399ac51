"""The Balances section: cards, New balance, Edit, Delete, History."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from balances import actions, queries
from balances.actions.balance import deletion_blockers
from balances.forms import (
    BalanceCreateForm,
    BalanceDeleteForm,
    BalanceEditForm,
)
from core.actors import Actor
from core.errors import DomainError, NotFound, StaleVersion
from core.forms import add_domain_error
from core.money import currencies
from core.permissions import require_perms
from services.queries import service_get


@require_perms("services.view_service", "balances.view_balance")
def balance_list(request: HttpRequest, service_id: str) -> HttpResponse:
    """Who: viewer and above; New balance / Edit / Delete / Update balances only for those
    who may use them.  Query count does not depend on the number of balances."""
    service = service_get(service_id)
    context = queries.balances_page_context(service)
    template = "balances/balance_list.html"
    if request.htmx and request.GET.get("fragment") == "cards":
        template = "balances/partials/cards.html"
    return render(request, template, {"service": service, **context})


@require_http_methods(["GET", "POST"])
@require_perms("services.view_service", "balances.add_balance")
def balance_add(request: HttpRequest, service_id: str) -> HttpResponse:
    """Who: operator and above."""
    service = service_get(service_id)
    existing = set(service.balances.values_list("currency", flat=True))
    form = BalanceCreateForm(request.POST or None, existing=existing)
    if request.method == "POST" and form.is_valid():
        try:
            balance = actions.balance_create(
                service=service,
                currency=form.cleaned_data["currency"],
                amount=form.cleaned_data["amount"],
                actor=Actor.for_request(request),
                reason="Opening amount",
            )
        except DomainError as exc:
            add_domain_error(form, exc)
        else:
            shown = currencies.format_amount(balance.available, balance.currency)
            messages.success(request, f"{balance.currency} balance created with {shown}.")
            return redirect("balances:list", service_id=service.public_id)
    return render(
        request,
        "balances/balance_form.html",
        {"service": service, "form": form, "mode": "add"},
        status=400 if form.errors else 200,
    )


@require_http_methods(["GET", "POST"])
@require_perms("services.view_service", "balances.change_balance")
def balance_edit(request: HttpRequest, service_id: str, currency: str) -> HttpResponse:
    """Who: operator and above.  The form carries the version it was opened at."""
    service = service_get(service_id)
    balance = queries.balance_get(service, currency)
    initial = {
        "amount": currencies.plain_amount(balance.available, balance.currency),
        "version": balance.version,
    }
    form = BalanceEditForm(request.POST or None, initial=initial, currency=balance.currency)
    conflict = False  # refused by the state of the balance (409), e.g. below the holds
    if request.method == "POST" and form.is_valid():
        try:
            updated = actions.balance_update(
                service=service,
                currency=balance.currency,
                amount=form.cleaned_data["amount"],
                expected_version=form.cleaned_data["version"],
                actor=Actor.for_request(request),
                reason=form.cleaned_data["reason"],
            )
        except StaleVersion as exc:
            # Show what it is now and let the operator decide again from there.
            balance = exc.current
            data = request.POST.copy()
            data["version"] = str(balance.version)
            form = BalanceEditForm(data, currency=balance.currency)
            form.is_valid()
            form.add_error(None, exc.message)
        except DomainError as exc:
            conflict = add_domain_error(form, exc) == 409
        else:
            shown = currencies.format_amount(updated.available, updated.currency)
            if updated.version == form.cleaned_data["version"]:
                messages.info(request, f"{updated.currency} balance unchanged ({shown}).")
            else:
                messages.success(request, f"{updated.currency} balance set to {shown}.")
            return redirect("balances:list", service_id=service.public_id)
    return render(
        request,
        "balances/balance_form.html",
        {"service": service, "form": form, "balance": balance, "mode": "edit"},
        status=409 if conflict or form.non_field_errors() else 400 if form.errors else 200,
    )


@require_http_methods(["GET", "POST"])
@require_perms("services.view_service", "balances.delete_balance")
def balance_delete(request: HttpRequest, service_id: str, currency: str) -> HttpResponse:
    """Who: operator and above.  GET names what goes; POST deletes."""
    service = service_get(service_id)
    balance = queries.balance_get(service, currency)
    blockers = deletion_blockers(balance)
    error = None
    if request.method == "POST":
        form = BalanceDeleteForm(request.POST)
        if not blockers and form.is_valid():
            try:
                actions.balance_delete(
                    service=service,
                    currency=balance.currency,
                    expected_version=form.cleaned_data["version"],
                    actor=Actor.for_request(request),
                    reason=form.cleaned_data.get("reason", ""),
                )
            except NotFound:
                # Deleted meanwhile (a double click, or another operator): the goal is met.
                messages.info(request, f"The {balance.currency} balance was already deleted.")
                return redirect("balances:list", service_id=service.public_id)
            except DomainError as exc:
                error = exc.message
                balance.refresh_from_db()
            else:
                messages.success(request, f"{balance.currency} balance deleted.")
                return redirect("balances:list", service_id=service.public_id)
        elif not blockers:
            error = "The confirmation was incomplete; confirm again."
    return render(
        request,
        "balances/balance_confirm_delete.html",
        {"service": service, "balance": balance, "blockers": blockers, "error": error},
        status=409 if request.method == "POST" and (blockers or error) else 200,
    )


@require_perms("services.view_service", "balances.view_balancechange")
def balance_history(request: HttpRequest, service_id: str, currency: str) -> HttpResponse:
    """Who: viewer and above.  Readable after the balance is deleted."""
    service = service_get(service_id)
    code = currencies.normalise_code(currency)
    balance, changes = queries.currency_history(service=service, currency=code)
    page = Paginator(changes, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "balances/balance_history.html",
        {"service": service, "currency": code, "balance": balance, "page": page},
    )


@require_perms("services.view_service", "balances.view_balancechange")
def service_balance_history(request: HttpRequest, service_id: str) -> HttpResponse:
    """Who: viewer and above.  Every balance change of the service, deleted balances too."""
    service = service_get(service_id)
    page = Paginator(queries.history(service=service), 50).get_page(request.GET.get("page"))
    return render(
        request,
        "balances/balance_history.html",
        {"service": service, "currency": None, "balance": None, "page": page},
    )
