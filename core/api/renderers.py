"""JSON output that writes ``Decimal`` values as JSON numbers, digit for digit.

DRF's encoder turns a Decimal into a float (``8400.00`` would come out as ``8400.0``, and
large or precise amounts would be rounded).  A Decimal is written as a bare number with
exactly its digits instead (never with an exponent, as ``str()`` would write ``0E-8``), so the
serializers control the exact digits: ``Decimal("8400.00")`` is written ``8400.00``,
``Decimal("5000")`` ``5000``, ``Decimal("0.00000000")`` ``0.00000000``.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import simplejson
from rest_framework.compat import INDENT_SEPARATORS, LONG_SEPARATORS, SHORT_SEPARATORS
from rest_framework.renderers import JSONRenderer
from rest_framework.utils.encoders import JSONEncoder

from core.exactjson import decimal_literal

_fallback = JSONEncoder()  # dates, UUIDs, lazy strings...: DRF's rules, minus Decimal


def _default(value: Any) -> Any:
    return decimal_literal(value) if isinstance(value, Decimal) else _fallback.default(value)


class DecimalJSONRenderer(JSONRenderer):
    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        if data is None:
            return b""
        indent = self.get_indent(accepted_media_type or "", renderer_context or {})
        text = simplejson.dumps(
            data,
            use_decimal=False,  # Decimals go to _default, written without an exponent
            default=_default,
            indent=indent,
            # COMPACT_JSON off: '"amount": 8400.00' as in the published example.
            separators=(
                (SHORT_SEPARATORS if self.compact else LONG_SEPARATORS)
                if indent is None
                else INDENT_SEPARATORS
            ),
            ensure_ascii=False,
            # NaN and Infinity are not JSON; an amount is always finite.
            allow_nan=False,
        )
        # Keep the output a strict JavaScript subset, as DRF does.
        return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").encode()
