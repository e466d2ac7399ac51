"""Sync API: start a synchronisation with the provider, follow its runs."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http.response import HttpResponseBase
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings

from balances import queries
from balances.api import serializers as s
from balances.models import SyncRun
from balances.sync.request import sync_request
from balances.sync_exports import SYNC_RUN_HEADER, sync_run_rows
from core.api.etag import ListETagMixin, aggregate
from core.api.schema import SERVICE_ID, errors, paginated, path_param
from core.api.views import ApiView
from core.csvexport import (
    CSV_FORMAT,
    CsvRenderer,
    csv_list_responses,
    csv_response,
    wants_csv,
)
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


def run_list_response(
    view: ApiView, request: Request, runs: QuerySet[SyncRun], stem: str
) -> HttpResponseBase:
    """The page of runs as JSON (the count and one page, the service joined: 2 queries
    whatever the number of runs), or every run as CSV (1 query)."""
    if wants_csv(request):
        return csv_response(SYNC_RUN_HEADER, sync_run_rows(runs), filename=stem)
    return view.paginate(request, runs.select_related("service"), s.SyncRunOut)


def runs_validator(runs: QuerySet) -> tuple | None:
    """A run changes by moving on (queued, running, retried, ended): each move sets one of
    its moments to now and moves the count of its status."""
    return aggregate(
        runs,
        "started_at",
        "finished_at",
        "next_attempt_at",
        statuses=SyncRun.Status.values,
    )


class SyncRunListView(ListETagMixin, ApiView):
    required_perms = {"GET": VIEW_RUNS}
    renderer_classes = [*api_settings.DEFAULT_RENDERER_CLASSES, CsvRenderer]

    def etag_validator(self, request: Request, **kwargs: Any) -> Any | None:
        query = s.SyncRunListQuery(data=request.query_params)
        if not query.is_valid():
            return None  # the list answers the 400
        self.service = service_get(kwargs["serviceId"])  # the list's own, read once
        return runs_validator(queries.sync_runs_filtered(service=self.service, **query.filters()))

    @extend_schema(
        operation_id="sync_runs_list",
        summary="A service's sync runs, newest first",
        description="Filter with `status`, `provider`, `trigger`, `dateFrom` and `dateTo`.  "
        "With `Accept: text/csv` or `format=csv`, every run the filters select as CSV.",
        parameters=[SERVICE_ID, s.SyncRunListQuery, CSV_FORMAT],
        responses=csv_list_responses(paginated(s.SyncRunOut), 400, 404),
    )
    def get(self, request: Request, serviceId: str) -> HttpResponseBase:
        service = getattr(self, "service", None) or service_get(serviceId)
        query = s.SyncRunListQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        runs = queries.sync_runs_filtered(service=service, **query.filters())
        return run_list_response(self, request, runs, f"sync-runs-{service.public_id}")


class SyncRunsAcrossView(ListETagMixin, ApiView):
    required_perms = {"GET": VIEW_RUNS}
    renderer_classes = [*api_settings.DEFAULT_RENDERER_CLASSES, CsvRenderer]

    def etag_validator(self, request: Request, **kwargs: Any) -> Any | None:
        query = s.SyncRunAcrossQuery(data=request.query_params)
        if not query.is_valid():
            return None  # the list answers the 400
        service_id = query.validated_data.get("serviceId")
        service = service_get(service_id) if service_id else None
        return runs_validator(queries.sync_runs_filtered(service=service, **query.filters()))

    @extend_schema(
        operation_id="sync_runs_list_all",
        summary="Every service's sync runs, newest first",
        description="The Sync runs page for REST clients.  Filter with `serviceId`, "
        "`status`, `provider`, `trigger`, `dateFrom` and `dateTo`.  With "
        "`Accept: text/csv` or `format=csv`, every run the filters select as CSV.",
        parameters=[s.SyncRunAcrossQuery, CSV_FORMAT],
        responses=csv_list_responses(paginated(s.SyncRunOut), 400, 404),
    )
    def get(self, request: Request) -> HttpResponseBase:
        query = s.SyncRunAcrossQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        service_id = query.validated_data.get("serviceId")
        service = service_get(service_id) if service_id else None
        runs = queries.sync_runs_filtered(service=service, **query.filters())
        return run_list_response(self, request, runs, "sync-runs")


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
