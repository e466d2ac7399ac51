"""The Balances section: cards, New balance, Edit, Delete, History."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from approvals.models import ApprovalRequest
from approvals.policy import manual_change_limits, rules_for
from balances import actions, history_queries, queries
from balances.actions.balance import deletion_blockers
from balances.forms import (
    BalanceCreateForm,
    BalanceDeleteForm,
    BalanceEditForm,
    HistoryFilterForm,
)
from balances.history.charts import balances_page_charts
from balances.history.series import window_days
from balances.history.views import balances_as_of_page
from balances.models import Balance
from core.actors import Actor
from core.csvexport import csv_response, wants_csv
from core.errors import DomainError, NotFound, StaleVersion, ValidationFailed
from core.forms import add_domain_error
from core.keyset import parse_cursor
from core.money import currencies
from core.permissions import require_perms
from services.models import Service
from services.queries import service_get


def _waiting_for_approval(request: HttpRequest, approval: ApprovalRequest) -> HttpResponse:
    """The change needs a second person: say so, and show the request it became."""
    what = "deletion" if approval.kind == ApprovalRequest.Kind.BALANCE_DELETE else "change"
    messages.warning(
        request,
        f"Waiting for approval: the {approval.currency} balance {what} was not applied yet; "
        f"a second person must approve request {approval.public_id}.",
    )
    return redirect("approvals:detail", approval_id=approval.public_id)


@require_perms("services.view_service", "balances.view_balance")
def balance_list(request: HttpRequest, service_id: str) -> HttpResponse:
    """Who: viewer and above; New balance / Edit / Delete / Update balances only for those
    who may use them.  Query count does not depend on the number of balances.
    ``?as_of=``: the cards of that moment, read-only (balances/history)."""
    service = queries.service_with_last_run(service_id)
    if "as_of" in request.GET:
        return balances_as_of_page(request, service)
    context = queries.balances_page_context(service)
    template = "balances/balance_list.html"
    if request.htmx and request.GET.get("fragment") == "cards":
        template = "balances/partials/cards.html"
    elif request.user.has_perm("balances.view_balancechange"):
        # The charts show the history (who changed what): for those who may read it.  They
        # load in a request of their own (balance_charts), the window chosen kept.
        days = request.GET.get("days")
        context["charts_query"] = f"days={window_days(days)}" if days else ""
    return render(request, template, {"service": service, **context})


@require_GET
@require_perms("services.view_service", "balances.view_balancechange")
def balance_charts(request: HttpRequest, service_id: str) -> HttpResponse:
    """Who: those who may read the history (viewer and above).  The balances page's charts
    (``?days=`` 7, 30 or 90): the section alone for htmx, which the balances page loads in
    place; a page of its own otherwise (the page's link without JavaScript).  Queries: the
    service, then 2 (balances_page_charts) whatever the number of currencies."""
    service = service_get(service_id)
    context = {"service": service, **balances_page_charts(service, request.GET)}
    if request.htmx:
        return render(request, "balances/partials/balance_charts.html", context)
    return render(request, "balances/balance_charts.html", context)


@require_http_methods(["GET", "POST"])
@require_perms("services.view_service", "balances.add_balance")
def balance_add(request: HttpRequest, service_id: str) -> HttpResponse:
    """Who: operator and above."""
    service = service_get(service_id)
    existing = set(service.balances.values_list("currency", flat=True))
    limits = manual_change_limits()
    form = BalanceCreateForm(request.POST or None, existing=existing, limits=limits)
    if request.method == "POST" and form.is_valid():
        try:
            balance, approval = actions.balance_create_or_request(
                service=service,
                currency=form.cleaned_data["currency"],
                amount=form.cleaned_data["amount"],
                actor=Actor.for_request(request),
                reason="Opening amount",
            )
        except DomainError as exc:
            add_domain_error(form, exc)
        else:
            code = balance.currency
            shown = currencies.format_amount(balance.available, code)
            if approval is not None:
                asked = currencies.format_amount(approval.proposed_value, code)
                messages.warning(
                    request,
                    f"Waiting for approval: the {code} balance was created with {shown}; its "
                    f"opening amount of {asked} {code} is above the approval limit, and a "
                    f"second person must approve request {approval.public_id}.",
                )
                return redirect("approvals:detail", approval_id=approval.public_id)
            messages.success(request, f"{code} balance created with {shown}.")
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
    limit = rules_for(balance.currency).manual_change_above
    form = BalanceEditForm(
        request.POST or None, initial=initial, currency=balance.currency, limit=limit
    )
    conflict = False  # refused by the state of the balance (409), e.g. below the holds
    if request.method == "POST" and form.is_valid():
        try:
            updated = actions.balance_update_or_request(
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
            form = BalanceEditForm(data, currency=balance.currency, limit=limit)
            form.is_valid()
            form.add_error(None, exc.message)
        except DomainError as exc:
            conflict = add_domain_error(form, exc) == 409
        else:
            if isinstance(updated, ApprovalRequest):
                return _waiting_for_approval(request, updated)
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
                approval = actions.balance_delete_or_request(
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
                if approval is not None:
                    return _waiting_for_approval(request, approval)
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
    balance, _changes = queries.currency_history(service=service, currency=code)
    return _history(request, service=service, currency=code, balance=balance)


@require_perms("services.view_service", "balances.view_balancechange")
def service_balance_history(request: HttpRequest, service_id: str) -> HttpResponse:
    """Who: viewer and above.  Every balance change of the service, deleted balances too."""
    service = service_get(service_id)
    return _history(request, service=service, currency=None, balance=None)


def _history(
    request: HttpRequest, *, service: Service, currency: str | None, balance: Balance | None
) -> HttpResponse:
    """The history page, filtered, one keyset page at a time; ``?format=csv`` exports every
    matching change (the filters carried, the cursor ignored).  Bad filters or a bad cursor:
    the form's errors and a 400, never a 500."""
    form = HistoryFilterForm(request.GET, with_currency=currency is None)
    page = None
    if form.is_valid():
        qs = history_queries.filtered_history(
            service=service, currency=currency, filters=form.cleaned_data
        )
        if wants_csv(request):
            stem = f"{service.public_id}-{currency or 'all'}-history"
            return csv_response(
                history_queries.CSV_HEADER,
                history_queries.csv_rows(qs, service=service),
                filename=stem,
            )
        try:
            cursor = parse_cursor(form.cleaned_data["cursor"], history_queries.CURSOR_SALT)
            page = history_queries.history_page(qs, cursor=cursor)
        except ValidationFailed as exc:
            form.add_error("cursor", exc.message)
    filters = urlencode(form.active_filters())
    return render(
        request,
        "balances/balance_history.html",
        {
            "service": service,
            "currency": currency,
            "balance": balance,
            "form": form,
            "page": page,
            "rows": history_queries.history_rows(page.rows) if page else [],
            "filters": filters,
        },
        status=400 if form.errors else 200,
    )
