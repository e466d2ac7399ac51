from __future__ import annotations

app_name = "sync_runs"

urlpatterns: list = []
