"""``/favicon.ico``: browsers ask for it at the root whatever the page links to; answer with
the icon (static/favicon.ico) rather than a 404 in every console."""

from __future__ import annotations

from functools import cache

from django.contrib.staticfiles import finders
from django.contrib.staticfiles.storage import staticfiles_storage
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_safe

NAME = "favicon.ico"


@cache
def _icon() -> bytes:
    # The source file when finders serve static files; the collected one otherwise.
    found = finders.find(NAME)
    if found:
        with open(found, "rb") as handle:
            return handle.read()
    with staticfiles_storage.open(NAME) as handle:
        return handle.read()


@require_safe
@cache_control(public=True, max_age=86400)
def favicon(request: HttpRequest) -> HttpResponse:
    return HttpResponse(_icon(), content_type="image/x-icon")
