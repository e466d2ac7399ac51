from __future__ import annotations

app_name = "account"

urlpatterns: list = []
