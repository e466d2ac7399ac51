"""The Payouts section of a service: list, New payout (with a preview), detail, transitions."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from approvals.queries import approval_for_payout
from balances.queries import balance_cards
from core.actors import Actor
from core.csvexport import csv_response, wants_csv
from core.errors import DomainError
from core.forms import add_domain_error
from core.money import currencies
from core.permissions import require_perms
from payouts import actions, queries
from payouts.exports import PAYOUT_HEADER, payout_rows
from payouts.forms import PayoutFilterForm, PayoutForm, PayoutTransitionForm
from services.queries import service_get

PAGE_SIZE = 25
VERB_LABELS = {
    "process": ("Start processing", "The payout goes to processing; its funds stay on hold."),
    "pay": (
        "Mark paid",
        "The hold ends and the balance's available amount is debited by amount + fee.",
    ),
    "fail": ("Mark failed", "The hold ends; the balance is not changed."),
    "cancel": ("Cancel payout", "The hold ends; the balance is not changed."),
}


@require_perms("services.view_service", "payouts.view_payout")
def payout_list(request: HttpRequest, service_id: str) -> HttpResponse:
    """Who: viewer and above; New payout for operators.  Newest first, 25 a page;
    ``?format=csv`` (Download CSV) answers every payout the filters select."""
    service = service_get(service_id)
    cards = balance_cards(service)
    codes = sorted(
        set(queries.payout_currencies(service_id=service.pk))
        | {card.balance.currency for card in cards}
    )
    filters = PayoutFilterForm(request.GET or None, currency_codes=codes)
    chosen = filters.filters()
    payouts = queries.payouts_for_service(service_id=service.pk, **chosen)
    if wants_csv(request):  # Download CSV: every row the filters select, not one page
        return csv_response(
            PAYOUT_HEADER, payout_rows(payouts), filename=f"payouts-{service.public_id}"
        )
    page = Paginator(payouts, PAGE_SIZE).get_page(request.GET.get("page"))
    extra = urlencode({k: v for k, v in chosen.items() if v})
    return render(
        request,
        "payouts/payout_list.html",
        {
            "service": service,
            "page": page,
            "filters": filters,
            "chosen": chosen,
            "extra_query": f"{extra}&" if extra else "",
            "cards": cards,
        },
    )


def _balance_codes(service) -> list[str]:
    """What New payout can pay out from: the service's balances."""
    return list(service.balances.order_by("currency").values_list("currency", flat=True))


def _previewed_token(preview: queries.PayoutPreview) -> str:
    """What the operator saw: Confirm only creates the payout previewed, never another."""
    code = preview.currency
    return "|".join(
        [
            code,
            currencies.plain_amount(preview.amount, code),
            currencies.plain_amount(preview.fee, code),
        ]
    )


def _preview_for(service, form: PayoutForm) -> queries.PayoutPreview | None:
    amount = form.amount_value
    if amount is None or amount <= 0:
        return None
    return queries.payout_preview(
        service=service, currency=form.cleaned_data["currency"], amount=amount
    )


@require_http_methods(["GET", "POST"])
@require_perms("services.view_service", "payouts.add_payout")
def payout_add(request: HttpRequest, service_id: str) -> HttpResponse:
    """Who: operator and above.  Two steps: Preview shows the fee and the total, Confirm
    creates the payout, provided the figures confirmed are still the ones previewed."""
    service = service_get(service_id)
    codes = _balance_codes(service)
    form = PayoutForm(request.POST or None, currency_codes=codes)
    preview = None
    status = 200
    if request.method == "POST" and form.is_valid():
        preview = _preview_for(service, form)
        token = request.POST.get("previewed", "")
        if "confirm" in request.POST and preview is not None and token == _previewed_token(preview):
            try:
                payout, created = actions.payout_create(
                    service=service,
                    currency=form.cleaned_data["currency"],
                    amount=form.cleaned_data["amount"],
                    destination=form.cleaned_data["destination"],
                    idempotency_key=form.cleaned_data["idempotency_key"] or None,
                    # Refused if the fee moved since it was shown (a rule edited meanwhile).
                    expected_fee=preview.fee,
                    actor=Actor.for_request(request),
                )
            except DomainError as exc:
                add_domain_error(form, exc)
                preview = _preview_for(service, form)
                status = exc.http_status
            else:
                total = currencies.format_amount(payout.total, payout.currency)
                if payout.status == payout.Status.AWAITING_APPROVAL:
                    messages.warning(
                        request,
                        f"Payout {payout.public_id} is waiting for approval: {total} "
                        f"{payout.currency} on hold until a second person approves or rejects it.",
                    )
                elif created:
                    messages.success(
                        request,
                        f"Payout {payout.public_id} created: {total} {payout.currency} on hold.",
                    )
                else:
                    messages.info(request, f"Payout {payout.public_id} was already created.")
                return redirect(
                    "payouts:detail", service_id=service.public_id, payout_id=payout.public_id
                )
        elif "confirm" in request.POST:
            messages.warning(
                request, "The figures changed since the preview; review and confirm again."
            )
    elif request.method == "POST":
        status = 400
    return render(
        request,
        "payouts/payout_form.html",
        {
            "service": service,
            "form": form,
            "preview": preview,
            "previewed": _previewed_token(preview) if preview else "",
            "has_balances": bool(codes),
        },
        status=status,
    )


@require_POST
@require_perms("services.view_service", "payouts.add_payout")
def payout_preview(request: HttpRequest, service_id: str) -> HttpResponse:
    """Who: operator and above.  The preview fragment New payout refreshes (htmx) as the
    operator types; nothing is written."""
    service = service_get(service_id)
    codes = _balance_codes(service)
    form = PayoutForm(request.POST, currency_codes=codes)
    preview = _preview_for(service, form) if form.is_valid() else None
    return render(
        request,
        "payouts/partials/preview.html",
        {
            "service": service,
            "form": form,
            "preview": preview,
            "previewed": _previewed_token(preview) if preview else "",
        },
    )


@require_perms("services.view_service", "payouts.view_payout")
def payout_detail(request: HttpRequest, service_id: str, payout_id: str) -> HttpResponse:
    """Who: viewer and above; the actions its state allows for operators."""
    service = service_get(service_id)
    payout = queries.payout_get(payout_id, service_id=service.pk)
    return render(
        request,
        "payouts/payout_detail.html",
        {
            "service": service,
            "payout": payout,
            "events": queries.payout_with_events(payout),
            "verbs": [(v, VERB_LABELS[v][0]) for v in actions.actions_allowed(payout)],
            "approval": approval_for_payout(payout.public_id)
            if payout.status == payout.Status.AWAITING_APPROVAL
            else None,
        },
    )


@require_http_methods(["GET", "POST"])
@require_perms("services.view_service", "payouts.change_payout")
def payout_action(request: HttpRequest, service_id: str, payout_id: str, verb: str) -> HttpResponse:
    """Who: operator and above.  GET says what the transition does; POST does it."""
    if verb not in actions.ACTIONS:
        raise Http404("No such payout action.")
    service = service_get(service_id)
    payout = queries.payout_get(payout_id, service_id=service.pk)
    form = PayoutTransitionForm(request.POST or None, initial={"version": payout.version})
    error = ""
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            payout = actions.payout_transition(
                payout=payout,
                to_status=actions.ACTIONS[verb],
                actor=Actor.for_request(request),
                reason=form.cleaned_data["reason"],
                expected_version=form.cleaned_data["version"],
            )
        except DomainError as exc:
            error, status = exc.message, exc.http_status
            payout.refresh_from_db()
            # Offer the decision again from what the payout is now.
            form = PayoutTransitionForm(
                initial={"version": payout.version, "reason": form.cleaned_data["reason"]}
            )
        else:
            messages.success(request, f"Payout {payout.public_id} is now {payout.status}.")
            return redirect(
                "payouts:detail", service_id=service.public_id, payout_id=payout.public_id
            )
    elif request.method == "POST":
        status = 400
    allowed = verb in actions.actions_allowed(payout)
    if not allowed and status == 200:
        status = 409  # the page explains why; nothing to confirm
    label, effect = VERB_LABELS[verb]
    return render(
        request,
        "payouts/payout_action.html",
        {
            "service": service,
            "payout": payout,
            "verb": verb,
            "label": label,
            "effect": effect,
            "form": form,
            "error": error,
            "allowed": allowed,
        },
        status=status,
    )
