"""Strict, exact JSON decoding for every door that reads JSON: the API and provider responses.

* numbers keep every digit: a fraction or exponent literal becomes a :class:`JsonNumber`
  (a ``Decimal`` that remembers how it was written, so that the amount parser can refuse an
  exponent), never a float; a literal no decimal context can hold is refused;
* a key given twice in one object is refused (``{"amount": "1", "amount": "999"}`` must not
  silently mean 999);
* nesting deeper than ``MAX_DEPTH`` is refused before the decoder recurses;
* NUL characters are refused anywhere (PostgreSQL cannot store them in text);
* NaN and Infinity are not JSON and are refused.

And for writing: :func:`decimal_literal` writes a ``Decimal`` as a plain JSON number
(``0.00000000``, never ``0E-8``; ``1000``, never ``1E+3``).

Every refusal is a :class:`JsonError` whose message names no part of the input beyond a
position, so a secret in a body is never echoed.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation
from typing import Any, NoReturn

import simplejson

MAX_DEPTH = 32
# An exact amount needs at most a few dozen characters; a longer literal is an attack or a bug.
MAX_NUMBER_LENGTH = 64

_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_BRACKETS = re.compile(r"[\[\]{}]")


class JsonError(ValueError):
    """The text is not JSON we accept; the message says why, for the client."""


class JsonNumber(Decimal):
    """A JSON number literal with a fraction or an exponent, decoded exactly.

    ``written`` is the literal as sent, so ``1e5`` can be told from ``100000``.
    """

    written: str

    def __new__(cls, literal: str) -> JsonNumber:
        if len(literal) > MAX_NUMBER_LENGTH:
            raise JsonError(f"A number is longer than {MAX_NUMBER_LENGTH} characters.")
        try:
            value = super().__new__(cls, literal)
        except (InvalidOperation, ValueError):
            raise JsonError("A number cannot be represented exactly.") from None
        if not value.is_finite():
            raise JsonError("A number cannot be represented exactly.")
        value.written = literal
        return value

    @property
    def has_exponent(self) -> bool:
        return "e" in self.written.lower()


def _int(literal: str) -> int:
    if len(literal) > MAX_NUMBER_LENGTH:
        raise JsonError(f"A number is longer than {MAX_NUMBER_LENGTH} characters.")
    return int(literal)


def _refuse_constant(name: str) -> NoReturn:
    raise JsonError(f"{name} is not a valid JSON number.")


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise JsonError(f"The key {key[:40]!r} appears twice in one object.")
        result[key] = value
    return result


def _check_depth(text: str) -> None:
    depth = 0
    for match in _BRACKETS.finditer(_STRINGS.sub('""', text)):
        depth += 1 if match.group() in "[{" else -1
        if depth > MAX_DEPTH:
            raise JsonError(f"The JSON is nested deeper than {MAX_DEPTH} levels.")


def _check_nul(value: Any) -> None:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise JsonError("NUL characters are not allowed.")
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def loads(text: str | bytes) -> Any:
    """Decode ``text`` (str, or UTF-8 bytes) strictly and exactly; raise :class:`JsonError`."""
    if isinstance(text, bytes | bytearray):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError:
            raise JsonError("The body is not valid UTF-8.") from None
    _check_depth(text)
    try:
        value = json.loads(
            text,
            parse_float=JsonNumber,
            parse_int=_int,
            parse_constant=_refuse_constant,
            object_pairs_hook=_object,
        )
    except JsonError:
        raise
    except RecursionError:
        raise JsonError(f"The JSON is nested deeper than {MAX_DEPTH} levels.") from None
    except ValueError as exc:
        # json's messages give a position, never the content.
        raise JsonError(f"Not valid JSON ({exc}).") from None
    _check_nul(value)
    return value


def decimal_literal(value: Decimal) -> simplejson.RawJSON:
    """``value`` as a JSON number digit for digit, without an exponent: ``str()`` (what
    simplejson's ``use_decimal`` writes) gives ``0E-8`` for a zero with 8 places.  For a
    simplejson ``default=``; a non-finite value is refused, it is not JSON."""
    if not value.is_finite():
        raise ValueError(f"{value} is not a JSON number.")
    return simplejson.RawJSON(format(value, "f"))
