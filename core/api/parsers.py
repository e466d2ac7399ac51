"""JSON input with exact numbers: ``12.10`` becomes ``Decimal("12.10")``, never a float.

An amount sent as a JSON number therefore reaches ``currencies.parse_amount`` with every
digit the client wrote, so "too precise for the currency" can be refused instead of silently
rounded.  NaN and Infinity are not JSON and are refused.
"""

from __future__ import annotations

import codecs
import json
from decimal import Decimal
from typing import Any, NoReturn

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from core.api.renderers import DecimalJSONRenderer


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a valid JSON number")


class DecimalJSONParser(JSONParser):
    renderer_class = DecimalJSONRenderer

    def parse(
        self,
        stream: Any,
        media_type: str | None = None,
        parser_context: dict[str, Any] | None = None,
    ) -> Any:
        encoding = (parser_context or {}).get("encoding") or settings.DEFAULT_CHARSET
        try:
            text = codecs.getreader(encoding)(stream).read()
            return json.loads(text, parse_float=Decimal, parse_constant=_refuse_constant)
        except (ValueError, UnicodeDecodeError) as exc:
            # The position helps a client find its mistake; the body itself is not echoed.
            raise ParseError(f"The request body is not valid JSON ({exc}).") from None
