"""Charts of the recommendation pages, drawn on the server as inline SVG (like the finance
pages): the model's holdout metrics against its baselines, and click-through by day."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from apps.recommendation.selectors import CtrDay

SERIES_COLOURS = ("#4f46e5", "#94a3b8", "#f59e0b")


@dataclass(frozen=True)
class MetricGroup:
    label: str  # "NDCG@10"
    values: tuple[float, ...]  # one per series


def metrics_chart(groups: Sequence[MetricGroup], series: Sequence[str]) -> SafeString:
    """Grouped horizontal bars, one group per metric, one bar per series (the model first),
    on a common 0..max scale with the values written at the bars' ends."""
    if not groups:
        return format_html('<p class="empty">{}</p>', _("No trained model yet."))
    left, width, bar, gap = 110, 640, 16, 14
    plot = width - left - 70
    peak = max((value for group in groups for value in group.values), default=0.0) or 1.0
    height = len(groups) * (len(series) * bar + gap) + 30
    parts: list[SafeString] = []
    y = 10
    for group in groups:
        parts.append(format_html('<text class="axis axis-title" x="{}" y="{}" '
                                 'text-anchor="end">{}</text>', left - 8,
                                 f"{y + len(series) * bar / 2 + 4:.1f}", group.label))
        for position, value in enumerate(group.values):
            length = max(value / peak * plot, 1.0)
            parts.append(format_html(
                '<rect x="{}" y="{}" width="{}" height="{}" fill="{}">'
                '<title>{}</title></rect>'
                '<text class="axis" x="{}" y="{}">{}</text>',
                left, y, f"{length:.1f}", bar - 3, SERIES_COLOURS[position % 3],
                _("%(series)s: %(metric)s %(value)s") % {
                    "series": series[position], "metric": group.label, "value": f"{value:.3f}"},
                f"{left + length + 5:.1f}", f"{y + bar - 6:.1f}", f"{value:.3f}"))
            y += bar
        y += gap
    legend = format_html_join("", '<rect x="{}" y="{}" width="10" height="10" fill="{}"/>'
                              '<text class="axis" x="{}" y="{}">{}</text>',
                              ((left + 150 * i, y, SERIES_COLOURS[i % 3], left + 150 * i + 14,
                                y + 9, name) for i, name in enumerate(series)))
    return format_html('<svg class="trend-chart" viewBox="0 0 {} {}" role="img" '
                       'aria-label="{}">{}{}</svg>', width, height,
                       _("Holdout metrics of the model against its baselines"),
                       format_html_join("", "{}", ((part,) for part in parts)), legend)


def ctr_chart(days: Sequence[CtrDay]) -> SafeString:
    """Click-through rate per day (bars), with impressions and clicks in each bar's tooltip."""
    if not any(day.impressions for day in days):
        return format_html('<p class="empty">{}</p>', _("No recommendations served yet."))
    left, width, height, bottom = 48, 720, 180, 150
    slot = (width - left - 10) / len(days)
    peak = max((day.ctr or 0.0) for day in days) or 1.0
    parts = [format_html('<line class="grid" x1="{}" x2="{}" y1="{}" y2="{}"/>'
                         '<text class="axis" x="{}" y="{}" text-anchor="end">{}</text>'
                         '<text class="axis" x="{}" y="{}" text-anchor="end">0%</text>',
                         left, width - 10, bottom, bottom, left - 6, 18, f"{peak:.0%}",
                         left - 6, bottom)]
    for position, day in enumerate(days):
        x = left + slot * position
        bar_height = (day.ctr or 0.0) / peak * (bottom - 14)
        parts.append(format_html(
            '<rect class="ctr-bar" x="{}" y="{}" width="{}" height="{}" fill="#4f46e5">'
            '<title>{}</title></rect>',
            f"{x + slot * 0.15:.1f}", f"{bottom - bar_height:.1f}", f"{slot * 0.7:.1f}",
            f"{bar_height:.1f}",
            _("%(day)s: %(impressions)d impressions, %(clicks)d clicks, CTR %(ctr)s") % {
                "day": day.day.isoformat(), "impressions": day.impressions,
                "clicks": day.clicks, "ctr": "–" if day.ctr is None else f"{day.ctr:.1%}"}))
    for position in (0, len(days) - 1):
        parts.append(format_html('<text class="axis" x="{}" y="{}" text-anchor="middle">{}'
                                 '</text>', f"{left + slot * (position + 0.5):.1f}", bottom + 16,
                                 date_format(days[position].day, _("j M"))))
    return format_html('<svg class="trend-chart" viewBox="0 0 {} {}" role="img" aria-label="{}">'
                       '{}</svg>', width, height, _("Click-through rate by day"),
                       format_html_join("", "{}", ((part,) for part in parts)))
