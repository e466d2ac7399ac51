"""Amount formatting for templates: ``{% money value currency %}`` and ``value|amount:currency``.

Formatting is ours, not babel's: babel (and so ``str(Money)``) falls back to 2 decimals for
codes it does not know, such as USDT_TRC20.
"""

from __future__ import annotations

from decimal import Decimal

from django import template
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from core.money import currencies

register = template.Library()


@register.filter
def amount(value: Decimal | None, currency: str) -> str:
    if value is None:
        return ""
    return currencies.format_amount(value, currency)


def _decimal(value: object) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, Decimal):
        return value
    try:
        return Decimal(str(value))
    except ArithmeticError:
        return None


@register.simple_tag
def money(value: Decimal | str | None, currency: str, show_code: bool = False) -> str:
    """Amounts from JSON results arrive as strings; they are parsed exactly."""
    value = _decimal(value)
    if value is None:
        return mark_safe('<span class="amount muted">—</span>')
    text = currencies.format_amount(value, currency)
    classes = "amount negative" if value < 0 else "amount"
    if show_code:
        return format_html(
            '<span class="{}">{} <span class="code">{}</span></span>', classes, text, currency
        )
    return format_html('<span class="{}">{}</span>', classes, text)


@register.filter
def currency_name(code: str) -> str:
    try:
        return currencies.get(code).name
    except currencies.AmountError:
        return code


@register.filter
def words(value: str) -> str:
    """``not_reported`` -> ``not reported``."""
    return str(value).replace("_", " ")


@register.simple_tag
def signed_money(value: Decimal | None, currency: str) -> str:
    """A change of an amount: ``+10.00``, minus 2.50 (with a minus sign), ``0.00``; a dash
    when there is none."""
    if value is None:
        return mark_safe('<span class="amount muted">—</span>')
    text = currencies.format_amount(abs(value), currency)
    if value > 0:
        return format_html('<span class="amount positive">+{}</span>', text)
    if value < 0:
        return format_html('<span class="amount negative">\u2212{}</span>', text)
    return format_html('<span class="amount">{}</span>', text)
