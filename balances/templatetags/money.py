"""Amount formatting for templates: ``{% money value currency %}`` and ``value|amount:currency``.

Formatting is ours, not babel's: babel (and so ``str(Money)``) falls back to 2 decimals for
codes it does not know, such as USDT_TRC20.
"""

from __future__ import annotations

from decimal import Decimal

from django import template
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from balances import currencies

register = template.Library()


@register.filter
def amount(value: Decimal | None, currency: str) -> str:
    if value is None:
        return ""
    return currencies.format_amount(value, currency)


@register.simple_tag
def money(value: Decimal | None, currency: str, show_code: bool = False) -> str:
    if value is None:
        return mark_safe('<span class="amount muted">—</span>')  # noqa: S308 - constant
    text = currencies.format_amount(value, currency)
    classes = "amount negative" if value < 0 else "amount"
    if show_code:
        return format_html('<span class="{}">{} <span class="code">{}</span></span>', classes, text, currency)
    return format_html('<span class="{}">{}</span>', classes, text)


@register.filter
def currency_name(code: str) -> str:
    try:
        return currencies.get(code).name
    except currencies.AmountError:
        return code
