"""Sync API: start a synchronisation with the provider, follow its runs."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from balances import queries
from balances.api import serializers as s
from balances.models import SyncRun
from balances.sync.request import sync_request
from core.api.schema import SERVICE_ID, errors, paginated, path_param
from core.api.views import ApiView
from services.queries import service_get

VIEW_RUNS = ("services.view_service", "balances.view_syncrun")


def run_url(request: Request, run: SyncRun) -> str:
    return request.build_absolute_uri(f"/api/v1/sync-runs/{run.public_id}")


class SyncStartView(ApiView):
    required_perms = {"POST": ("services.view_service", "balances.sync_balances")}

    @extend_schema(
        operation_id="balances_sync",
        summary="Synchronise balances with the provider",
        description="Queues a run and answers at once (202); follow it at "
        "`/sync-runs/{syncRunId}`.  409 when a run is already queued or running (its id is "
        "in `error.details.syncRunId`) or the service has no provider connection.  503 "
        "(`service_unavailable`, with Retry-After) when the task queue cannot be reached: no "
        "run was created, and the same request may be sent again later.",
        parameters=[SERVICE_ID],
        request=None,
        responses={202: s.SyncRunOut, **errors(404, 409, 503)},
    )
    def post(self, request: Request, serviceId: str) -> Response:
        service = service_get(serviceId)
        run = sync_request(service=service, trigger=SyncRun.Trigger.API, user=request.user)
        run.refresh_from_db()  # with in-process tasks the run has already ended
        run.service = service
        return Response(
            s.SyncRunOut(run).data,
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": run_url(request, run)},
        )


class SyncRunListView(ApiView):
    required_perms = {"GET": VIEW_RUNS}

    @extend_schema(
        operation_id="sync_runs_list",
        summary="A service's sync runs, newest first",
        parameters=[SERVICE_ID],
        responses={200: paginated(s.SyncRunOut), **errors(404)},
    )
    def get(self, request: Request, serviceId: str) -> Response:
        service = service_get(serviceId)
        # The count and one page, the service joined: 2 queries whatever the number of runs.
        runs = SyncRun.objects.filter(service=service).select_related("service")
        return self.paginate(request, runs.order_by("-created_at", "-id"), s.SyncRunOut)


class SyncRunDetailView(ApiView):
    required_perms = {"GET": VIEW_RUNS}

    @extend_schema(
        operation_id="sync_runs_retrieve",
        summary="One sync run",
        parameters=[path_param("syncRunId", "The run's id, e.g. run_8k2j...")],
        responses={200: s.SyncRunOut, **errors(404)},
    )
    def get(self, request: Request, syncRunId: str) -> Response:
        run = queries.sync_run_get(syncRunId)
        return Response(s.SyncRunOut(run).data)
