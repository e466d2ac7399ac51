"""Plain words for stored labels and keys (core/plain.py), in templates.

* ``{{ label|actor }}``: "Finix sync" for ``sync:finix``, "payout po_1" for ``payout:po_1``.
* ``{% actor_link label service_id %}``: the same, with the payout linked when the viewer
  may see payouts.
* ``{{ name|field_label }}``: a stored key as a label ("API key" for ``apiKey``).
* ``{{ entry.changes|change_sentences }}``: an audit entry's changes as sentences.
* ``{{ c.providerFigures|figure_items }}``: a provider's other figures as (label, text) pairs.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html

from core import plain

register = template.Library()


@register.filter
def actor(label: str) -> str:
    return plain.actor_text(label)


@register.simple_tag(takes_context=True)
def actor_link(context: template.Context, label: str, service_id: str = "") -> str:
    payout_id = plain.actor_payout_id(label)
    request = context.get("request")
    may_see = request is not None and request.user.has_perm("payouts.view_payout")
    if payout_id and service_id and may_see:
        try:
            url = reverse("payouts:detail", args=[service_id, payout_id])
        except NoReverseMatch:
            return plain.actor_text(label)
        return format_html('payout <a href="{}" class="mono">{}</a>', url, payout_id)
    return plain.actor_text(label)


@register.filter
def field_label(name: str) -> str:
    """``apiKey`` -> "API key", ``base_url`` -> "Base URL"."""
    return plain.field_label(name)


@register.filter
def change_sentences(changes: Any) -> list[str]:
    return plain.change_sentences(changes if isinstance(changes, dict) else {})


@register.filter
def figure_items(extras: Any) -> list[tuple[str, str]]:
    return plain.figure_items(extras if isinstance(extras, dict) else {})
