"""Pages: a service's balances as of a moment (read-only cards), and the CSV download of
balances across services (called by the page that lists them)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, QueryDict, StreamingHttpResponse
from django.shortcuts import render

from balances.history import asof
from balances.history.export import BalanceFilters, balances_csv_response
from balances.history.forms import AsOfForm, ExportForm
from core.money import currencies
from services.models import Service


def balances_as_of_page(request: HttpRequest, service: Service) -> HttpResponse:
    """The service's cards as they were at ``?as_of=``, read-only (no New balance, Edit,
    Delete, payout or sync actions).  Queries: the balances of then (one statement).  A bad
    moment: the picker with its error, 400."""
    form = AsOfForm(request.GET)
    cards = []
    moment = None
    if form.is_valid():
        moment = form.cleaned_data["as_of"]
        cards = [
            {"balance": b, "info": currencies.get(b.currency)}
            for b in asof.balances_as_of(service, moment)
        ]
    return render(
        request,
        "balances/balance_list_as_of.html",
        {
            "service": service,
            "form": form,
            "as_of": moment,
            "as_of_label": asof.moment_label(moment) if moment else "",
            "as_of_value": asof.local_input_value(moment) if moment else form["as_of"].value(),
            "cards": cards,
        },
        status=200 if moment else 400,
    )


def export_form(query: QueryDict, *, figure: str, wanted: bool) -> ExportForm:
    """The download form of the page of balances across services (bound when a download
    was asked for)."""
    return ExportForm(query if wanted else None, figure=figure)


def balances_export(
    form: ExportForm, *, currency: str, figure: str
) -> StreamingHttpResponse | None:
    """The CSV download when ``form`` (bound, see ``export_form``) is valid; None otherwise
    (the page shows the form's error)."""
    if not form.is_bound or not form.is_valid():
        return None
    filters = BalanceFilters(currency=currency, figure=figure, as_of=form.cleaned_data["as_of"])
    return balances_csv_response(filters)
