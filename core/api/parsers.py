"""JSON input with exact numbers: ``12.10`` becomes ``Decimal("12.10")``, never a float.

An amount sent as a JSON number therefore reaches the amount parser with every digit the
client wrote, so "too precise for the currency" can be refused instead of silently rounded.
Decoding is :mod:`core.exactjson`'s (duplicate keys, deep nesting, NUL characters and numbers
no decimal context can hold are a 400 ``parse_error``); a charset other than UTF-8 is a 415 and
a body over ``API_MAX_BODY_BYTES`` a 413.
"""

from __future__ import annotations

import codecs
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError, UnsupportedMediaType
from rest_framework.parsers import JSONParser

from core import exactjson
from core.api.renderers import DecimalJSONRenderer

# RFC 8259: JSON exchanged between systems is UTF-8 (ASCII is a subset).
_ACCEPTED_CHARSETS = {"utf-8", "ascii"}


class BodyTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "body_too_large"
    default_detail = "The request body is too large."


def _charset_ok(encoding: str) -> bool:
    try:
        return codecs.lookup(encoding).name in _ACCEPTED_CHARSETS
    except (LookupError, ValueError):
        return False


class DecimalJSONParser(JSONParser):
    renderer_class = DecimalJSONRenderer

    def parse(
        self,
        stream: Any,
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        encoding = (parser_context or {}).get("encoding") or settings.DEFAULT_CHARSET
        if not _charset_ok(encoding):
            raise UnsupportedMediaType(
                media_type or "application/json",
                detail="JSON bodies must be UTF-8; drop the charset parameter or use utf-8.",
            )
        limit = settings.API_MAX_BODY_BYTES
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise BodyTooLarge(f"The request body is over {limit} bytes.")
        try:
            return exactjson.loads(raw)
        except exactjson.JsonError as exc:
            raise ParseError(f"The request body is not valid JSON: {exc}") from None
