"""The Fee profiles section: list, profile page (formula, rules, calculator, services),
add / edit / delete profiles and rules, history, and giving a service its profile."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from core.actors import Actor
from core.errors import DomainError, StaleVersion
from core.forms import add_domain_error
from core.permissions import require_perms
from services.fees import actions as fee_actions
from services.fees import formula as fees
from services.fees import queries as fee_queries
from services.fees.forms import (
    AssignServiceForm,
    FeeProfileForm,
    FeeQuoteForm,
    FeeRuleForm,
    ServiceFeeProfileForm,
)
from services.models import AuditEntry, FeeProfile, FeeRule
from services.queries import service_get

VIEW = ("services.view_feeprofile", "services.view_feerule")


@require_perms(*VIEW)
def fee_profile_list(request: HttpRequest) -> HttpResponse:
    """Who: viewer and above; New fee profile for admins."""
    profiles = FeeProfile.objects.annotate(
        rule_count=Count("rules", distinct=True), service_count=Count("services", distinct=True)
    ).order_by("name")
    return render(request, "fee_profiles/profile_list.html", {"profiles": profiles})


@require_perms(*VIEW)
def fee_profile_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """Who: viewer and above.  The calculator is a GET form: anyone who may see the profile
    may price an amount with it."""
    profile = fee_queries.fee_profile_get(pk)
    rules = list(profile.rules.all())
    # The calculator opens priced: its pre-filled amount is quoted, not "Enter an amount".
    calculator = FeeQuoteForm(request.GET if "amount" in request.GET else FeeQuoteForm.INITIAL)
    quote = None
    if calculator.is_valid():
        quote = fees.quote(
            profile=profile,
            operation=calculator.cleaned_data["operation"],
            currency=calculator.cleaned_data["currency"],
            amount=calculator.cleaned_data["amount"],
        )
    if request.htmx:
        # The calculator updates in place: only its result, no page around it.
        return render(
            request,
            "fee_profiles/partials/quote.html",
            {"calculator": calculator, "quote": quote},
        )
    services = fee_actions.services_using(profile)
    return render(
        request,
        "fee_profiles/profile_detail.html",
        {
            "profile": profile,
            "rules": [(rule, fees.rule_figures(rule)) for rule in rules],
            "calculator": calculator,
            "quote": quote,
            "services": services,
            # Delete shown disabled, with the reason, while services use the profile.
            "delete_blockers": fee_actions.deletion_blockers(profile, users=services),
            "assign_form": AssignServiceForm(profile=profile)
            if request.user.has_perm("services.change_service")
            else None,
            "audit": AuditEntry.objects.filter(fee_profile=profile)[:5],
            "platform_minimums": sorted(fees.platform_minimums().items()),
        },
    )


@require_http_methods(["GET", "POST"])
@require_perms(*VIEW, "services.add_feeprofile")
def fee_profile_add(request: HttpRequest) -> HttpResponse:
    """Who: admin role."""
    return _profile_form_page(request, None)


@require_http_methods(["GET", "POST"])
@require_perms(*VIEW, "services.change_feeprofile")
def fee_profile_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Who: admin role.  The form carries the version it was opened at."""
    return _profile_form_page(request, fee_queries.fee_profile_get(pk))


def _profile_form_page(request: HttpRequest, profile: FeeProfile | None) -> HttpResponse:
    initial = None
    if profile is not None:
        initial = {
            "name": profile.name,
            "description": profile.description,
            "version": profile.version,
        }
    form = FeeProfileForm(request.POST or None, initial=initial)
    status = 200
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        actor = Actor.for_request(request)
        try:
            if profile is None:
                saved = fee_actions.fee_profile_create(
                    name=data["name"], description=data["description"], actor=actor
                )
                done = f"Fee profile {saved.name} created; now add its rules."
            else:
                saved = fee_actions.fee_profile_update(
                    profile=profile,
                    name=data["name"],
                    description=data["description"],
                    expected_version=data["version"],
                    actor=actor,
                )
                done = f"Fee profile {data['name']} saved."
        except DomainError as exc:
            status = add_domain_error(form, exc)
        else:
            messages.success(request, done)
            return redirect("fee_profiles:detail", pk=saved.pk)
    elif request.method == "POST":
        status = 400
    return render(
        request, "fee_profiles/profile_form.html", {"form": form, "profile": profile}, status=status
    )


@require_http_methods(["GET", "POST"])
@require_perms(*VIEW, "services.delete_feeprofile")
def fee_profile_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """Who: admin role.  GET names what goes (its rules) or who still uses it; POST deletes."""
    profile = fee_queries.fee_profile_get(pk)
    services = fee_actions.services_using(profile)
    blockers = fee_actions.deletion_blockers(profile, users=services)
    error = ""
    if request.method == "POST" and not blockers:
        try:
            fee_actions.fee_profile_delete(profile=profile, actor=Actor.for_request(request))
        except DomainError as exc:
            error = exc.message
        else:
            messages.success(request, f"Fee profile {profile.name} deleted.")
            return redirect("fee_profiles:list")
    return render(
        request,
        "fee_profiles/profile_confirm_delete.html",
        {
            "profile": profile,
            "rules": [(rule, fees.describe_rule(rule)) for rule in profile.rules.all()],
            "services": services,
            "blockers": blockers,
            "error": error,
        },
        status=409 if request.method == "POST" and (blockers or error) else 200,
    )


@require_perms(*VIEW, "services.view_auditentry")
def fee_profile_history(request: HttpRequest, pk: int) -> HttpResponse:
    """Who: viewer and above.  Every change to the profile, its rules and who uses it."""
    profile = fee_queries.fee_profile_get(pk)
    page = Paginator(
        AuditEntry.objects.filter(fee_profile=profile).select_related("actor_user"), 50
    ).get_page(request.GET.get("page"))
    return render(request, "fee_profiles/profile_history.html", {"profile": profile, "page": page})


def _rule_form_page(
    request: HttpRequest, profile: FeeProfile, rule: FeeRule | None
) -> HttpResponse:
    initial = {"version": profile.version, "operation": "payout", "percentage": "0"}
    if rule is not None:
        initial.update(
            {
                "operation": rule.operation,
                "currency": rule.currency,
                "percentage": f"{rule.percentage.normalize():f}",
                "fixed_amount": _plain(rule.fixed_amount, rule.currency),
                "minimum_fee": _plain(rule.minimum_fee, rule.currency),
                "maximum_fee": _plain(rule.maximum_fee, rule.currency),
                "minimum_payout_amount": _plain(rule.minimum_payout_amount, rule.currency),
            }
        )
    form = FeeRuleForm(request.POST or None, initial=initial)
    status = 200
    if request.method == "POST" and form.is_valid():
        actor = Actor.for_request(request)
        try:
            if rule is None:
                fee_actions.fee_rule_create(
                    profile=profile,
                    actor=actor,
                    expected_version=form.cleaned_data["version"],
                    **form.rule_fields(),
                )
            else:
                fee_actions.fee_rule_update(
                    rule=rule,
                    actor=actor,
                    expected_version=form.cleaned_data["version"],
                    **form.rule_fields(),
                )
        except StaleVersion as exc:
            status = add_domain_error(form, exc)
            data = request.POST.copy()
            data["version"] = str(exc.current.version)  # the next save is based on what is now
            form.data = data
        except DomainError as exc:
            status = add_domain_error(form, exc)
        else:
            messages.success(request, f"Rules of {profile.name} saved.")
            return redirect("fee_profiles:detail", pk=profile.pk)
    elif request.method == "POST":
        status = 400
    return render(
        request,
        "fee_profiles/rule_form.html",
        {"form": form, "profile": profile, "rule": rule},
        status=status,
    )


def _plain(value, currency: str) -> str:
    return "" if value is None else fees.plain_figure(value, currency)


@require_http_methods(["GET", "POST"])
@require_perms(*VIEW, "services.add_feerule")
def fee_rule_add(request: HttpRequest, pk: int) -> HttpResponse:
    """Who: admin role."""
    return _rule_form_page(request, fee_queries.fee_profile_get(pk), None)


@require_http_methods(["GET", "POST"])
@require_perms(*VIEW, "services.change_feerule")
def fee_rule_edit(request: HttpRequest, pk: int, rule_id: int) -> HttpResponse:
    """Who: admin role."""
    profile = fee_queries.fee_profile_get(pk)
    return _rule_form_page(
        request, profile, fee_queries.fee_rule_get(profile=profile, rule_id=rule_id)
    )


@require_http_methods(["GET", "POST"])
@require_perms(*VIEW, "services.delete_feerule")
def fee_rule_delete(request: HttpRequest, pk: int, rule_id: int) -> HttpResponse:
    """Who: admin role.  GET asks; POST deletes."""
    profile = fee_queries.fee_profile_get(pk)
    rule = fee_queries.fee_rule_get(profile=profile, rule_id=rule_id)
    if request.method == "POST":
        fee_actions.fee_rule_delete(rule=rule, actor=Actor.for_request(request))
        messages.success(request, f"Rule {rule} removed from {profile.name}.")
        return redirect("fee_profiles:detail", pk=profile.pk)
    return render(
        request,
        "fee_profiles/rule_confirm_delete.html",
        {"profile": profile, "rule": rule, "formula": fees.describe_rule(rule)},
    )


@require_POST
@require_perms(*VIEW, "services.view_service", "services.change_service")
def fee_profile_assign(request: HttpRequest, pk: int) -> HttpResponse:
    """Who: admin role.  From a profile's page: give one more service this profile."""
    profile = fee_queries.fee_profile_get(pk)
    form = AssignServiceForm(request.POST, profile=profile)
    if form.is_valid():
        service = form.cleaned_data["service"]
        fee_actions.service_fee_profile_set(
            service=service, profile=profile, actor=Actor.for_request(request)
        )
        messages.success(request, f"{service.name} now uses {profile.name}.")
    else:
        messages.error(request, "Choose a service that does not use this profile yet.")
    return redirect("fee_profiles:detail", pk=profile.pk)


@require_http_methods(["GET", "POST"])
@require_perms(*VIEW, "services.view_service", "services.change_service")
def service_fee_profile(request: HttpRequest, service_id: str) -> HttpResponse:
    """Who: admin role.  Choose a service's fee profile (or none: platform defaults)."""
    service = service_get(service_id)
    form = ServiceFeeProfileForm(
        request.POST or None, initial={"fee_profile": service.fee_profile_id}
    )
    status = 200
    if request.method == "POST" and form.is_valid():
        profile = form.cleaned_data["fee_profile"]
        try:
            fee_actions.service_fee_profile_set(
                service=service, profile=profile, actor=Actor.for_request(request)
            )
        except DomainError as exc:
            status = add_domain_error(form, exc)
        else:
            shown = profile.name if profile else "platform defaults"
            messages.success(request, f"{service.name} now uses {shown}.")
            return redirect("payouts:list", service_id=service.public_id)
    elif request.method == "POST":
        status = 400
    return render(
        request,
        "fee_profiles/service_assign.html",
        {"service": service, "form": form},
        status=status,
    )
