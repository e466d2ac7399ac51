"""Content negotiation: DRF's, except that a ``?format=`` the endpoint cannot answer is a 406
in the error envelope (DRF answers it with a bare 404, as if the resource did not exist).
An ``Accept`` header the endpoint cannot satisfy is DRF's 406, in the envelope too."""

from __future__ import annotations

from collections.abc import Iterable

from rest_framework import exceptions
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer


class ApiContentNegotiation(DefaultContentNegotiation):
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
