"""Alerts and alert rules pages.  Thin: parse, call one action or query, render."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from alerts import actions, evaluate, queries
from alerts.forms import AcknowledgeForm, AlertFilterForm, AlertRuleForm
from alerts.models import Alert, AlertRule
from core.actors import Actor
from core.errors import DomainError, NotFound
from core.forms import add_domain_error
from core.money import currencies
from core.permissions import require_perms
from services.models import Service
from services.queries import service_get

PAGE_SIZE = 25
VIEW_ALERTS = "alerts.view_alert"
VIEW_RULES = "alerts.view_alertrule"


@require_perms(VIEW_ALERTS)
def alert_list(request: HttpRequest) -> HttpResponse:
    """Who: viewer and above.  Newest first, 25 a page, filtered by status, currency,
    service and kind; resolved alerts stay (history)."""
    filters = AlertFilterForm(
        request.GET or None,
        currency_codes=queries.alert_currencies(),
        services=queries.service_choices(),
    )
    chosen = filters.filters()
    alerts = queries.alerts_for_list(
        status=chosen["status"],
        currency=chosen["currency"],
        service_public_id=chosen["service"],
        kind=chosen["kind"],
    )
    page = Paginator(alerts, PAGE_SIZE).get_page(request.GET.get("page"))
    extra = urlencode({k: v for k, v in chosen.items() if v})
    return render(
        request,
        "alerts/alert_list.html",
        {
            "page": page,
            "filters": filters,
            "chosen": chosen,
            "filtered": any(chosen.values()),
            "extra_query": f"{extra}&" if extra else "",
        },
    )


def _described(alert: Alert) -> dict[str, str]:
    return {
        "condition": actions.describe_condition(alert.kind, alert.threshold, alert.currency),
        "opened": actions.describe_value(alert.kind, alert.opened_value, alert.currency),
        "resolved": actions.describe_value(alert.kind, alert.resolved_value, alert.currency),
    }


@require_http_methods(["GET", "POST"])
@require_perms(VIEW_ALERTS)
def alert_detail(request: HttpRequest, alert_id: str) -> HttpResponse:
    """Who: viewer and above; operators acknowledge an open alert here, with a note."""
    alert = queries.alert_get(alert_id)
    can_acknowledge = request.user.has_perm("alerts.acknowledge_alert")
    form = None
    status = 200
    if alert.status == Alert.Status.OPEN and can_acknowledge:
        form = AcknowledgeForm(request.POST or None)
    if request.method == "POST":
        if not can_acknowledge:
            raise PermissionDenied
        if form is None:
            messages.warning(request, f"Alert {alert.public_id} is {alert.status}; nothing done.")
            return redirect("alerts:detail", alert_id=alert.public_id)
        if form.is_valid():
            try:
                actions.alert_acknowledge(
                    alert=alert,
                    actor=Actor.for_request(request),
                    note=form.cleaned_data["note"],
                )
            except DomainError as exc:
                status = add_domain_error(form, exc)
            else:
                messages.success(request, f"Alert {alert.public_id} acknowledged.")
                return redirect("alerts:detail", alert_id=alert.public_id)
        else:
            status = 400
    return render(
        request,
        "alerts/alert_detail.html",
        {"alert": alert, "form": form, "described": _described(alert)},
        status=status,
    )


# --- rules --------------------------------------------------------------------------------


@require_perms(VIEW_RULES)
def rule_list(request: HttpRequest) -> HttpResponse:
    """Who: viewer and above; admins add, edit and delete."""
    rules = list(queries.rules_for_list())
    for rule in rules:
        rule.condition = actions.describe_condition(  # type: ignore[attr-defined]
            rule.kind, evaluate.rule_threshold(rule), rule.currency
        )
    return render(request, "alerts/rule_list.html", {"rules": rules})


def _rule_service(form: AlertRuleForm) -> Service | None:
    public_id = form.cleaned_data.get("service") or ""
    return service_get(public_id) if public_id else None


def _rule_initial(rule: AlertRule) -> dict[str, object]:
    return {
        "service": rule.service.public_id if rule.service_id else "",
        "currency": rule.currency,
        "kind": rule.kind,
        "threshold": currencies.plain_amount(rule.threshold, rule.currency)
        if rule.threshold is not None
        else "",
        "stale_minutes": rule.stale_minutes or "",
        "failures": rule.failures or "",
        "emails": "\n".join(rule.emails),
    }


def _save_rule(
    request: HttpRequest, form: AlertRuleForm, rule: AlertRule | None
) -> AlertRule | None:
    """Call the action; on a refusal the form shows why and None is returned."""
    try:
        service = _rule_service(form)
        if rule is None:
            return actions.rule_create(
                service=service, actor=Actor.for_request(request), **form.action_kwargs()
            )
        return actions.rule_update(
            rule=rule, service=service, actor=Actor.for_request(request), **form.action_kwargs()
        )
    except NotFound:
        form.add_error("service", "That service no longer exists.")
    except DomainError as exc:
        add_domain_error(form, exc)
    return None


@require_http_methods(["GET", "POST"])
@require_perms(VIEW_RULES, "alerts.add_alertrule")
def rule_add(request: HttpRequest) -> HttpResponse:
    """Who: admins."""
    initial = {
        "service": request.GET.get("service", ""),
        "currency": request.GET.get("currency", ""),
    }
    form = AlertRuleForm(request.POST or None, initial=initial, services=queries.service_choices())
    if request.method == "POST":
        if form.is_valid():
            rule = _save_rule(request, form, None)
            if rule is not None:
                messages.success(request, f"Alert rule {rule.public_id} added.")
                return redirect("alert_rules:list")
        return _rule_form(request, form, None, status=400)
    return _rule_form(request, form, None)


@require_http_methods(["GET", "POST"])
@require_perms(VIEW_RULES, "alerts.change_alertrule")
def rule_edit(request: HttpRequest, rule_id: str) -> HttpResponse:
    """Who: admins."""
    rule = queries.rule_get(rule_id)
    form = AlertRuleForm(
        request.POST or None, initial=_rule_initial(rule), services=queries.service_choices()
    )
    if request.method == "POST":
        if form.is_valid():
            saved = _save_rule(request, form, rule)
            if saved is not None:
                messages.success(request, f"Alert rule {saved.public_id} saved.")
                return redirect("alert_rules:list")
        return _rule_form(request, form, rule, status=400)
    return _rule_form(request, form, rule)


def _rule_form(
    request: HttpRequest, form: AlertRuleForm, rule: AlertRule | None, *, status: int = 200
) -> HttpResponse:
    return render(request, "alerts/rule_form.html", {"form": form, "rule": rule}, status=status)


@require_http_methods(["GET", "POST"])
@require_perms(VIEW_RULES, "alerts.delete_alertrule")
def rule_delete(request: HttpRequest, rule_id: str) -> HttpResponse:
    """Who: admins.  GET shows what goes (and that its alerts resolve and stay), POST
    deletes."""
    rule = queries.rule_get(rule_id)
    if request.method == "POST":
        actions.rule_delete(rule=rule, actor=Actor.for_request(request))
        messages.success(request, f"Alert rule {rule.public_id} deleted; its alerts are kept.")
        return redirect("alert_rules:list")
    unresolved = rule.alerts.filter(status__in=Alert.UNRESOLVED).count()
    return render(
        request,
        "alerts/rule_confirm_delete.html",
        {
            "rule": rule,
            "unresolved": unresolved,
            "condition": actions.describe_condition(
                rule.kind, evaluate.rule_threshold(rule), rule.currency
            ),
        },
    )
