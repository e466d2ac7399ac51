"""``{% chart chart %}``: a ``core.charts.Chart`` as inline SVG with its legend and its table
alternative; ``{% chart_periods periods label %}``: the window links above the charts."""

from __future__ import annotations

from typing import Any

from django import template

from core.charts import Chart, Period

register = template.Library()


@register.inclusion_tag("charts/chart.html")
def chart(chart: Chart, heading_level: int = 3) -> dict[str, Any]:
    return {"chart": chart, "heading_level": heading_level}


@register.inclusion_tag("charts/periods.html")
def chart_periods(periods: list[Period], label: str) -> dict[str, Any]:
    return {"periods": periods, "label": label}
