"""Exact numbers in and out: DecimalJSONRenderer and DecimalJSONParser."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from rest_framework.exceptions import ParseError

from core.api.parsers import DecimalJSONParser
from core.api.renderers import DecimalJSONRenderer


def render(data) -> bytes:
    return DecimalJSONRenderer().render(data, "application/json", {})


def parse(text: str):
    return DecimalJSONParser().parse(io.BytesIO(text.encode()), "application/json", {})


@pytest.mark.parametrize(
    ("value", "written"),
    [
        (Decimal("8400.00"), b"8400.00"),
        (Decimal("12500.75"), b"12500.75"),
        (Decimal("5000"), b"5000"),
        (Decimal("0.00000001"), b"0.00000001"),  # never "1E-8"
        (Decimal("0E-8"), b"0.00000000"),  # never "0E-8"
        (Decimal("1E+3"), b"1000"),
        (Decimal("99999999999999999999.99"), b"99999999999999999999.99"),
    ],
)
def test_decimals_are_written_as_bare_json_numbers_digit_for_digit(value, written):
    assert render({"amount": value}) == b'{"amount": ' + written + b"}"


def test_other_types_follow_drf():
    out = render({"at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "s": "é\u2028", "n": None})

    assert out == '{"at": "2026-01-02T03:04:05Z", "s": "é\\u2028", "n": null}'.encode()


def test_nan_is_never_written():
    with pytest.raises(ValueError):
        render({"amount": Decimal("NaN")})


def test_browsable_api_indentation_is_kept():
    out = DecimalJSONRenderer().render({"a": Decimal("1.50")}, "application/json; indent=2", {})
    assert out == b'{\n  "a": 1.50\n}'


def test_json_numbers_are_parsed_as_exact_decimals():
    data = parse('{"amount": 12.10, "big": 12345678901234567890.12345678, "n": 3}')

    assert data["amount"] == Decimal("12.10") and str(data["amount"]) == "12.10"
    assert data["big"] == Decimal("12345678901234567890.12345678")
    assert data["n"] == 3 and isinstance(data["n"], int)


@pytest.mark.parametrize("text", ['{"a": NaN}', '{"a": Infinity}', '{"a": -Infinity}', "{", "[1,]"])
def test_invalid_json_is_a_parse_error(text):
    with pytest.raises(ParseError):
        parse(text)


@pytest.mark.django_db
def test_drf_api_client_speaks_json_by_default(operator, service):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(operator)

    response = client.post(
        f"/api/v1/services/{service.public_id}/balances", {"currency": "USD", "amount": "0"}
    )

    assert response.status_code == 201
