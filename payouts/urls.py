from __future__ import annotations

app_name = "payouts"

urlpatterns: list = []
