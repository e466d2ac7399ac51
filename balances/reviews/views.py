"""The review page of a balance whose sync was held back by a value set by hand."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from balances.models import BalanceReview
from balances.reviews import actions, queries
from balances.reviews.forms import ReviewDecisionForm
from core.actors import Actor
from core.errors import DomainError, NotFound
from core.money import currencies
from core.permissions import require_perms
from services.queries import service_get

DECIDE = "balances.change_balance"


@require_http_methods(["GET", "POST"])
@require_perms("services.view_service", "balances.view_balance")
def balance_review(request: HttpRequest, service_id: str, currency: str) -> HttpResponse:
    """Who: viewer and above see it; operators and above decide (POST).  404 when nothing
    waits; a refused decision (the balance moved, a newer review) re-renders with why."""
    service = service_get(service_id)
    code = currencies.normalise_code(currency)
    form = ReviewDecisionForm(request.POST or None)
    error, status = None, 200
    if request.method == "POST":
        if not request.user.has_perm(DECIDE):
            raise PermissionDenied
        if form.is_valid():
            try:
                review = actions.review_decide(
                    service=service,
                    currency=code,
                    decision=form.cleaned_data["decision"],
                    note=form.cleaned_data["note"],
                    review_id=form.cleaned_data["review"],
                    actor=Actor.for_request(request),
                )
            except DomainError as exc:
                error, status = exc.message, exc.http_status
            else:
                messages.success(request, _done(review))
                return redirect("balances:list", service_id=service.public_id)
        else:
            status = 400
    return _render(request, service, code, form, error, status)


def _render(
    request: HttpRequest,
    service,
    code: str,
    form: ReviewDecisionForm,
    error: str | None,
    status: int,
) -> HttpResponse:
    try:
        review = queries.review_get(service, code)
    except NotFound:
        if error is None:
            raise
        review = None  # decided or moved meanwhile: say why, with nothing left to decide
    context = {"service": service, "currency": code, "review": review, "form": form}
    if review is not None:
        context["protected_until"] = protected_until(review)
    return render(
        request, "balances/balance_review.html", {**context, "error": error}, status=status
    )


def protected_until(review: BalanceReview) -> datetime | None:
    hours = settings.SYNC_PROTECTION_HOURS
    return review.manual_set_at + timedelta(hours=hours) if hours > 0 else None


def _done(review: BalanceReview) -> str:
    code = review.currency
    if review.status == BalanceReview.Status.ACCEPTED:
        shown = currencies.format_amount(review.provider_available, code)
        return f"{code} balance set to the provider's value, {shown}."
    shown = currencies.format_amount(review.manual_available, code)
    return f"{code} balance kept at {shown}, the value set by hand."
