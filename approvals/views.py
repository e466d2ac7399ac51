"""The Approvals pages: the queue (filters, bulk approve/reject), a request's page (before
and after, the decision, the object's recent history) and the policies (admins)."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from approvals import actions, queries
from approvals.forms import (
    BulkDecisionForm,
    DecisionForm,
    PolicyCurrencyForm,
    PolicyForm,
    QueueFilterForm,
)
from approvals.models import ApprovalRequest
from approvals.registry import handler_for
from core.actors import Actor
from core.errors import DomainError, NotFound
from core.forms import add_domain_error
from core.money import currencies
from core.permissions import require_perms

PAGE_SIZE = 50
VIEW = "approvals.view_approvalrequest"
APPROVE = "approvals.approve"


def _query(chosen: dict[str, str]) -> str:
    return urlencode(
        {k: v for k, v in chosen.items() if v and not (k == "status" and v == "pending")}
    )


@require_http_methods(["GET"])
@require_perms(VIEW)
def queue(request: HttpRequest) -> HttpResponse:
    """Who: viewer and above; the checkboxes and bulk bar for approvers.  Queries: the
    count and the page of requests (with their services), whatever the page size."""
    filters = QueueFilterForm(request.GET or None)
    chosen = filters.filters()
    approvals = queries.approvals_list(
        status="" if chosen["status"] == "all" else chosen["status"],
        kind=chosen["kind"],
        currency=chosen["currency"],
        service=chosen["service"],
        requester=chosen["requester"],
    )
    page = Paginator(approvals, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [(a, queries.shown_status(a)) for a in page.object_list]
    extra = _query(chosen)
    return render(
        request,
        "approvals/queue.html",
        {
            "filters": filters,
            "chosen": chosen,
            "page": page,
            "rows": rows,
            "bulk_form": BulkDecisionForm(),
            "back": extra,
            "extra_query": f"{extra}&" if extra else "",
            "filtered": any(v for k, v in chosen.items() if k != "status"),
        },
    )


@require_POST
@require_perms(VIEW, APPROVE)
def bulk(request: HttpRequest) -> HttpResponse:
    """Who: approvers.  Each ticked request is decided on its own; one message per request
    says what was done or why it was refused."""
    form = BulkDecisionForm(request.POST)
    if form.is_valid():
        outcomes = actions.approvals_bulk_decide(
            approval_ids=form.cleaned_data["approval_ids"],
            approve=form.cleaned_data["decision"] == "approve",
            actor=Actor.for_request(request),
            comment=form.cleaned_data["comment"],
        )
        done = [o for o in outcomes if o.done]
        if done:
            verb = "approved" if form.cleaned_data["decision"] == "approve" else "rejected"
            messages.success(
                request,
                f"{len(done)} request{'s' if len(done) != 1 else ''} {verb}: "
                + ", ".join(o.approval_id for o in done)
                + ".",
            )
        for outcome in outcomes:
            if not outcome.done:
                messages.error(request, f"{outcome.approval_id} refused: {outcome.message}")
    else:
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
    back = str(request.POST.get("back", ""))[:500]
    url = reverse("approvals:queue")
    return redirect(f"{url}?{back}" if back and "\n" not in back else url)


def _detail_context(request: HttpRequest, approval: ApprovalRequest) -> dict:
    handler = handler_for(approval.kind)
    description = handler.describe(approval)
    status = queries.shown_status(approval)
    can_decide = status == "pending" and request.user.has_perm(APPROVE)
    # Who asked (the requester, or a renewer along the chain) may reject, never approve.
    asked = actions.askers(approval).get(request.user.pk) if can_decide else None
    return {
        "approval": approval,
        "status": status,
        "description": description,
        "is_requester": asked is not None,
        "asked": asked,
        "can_decide": can_decide,
        # The very rule approval_renew() applies, so that the page and the action agree.
        "can_renew": actions.renewal_refusal(approval, lambda: description.moved) is None
        and request.user.has_perm(handler.perm),
        "nav_section": "approvals",
    }


@require_http_methods(["GET", "POST"])
@require_perms(VIEW)
def detail(request: HttpRequest, approval_id: str) -> HttpResponse:
    """Who: viewer and above; Approve / Reject for approvers (Approve never for who asked:
    the requester or a renewer), Renew for whoever may make the change when the balance
    moved or the request expired (actions.renewal_refusal)."""
    approval = queries.approval_get(approval_id)
    # Bound on every POST, an empty one too: it is then answered with the form's errors.
    form = DecisionForm(request.POST if request.method == "POST" else None)
    status_code = 200
    if request.method == "POST":
        if not (
            request.user.has_perm(APPROVE) or request.user.has_perm(handler_for(approval.kind).perm)
        ):
            raise PermissionDenied  # may neither decide nor renew: nothing to post here
        decision = request.POST.get("decision", "")
        if decision not in ("approve", "reject", "renew"):
            form.is_valid()
            form.add_error(None, "Choose Approve, Reject or Renew.")
            status_code = 400
        elif form.is_valid():
            outcome = _decide(request, approval, decision, form)
            if isinstance(outcome, HttpResponse):
                return outcome
            status_code = outcome
            approval.refresh_from_db()
        else:
            status_code = 400
    return render(
        request,
        "approvals/detail.html",
        {"form": form, **_detail_context(request, approval)},
        status=status_code,
    )


def _decide(
    request: HttpRequest, approval, decision: str, form: DecisionForm
) -> HttpResponse | int:
    actor = Actor.for_request(request)
    comment = form.cleaned_data["comment"]
    if decision == "renew":
        if not request.user.has_perm(handler_for(approval.kind).perm):
            raise PermissionDenied
    elif not request.user.has_perm(APPROVE):
        raise PermissionDenied
    try:
        if decision == "approve":
            done = actions.approval_approve(approval=approval, actor=actor, comment=comment)
            messages.success(request, f"Request {done.public_id} approved: the change is applied.")
        elif decision == "reject":
            done = actions.approval_reject(approval=approval, actor=actor, comment=comment)
            messages.success(request, f"Request {done.public_id} rejected: nothing was applied.")
        else:
            done = actions.approval_renew(approval=approval, actor=actor)
            messages.success(
                request,
                f"Renewed as {done.public_id}, against the balance as it is now; it waits for "
                "approval.",
            )
    except DomainError as exc:
        return add_domain_error(form, exc)
    return redirect("approvals:detail", approval_id=done.public_id)


@require_http_methods(["GET"])
@require_perms("approvals.view_approvalpolicy")
def policy_list(request: HttpRequest) -> HttpResponse:
    """Who: admins.  Every currency with a policy or a platform default."""
    chooser = PolicyCurrencyForm(request.GET or None)
    if request.GET and chooser.is_valid():
        return redirect("approvals:policy_edit", currency=chooser.cleaned_data["currency"])
    return render(
        request,
        "approvals/policy_list.html",
        {
            "rows": queries.policies_overview(),
            "chooser": chooser,
            "nav_section": "approval_policies",
        },
        status=400 if request.GET and chooser.errors else 200,
    )


@require_http_methods(["GET", "POST"])
@require_perms("approvals.view_approvalpolicy", "approvals.change_approvalpolicy")
def policy_edit(request: HttpRequest, currency: str) -> HttpResponse:
    """Who: admins.  Saving stores the currency's own policy (it overrides the default)."""
    code = currencies.normalise_code(currency)
    if not currencies.is_known(code):
        raise NotFound(f"{code or 'That'} is not a known currency.")
    rules = queries.policy_rules(code)
    initial = {
        "manual_change_above": ""
        if rules.manual_change_above is None
        else currencies.plain_amount(rules.manual_change_above, code),
        "payout_above": ""
        if rules.payout_above is None
        else currencies.plain_amount(rules.payout_above, code),
        "nonzero_deletion": rules.nonzero_deletion,
    }
    form = PolicyForm(request.POST or None, initial=initial, currency=code)
    if request.method == "POST" and form.is_valid():
        try:
            actions.policy_set(
                currency=code,
                manual_change_above=form.cleaned_data["manual_change_above"],
                payout_above=form.cleaned_data["payout_above"],
                nonzero_deletion=form.cleaned_data["nonzero_deletion"],
                actor=Actor.for_request(request),
            )
        except DomainError as exc:
            add_domain_error(form, exc)
        else:
            messages.success(request, f"Approval policy for {code} saved.")
            return redirect("approvals:policies")
    return render(
        request,
        "approvals/policy_form.html",
        {"form": form, "currency": code, "rules": rules, "nav_section": "approval_policies"},
        status=400 if form.errors else 200,
    )
