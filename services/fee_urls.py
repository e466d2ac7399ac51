from __future__ import annotations

app_name = "fee_profiles"

urlpatterns: list = []
