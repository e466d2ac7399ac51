"""python manage.py sync_balances (--service srv_… | --all) [--wait]"""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from balances.models import SyncRun
from balances.sync.request import SyncAlreadyRunning, sync_request
from core.errors import DomainError
from services.models import Service


class Command(BaseCommand):
    help = "Queue balance synchronisation for one service or all connected services."

    def add_arguments(self, parser):
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--service", metavar="SERVICE_ID", help="A service id (srv_…).")
        target.add_argument("--all", action="store_true", help="Every service with a provider.")
        parser.add_argument("--wait", action="store_true", help="Wait for the runs to end.")
        parser.add_argument("--timeout", type=float, default=900, help="Seconds to wait (--wait).")

    def handle(self, *args, service=None, all=False, wait=False, timeout=900.0, **options):
        if service:
            services = list(Service.objects.filter(public_id=service))
            if not services:
                raise CommandError(f"No service {service!r}.")
        else:
            services = list(
                Service.objects.filter(provider_connection__isnull=False).order_by("public_id")
            )
        run_ids: list[str] = []
        for svc in services:
            try:
                run = sync_request(service=svc, trigger=SyncRun.Trigger.COMMAND)
            except SyncAlreadyRunning as exc:
                self.stdout.write(
                    f"{svc.public_id}: already {exc.run.status} ({exc.run.public_id})"
                )
                run_ids.append(exc.run.public_id)
                continue
            except DomainError as exc:
                self.stderr.write(f"{svc.public_id}: {exc.message}")
                continue
            self.stdout.write(f"{svc.public_id}: queued {run.public_id}")
            run_ids.append(run.public_id)
        if not run_ids:
            raise CommandError("Nothing to synchronise.")
        if not wait:
            self.stdout.write(f"{len(run_ids)} run(s) queued.")
            return
        self._wait(run_ids, timeout)

    def _wait(self, run_ids: list[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        reported: set[str] = set()
        runs: list[SyncRun] = []
        while True:
            runs = list(SyncRun.objects.filter(public_id__in=run_ids).select_related("service"))
            for run in runs:
                if not run.is_active and run.public_id not in reported:
                    reported.add(run.public_id)
                    self.stdout.write(self._line(run))
            active = [r for r in runs if r.is_active]
            if not active:
                break
            if time.monotonic() > deadline:
                self.stderr.write(f"Timed out with {len(active)} run(s) still active.")
                break
            time.sleep(0.5)
        ok = sum(1 for r in runs if r.status == SyncRun.Status.SUCCEEDED)
        failed = sum(1 for r in runs if r.status == SyncRun.Status.FAILED)
        totals = {
            "updated": sum(r.updated_count for r in runs),
            "unchanged": sum(r.unchanged_count for r in runs),
            "created": sum(r.created_count for r in runs),
            "skipped": sum(r.skipped_count for r in runs),
            "not reported": sum(r.not_reported_count for r in runs),
        }
        self.stdout.write(
            f"Summary: {ok} succeeded, {failed} failed, {len(runs) - ok - failed} unfinished; "
            + ", ".join(f"{v} {k}" for k, v in totals.items())
        )
        if failed:
            raise CommandError(f"{failed} run(s) failed.")

    def _line(self, run: SyncRun) -> str:
        if run.status == SyncRun.Status.SUCCEEDED:
            return (
                f"{run.service.public_id}: succeeded ({run.public_id}) — "
                f"{run.updated_count} updated, {run.unchanged_count} unchanged, "
                f"{run.created_count} created, {run.skipped_count} skipped, "
                f"{run.not_reported_count} not reported"
            )
        return (
            f"{run.service.public_id}: failed ({run.public_id}) — {run.error_category_label}: "
            f"{run.error_message}"
        )
