"""The amount form field and the parser of amounts typed by operators."""

from __future__ import annotations

import re
from decimal import Decimal

from django import forms

from core.money import currencies

_GROUPED = re.compile(r"^[-+]?\d{1,3}(,\d{3})+(\.\d+)?$", re.ASCII)


def ungrouped(raw: object) -> str:
    """A figure as an operator types it, made plain: spaces and a typographic minus, and
    commas only where they group thousands ("12,500.75"); any other comma ("2.000,00",
    "1,2,3.45") is left for the parser to refuse, never guessed away."""
    text = str(raw or "").strip().replace("\u2212", "-").replace(" ", "").replace("\u00a0", "")
    return text.replace(",", "") if _GROUPED.match(text) else text


def parse_user_amount(raw: str, currency: str) -> Decimal:
    """An amount typed by an operator: spaces, a typographic minus and thousands commas
    ("12,500.75") are accepted; precision is checked, never rounded."""
    text = ungrouped(raw)
    if "," in text:
        raise currencies.AmountError("Use a point as the decimal separator, e.g. 1250.50.")
    return currencies.parse_amount(text, currency)


class AmountField(forms.CharField):
    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 40)
        super().__init__(**kwargs)
        self.widget.attrs.update({"inputmode": "decimal", "autocomplete": "off", "class": "mono"})
