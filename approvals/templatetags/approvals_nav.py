"""The count of approval requests waiting, in the navigation (from the cache: no query)."""

from __future__ import annotations

from django import template

from approvals.queries import pending_count

register = template.Library()


@register.simple_tag
def pending_approval_count() -> int:
    return pending_count()
