"""The overview (the landing page) and the lists across services it leads to: balances
behind a total, sync runs, payouts waiting on someone (with bulk actions)."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from alerts.overview import actions, queries
from alerts.overview.forms import (
    VERB_LABELS,
    AttentionFilterForm,
    BalanceFilterForm,
    BulkPayoutForm,
    PayoutFilterForm,
    SyncRunFilterForm,
)
from balances.history.charts import overview_charts
from balances.history.views import balances_export, export_form
from balances.sync_exports import SYNC_RUN_HEADER, sync_run_rows
from core.actors import Actor
from core.csvexport import csv_response, wants_csv
from core.errors import DomainError
from core.permissions import require_perms
from payouts.actions import actions_allowed
from payouts.exports import PAYOUT_HEADER, payout_rows

VIEW_BALANCES = ("services.view_service", "balances.view_balance")
ATTENTION_PAGE_SIZE = 50
PAGE_SIZE = 50


def _extra_query(chosen: dict) -> str:
    """The filters, for the pagination links (partials/pagination.html)."""
    text = urlencode({k: v for k, v in chosen.items() if v})
    return f"{text}&" if text else ""


@require_GET
@require_perms(*VIEW_BALANCES)
def overview(request: HttpRequest) -> HttpResponse:
    """Who: viewer and above.  Totals per currency and what needs attention; open alerts
    are listed for those who may see alerts."""
    totals = queries.currency_totals()
    filters = AttentionFilterForm(
        request.GET or None,
        currency_codes=[t.currency for t in totals],
        countries=queries.service_countries(),
    )
    chosen = filters.filters()
    rows = queries.attention_rows(
        filters=filters.chosen(), include_alerts=request.user.has_perm("alerts.view_alert")
    )
    page = Paginator(rows, ATTENTION_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "alerts/overview/overview.html",
        {
            "nav_section": "overview",
            "tab": "overview",
            "totals": totals,
            "filters": filters,
            "chosen": chosen,
            "filtered": any(chosen.values()),
            "page": page,
            "extra_query": _extra_query(chosen),
            # The totals over time (?days=7, 30 or 90): one more query (balances/history).
            **overview_charts(totals, request.GET),
        },
    )


@require_GET
@require_perms(*VIEW_BALANCES)
def balance_list(request: HttpRequest) -> HttpResponse:
    """Who: viewer and above.  The balances behind a total: every service's balances in a
    currency, optionally only those where a figure is not zero.  ``?format=csv`` (Download
    CSV) streams every balance the filters select, now or ``as_of`` a moment."""
    filters = BalanceFilterForm(request.GET or None, currency_codes=queries.balance_currencies())
    chosen = filters.filters()
    download = export_form(request.GET, figure=chosen["figure"], wanted=wants_csv(request))
    exported = balances_export(download, currency=chosen["currency"], figure=chosen["figure"])
    if exported is not None:
        return exported
    balances = queries.balances_across(**chosen)
    page = Paginator(balances, PAGE_SIZE).get_page(request.GET.get("page"))
    total = queries.total_of(balances, chosen["currency"]) if chosen["currency"] else None
    return render(
        request,
        "alerts/overview/balance_list.html",
        {
            "nav_section": "overview",
            "tab": "balances",
            "filters": filters,
            "chosen": chosen,
            "figure_label": queries.FIGURES.get(chosen["figure"], ""),
            "page": page,
            "total": total,
            "extra_query": _extra_query(chosen),
            "download": download,
        },
        status=400 if download.errors else 200,
    )


@require_GET
@require_perms("services.view_service", "balances.view_syncrun")
def sync_run_list(request: HttpRequest) -> HttpResponse:
    """Who: viewer and above.  Every service's sync runs, newest first; ``?format=csv``
    (Download CSV) answers every run the filters select."""
    filters = SyncRunFilterForm(request.GET or None)
    chosen = filters.filters()
    runs = queries.sync_runs_across(**chosen)
    if wants_csv(request):  # Download CSV: every run the filters select, not one page
        return csv_response(SYNC_RUN_HEADER, sync_run_rows(runs), filename="sync-runs")
    page = Paginator(runs, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "alerts/overview/sync_run_list.html",
        {
            "nav_section": "overview",
            "tab": "sync_runs",
            "filters": filters,
            "chosen": chosen,
            "page": page,
            "extra_query": _extra_query(chosen),
        },
    )


@require_GET
@require_perms("services.view_service", "payouts.view_payout")
def payout_list(request: HttpRequest) -> HttpResponse:
    """Who: viewer and above; the actions (one by one or several at once) for operators.
    ``?format=csv`` (Download CSV) answers every payout the filters select, oldest first
    like the page."""
    codes, services = queries.payout_filter_choices()
    filters = PayoutFilterForm(request.GET or None, currency_codes=codes, services=services)
    chosen = filters.filters()
    payouts = queries.payouts_waiting(**chosen)
    if wants_csv(request):  # Download CSV: every payout waiting the filters select
        return csv_response(PAYOUT_HEADER, payout_rows(payouts), filename="payouts-waiting")
    page = Paginator(payouts, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [(p, [(v, VERB_LABELS[v]) for v in actions_allowed(p)]) for p in page.object_list]
    return render(
        request,
        "alerts/overview/payout_list.html",
        {
            "nav_section": "overview",
            "tab": "payouts",
            "filters": filters,
            "chosen": chosen,
            "page": page,
            "rows": rows,
            "bulk_form": BulkPayoutForm(initial=chosen),
            "extra_query": _extra_query(chosen),
        },
    )


@require_POST
@require_perms("services.view_service", "payouts.view_payout", "payouts.change_payout")
def payout_bulk(request: HttpRequest) -> HttpResponse:
    """Who: operator and above.  Applies one transition to each payout ticked, each on its
    own; says per payout what was done or why it was refused."""
    form = BulkPayoutForm(request.POST)
    if form.is_valid():
        try:
            outcomes = actions.payouts_bulk_transition(
                selections=form.cleaned_data["selections"],
                verb=form.cleaned_data["action"],
                actor=Actor.for_request(request),
                reason=form.cleaned_data["reason"],
            )
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            for outcome in outcomes:
                if outcome.done:
                    messages.success(request, outcome.message)
                else:
                    messages.error(request, f"{outcome.payout_id} refused: {outcome.message}")
    else:
        for name, errors in form.errors.items():
            field = form.fields.get(name)
            prefix = f"{field.label or name.capitalize()}: " if field is not None else ""
            for error in errors:
                messages.error(request, f"{prefix}{error}")
    back = form.back_query()
    url = reverse("overview:payouts")
    return redirect(f"{url}?{urlencode(back)}" if back else url)
