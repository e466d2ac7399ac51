from __future__ import annotations

app_name = "provider"

urlpatterns: list = []
