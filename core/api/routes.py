"""URL helper: each API route answers with and without a trailing slash, without redirects
(a redirected POST would lose its body).  The published paths have no slash."""

from __future__ import annotations

from typing import Any

from django.urls import URLPattern, path


def api_path(route: str, view: Any, name: str) -> list[URLPattern]:
    route = route.rstrip("/")
    return [path(route, view, name=name), path(f"{route}/", view)]
