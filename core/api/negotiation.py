"""Content negotiation: DRF's, except that a ``?format=`` the endpoint cannot answer is a 406
in the error envelope (DRF answers it with a bare 404, as if the resource did not exist).
An ``Accept`` header the endpoint cannot satisfy is DRF's 406, in the envelope too.

What nearly every REST client sends (no ``Accept``, ``*/*`` or the first renderer's own media
type, and no ``?format=``) is answered without DRF's parse of the header: DRF's choice in
that case is always the first renderer with its own media type (tests/core/api hold the two
equal)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rest_framework import exceptions
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer


class ApiContentNegotiation(DefaultContentNegotiation):
    def select_renderer(
        self, request: Any, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        renderers = list(renderers)
        if renderers and not format_suffix:
            first = renderers[0]
            accept = request.headers.get("Accept")
            if (
                accept is None or accept == "*/*" or accept == first.media_type
            ) and self.settings.URL_FORMAT_OVERRIDE not in request.query_params:
                return first, str(first.media_type)
        return super().select_renderer(request, renderers, format_suffix)

    def filter_renderers(
        self, renderers: Iterable[BaseRenderer], format: str
    ) -> list[BaseRenderer]:
        renderers = list(renderers)
        matching = [renderer for renderer in renderers if renderer.format == format]
        if not matching:
            # "api" is the browsable API, reached with a browser's Accept, not by name.
            offered = ", ".join(sorted({str(r.format) for r in renderers} - {"api"}))
            raise exceptions.NotAcceptable(
                f"format: this endpoint answers {offered}, not {format[:20]}."
            )
        return matching
