"""The count of open alerts in the navigation (one COUNT, only for those who may see it)."""

from __future__ import annotations

from django import template

from alerts.queries import open_alert_count as _open_alert_count

register = template.Library()


@register.simple_tag
def open_alert_count() -> int:
    return _open_alert_count()
