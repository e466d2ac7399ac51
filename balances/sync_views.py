"""Update balances (the button), its live status, and the Sync runs pages."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from balances import queries
from balances.models import SyncRun
from balances.sync.request import QueueUnavailable, SyncAlreadyRunning, sync_request
from balances.sync_exports import SYNC_RUN_HEADER, sync_run_rows
from core.csvexport import csv_response, wants_csv
from core.errors import DomainError
from core.permissions import require_perms
from services.queries import service_get


@require_POST
@require_perms("services.view_service", "balances.sync_balances")
def sync_start(request: HttpRequest, service_id: str) -> HttpResponse:
    """Who: operator and above.  Starts a run (or points to the one already running)."""
    service = service_get(service_id)
    run = None
    try:
        run = sync_request(service=service, trigger=SyncRun.Trigger.BUTTON, user=request.user)
    except SyncAlreadyRunning as exc:
        run = exc.run
        messages.info(
            request,
            f"An update of these balances is already {exc.run.get_status_display().lower()} "
            f"(sync run {exc.run.public_id}).",
        )
    except QueueUnavailable as exc:
        # Nothing was queued: say so on the page itself (503), which renders without Redis.
        return _unavailable(request, service, exc)
    except DomainError as exc:
        messages.error(request, exc.message)
    if request.htmx:
        return _status(request, service, run.public_id if run else None)
    if run is not None:
        run.refresh_from_db()  # with in-process tasks it has already ended
        if run.status == SyncRun.Status.SUCCEEDED:
            messages.success(
                request,
                f"Balances updated from {run.provider_label}: {run.updated_count} updated, "
                f"{run.unchanged_count} unchanged.",
            )
        elif run.status == SyncRun.Status.FAILED:
            messages.error(
                request, f"Update failed — {run.error_category_label}: {run.error_message}"
            )
    return redirect("balances:list", service_id=service.public_id)


@require_GET
@require_perms("services.view_service", "balances.view_balance")
def sync_status(request: HttpRequest, service_id: str) -> HttpResponse:
    """Who: viewer and above.  The status bar; polled by htmx while a run is active.  When the
    run it was watching has ended, the cards are refreshed in the same response."""
    return _status(request, service_get(service_id), request.GET.get("run"))


def _unavailable(request: HttpRequest, service, exc: QueueUnavailable) -> HttpResponse:
    context = {"service": service, **queries.balances_page_context(service)}
    if request.htmx:  # the status bar, in place (htmx swaps 503 answers: base.html)
        template = "balances/partials/sync_status_response.html"
        context["sync_error"] = exc.message
    else:
        template = "balances/balance_list.html"
        messages.error(request, exc.message)
    response = render(request, template, context, status=exc.http_status)
    response["Retry-After"] = str(exc.retry_after)
    return response


def _status(request: HttpRequest, service, watched: str | None) -> HttpResponse:
    context = queries.balances_page_context(service)
    finished = None
    if watched and context["active_run"] is None:
        finished = SyncRun.objects.filter(service=service, public_id=watched).first()
    return render(
        request,
        "balances/partials/sync_status_response.html",
        {"service": service, **context, "finished_run": finished, "watched": watched},
    )


@require_perms("services.view_service", "balances.view_syncrun")
def run_list(request: HttpRequest, service_id: str) -> HttpResponse:
    """Who: viewer and above.  ``?format=csv`` (Download CSV): every run, newest first."""
    service = service_get(service_id)
    runs = SyncRun.objects.filter(service=service).order_by("-created_at", "-id")
    if wants_csv(request):
        return csv_response(
            SYNC_RUN_HEADER, sync_run_rows(runs), filename=f"sync-runs-{service.public_id}"
        )
    page = Paginator(runs.select_related("requested_by"), 25).get_page(request.GET.get("page"))
    return render(
        request,
        "balances/sync_run_list.html",
        {
            "service": service,
            "page": page,
            "connection": service.provider_connection_or_none,
        },
    )


@require_perms("services.view_service", "balances.view_syncrun")
def run_detail(request: HttpRequest, service_id: str, run_id: str) -> HttpResponse:
    """Who: viewer and above."""
    service = service_get(service_id)
    run = queries.sync_run_get(run_id, service=service)
    return render(request, "balances/sync_run_detail.html", {"service": service, "run": run})
