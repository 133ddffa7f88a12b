"""The bot's resolution chart, drawn on the server as inline SVG like the finance and
recommendation charts: daily rates (0-100 %) as lines above the conversations per day as
bars, on the dated x axis every chart shares (``dashboard.charts.date_axis``). A day without
conversations has no rate, so it breaks the lines instead of being drawn as zero."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from apps.support_bot.analytics import Figures
from dashboard.charts import date_axis

LEFT, RIGHT, TOP, WIDTH = 44.0, 12.0, 12.0, 760.0
LINES_HEIGHT, GAP, BARS_HEIGHT, BOTTOM = 160.0, 28.0, 56.0, 24.0
COLOURS = ("#4f46e5", "#16a34a", "#f59e0b", "#db2777")


def _path(xs: Sequence[float], values: Sequence[float | None]) -> str:
    runs: list[list[str]] = [[]]
    for x, value in zip(xs, values, strict=True):
        if value is None:
            runs.append([])
            continue
        runs[-1].append(f"{x:.1f},{TOP + (1 - value) * LINES_HEIGHT:.1f}")
    return " ".join("M" + " L".join(run) for run in runs if run)


def resolution_chart(per_day: Sequence[tuple[date, Figures]],
                     series: Sequence[tuple[str, str]]) -> SafeString:
    """``series``: ``(Figures attribute, label)`` of the rates to draw, e.g.
    ``("automation_rate", "Automation")``."""
    if not any(figures.conversations for _day, figures in per_day):
        return format_html('<p class="empty">{}</p>', _("No conversations in this range."))
    slot = (WIDTH - LEFT - RIGHT) / len(per_day)
    xs = [LEFT + slot * (position + 0.5) for position in range(len(per_day))]
    bars_top = TOP + LINES_HEIGHT + GAP
    height = bars_top + BARS_HEIGHT + BOTTOM
    parts: list[SafeString] = []
    for level in (1.0, 0.5, 0.0):
        y = TOP + (1 - level) * LINES_HEIGHT
        parts.append(format_html('<line class="grid" x1="{}" x2="{}" y1="{}" y2="{}"/>'
                                 '<text class="axis" x="{}" y="{}" text-anchor="end">{}</text>',
                                 LEFT, WIDTH - RIGHT, f"{y:.1f}", f"{y:.1f}", LEFT - 6,
                                 f"{y + 4:.1f}", f"{level:.0%}"))
    for position, (attribute, _label) in enumerate(series):
        values = [getattr(figures, attribute) for _day, figures in per_day]
        drawn = _path(xs, values)
        if drawn:
            parts.append(format_html('<path d="{}" fill="none" stroke="{}" stroke-width="2" '
                                     'data-series="{}"/>', drawn,
                                     COLOURS[position % len(COLOURS)], attribute))
    peak = max(figures.conversations for _day, figures in per_day)
    bottom = bars_top + BARS_HEIGHT
    for x, (day, figures) in zip(xs, per_day, strict=True):
        bar = figures.conversations / peak * BARS_HEIGHT
        parts.append(format_html(
            '<rect class="volume-bars" x="{}" y="{}" width="{}" height="{}"><title>{}</title>'
            "</rect>", f"{x - slot * 0.35:.1f}", f"{bottom - bar:.1f}", f"{slot * 0.7:.1f}",
            f"{bar:.1f}", _("%(day)s: %(conversations)d conversations, %(resolved)s resolved, "
                            "%(automated)s automated") % {
                "day": date_format(day, _("j M Y")), "conversations": figures.conversations,
                "resolved": _percent(figures.resolution_rate),
                "automated": _percent(figures.automation_rate)}))
    parts.append(format_html('<text class="axis" x="{}" y="{}" text-anchor="end">{}</text>',
                             LEFT - 6, f"{bars_top + 8:.1f}", peak))
    parts.extend(date_axis(xs, [day for day, _figures in per_day], y=height - 6,
                           label=lambda day: date_format(day, _("j M"))))
    legend = format_html_join(
        "", '<span class="legend-item"><i style="background: {}"></i>{}</span>',
        ((COLOURS[position % len(COLOURS)], label)
         for position, (_attribute, label) in enumerate(series)))
    return format_html(
        '<svg class="trend-chart" viewBox="0 0 {} {}" role="img" aria-label="{}" '
        'data-testid="resolution-chart">{}</svg><p class="chart-legend small muted">{}</p>',
        f"{WIDTH:.0f}", f"{height:.0f}",
        _("Daily rates and conversations per day, %(first)s to %(last)s") % {
            "first": date_format(per_day[0][0], _("j M Y")),
            "last": date_format(per_day[-1][0], _("j M Y"))},
        format_html_join("", "{}", ((part,) for part in parts)), legend)


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"
