"""The usage chart of the usage page, drawn on the server as inline SVG (like the finance
charts): cumulative usage per day over the period, the included quantity and the hard limit
as horizontal lines, and the projection to the period's end dashed.

The scale is the data's (usage and projection, rounded up to a round number), not the plan's:
a Pro plan's 100,000,000-call limit used to set the scale and flatten 2,500 calls onto the
axis. A plan line is drawn, and widens the scale, only when it is within ``IN_RANGE`` times
the data's top; a farther one is named at the top of the chart ("above the chart")."""

from __future__ import annotations

import math
from datetime import date
from decimal import Decimal

from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from billing.numbers import byte_size
from billing.selectors import MeterSummary

# A plan line at most this many times the data's top is drawn (and widens the scale).
IN_RANGE = 2.0

WIDTH, HEIGHT = 760.0, 260.0
LEFT, RIGHT, TOP, BOTTOM = 64.0, 16.0, 14.0, 28.0


def _n(value: float) -> str:
    return f"{value:.1f}"


def _amount(value: float, *, is_bytes: bool = False) -> str:
    if is_bytes:
        return byte_size(Decimal(str(round(value))))
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.3g}{suffix}"
    return f"{value:.3g}"


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 × 10ⁿ at or above ``value`` (an axis that reads well)."""
    if value <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude * (1 + 1e-9):
            return step * magnitude
    return 10 * magnitude


def usage_chart(summary: MeterSummary, *, today: date) -> SafeString:
    days = [day for day, _ in summary.daily]
    if not days:
        return format_html('<p class="empty">{}</p>', _("No days in this range."))
    levels: list[float] = []
    running = Decimal(0)
    for day, quantity in summary.daily:
        if day > today:
            break
        # A gauge (storage) is a level: its line is the day's value, not a running sum.
        running = quantity if summary.is_gauge else running + quantity
        levels.append(float(running))
    # (css name, value, label); one line when the limit is what is included (Free).
    marks: list[tuple[str, float, str]] = []
    if summary.limit is not None and summary.limit == summary.included:
        marks.append(("limit", float(summary.limit), _("included = limit")))
    else:
        if summary.included:
            marks.append(("included", float(summary.included), _("included")))
        if summary.limit is not None:
            marks.append(("limit", float(summary.limit), _("limit")))
    data_top = max([*levels, float(summary.projected), 0.0])
    in_range = [mark for mark in marks if mark[1] <= IN_RANGE * max(data_top, 1.0)]
    off_scale = [mark for mark in marks if mark not in in_range]
    peak = nice_ceiling(max([data_top, *(mark[1] for mark in in_range), 1.0]))
    is_bytes = summary.is_bytes

    def amount(value: float) -> str:
        return _amount(value, is_bytes=is_bytes)

    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_width / max(len(days) - 1, 1)

    def x(position: int) -> float:
        return LEFT + step * position

    def y(value: float) -> float:
        return TOP + (1 - value / peak) * plot_height

    parts = []
    for fraction in (0, 0.25, 0.5, 0.75, 1):
        level = peak * fraction
        parts.append(format_html(
            '<line class="grid" x1="{}" x2="{}" y1="{}" y2="{}"/>'
            '<text class="axis" x="{}" y="{}" text-anchor="end">{}</text>',
            LEFT, WIDTH - RIGHT, _n(y(level)), _n(y(level)), LEFT - 6, _n(y(level) + 4),
            amount(level)))
    for position, (name, value, text) in enumerate(off_scale):
        parts.append(format_html(
            '<text class="axis" data-testid="usage-{}-off-scale" x="{}" y="{}" '
            'text-anchor="end">{}</text>',
            name, WIDTH - RIGHT, _n(TOP + 10 + 14 * position),
            _("%(line)s %(amount)s (above the chart)") % {"line": text, "amount": amount(value)}))
    for name, value, text in in_range:
        parts.append(format_html(
            '<line class="usage-{}" data-testid="usage-{}" x1="{}" x2="{}" y1="{}" y2="{}"/>'
            '<text class="axis" x="{}" y="{}" text-anchor="end">{}</text>',
            name, name, LEFT, WIDTH - RIGHT, _n(y(value)), _n(y(value)), WIDTH - RIGHT,
            _n(y(value) - 4), f"{text} {amount(value)}"))
    if levels:
        path = " L".join(f"{x(position):.1f},{y(level):.1f}"
                         for position, level in enumerate(levels))
        parts.append(format_html('<path class="usage-line" d="M{}"/>', path))
        last = len(levels) - 1
        if last < len(days) - 1:
            parts.append(format_html(
                '<path class="usage-projection" data-testid="usage-projection" '
                'd="M{},{} L{},{}"/>', _n(x(last)), _n(y(levels[-1])), _n(x(len(days) - 1)),
                _n(y(float(summary.projected)))))
        for position, level in enumerate(levels):
            parts.append(format_html(
                '<circle class="usage-point" cx="{}" cy="{}" r="2.5"><title>{}: {}</title>'
                "</circle>", _n(x(position)), _n(y(level)),
                date_format(days[position], "MONTH_DAY_FORMAT"), amount(level)))
    for position in sorted({0, len(days) // 2, len(days) - 1}):
        anchor = "start" if position == 0 else "end" if position == len(days) - 1 else "middle"
        parts.append(format_html('<text class="axis" x="{}" y="{}" text-anchor="{}">{}</text>',
                                 _n(x(position)), _n(HEIGHT - 8), anchor,
                                 date_format(days[position], "MONTH_DAY_FORMAT")))
    label = _("%(meter)s: %(used)s used so far, projected %(projected)s by %(day)s") % {
        "meter": summary.label, "used": summary.used_display,
        "projected": summary.projected_display,
        "day": date_format(days[-1], "MONTH_DAY_FORMAT")}
    return format_html(
        '<svg class="usage-chart trend-chart" viewBox="0 0 {} {}" role="img" aria-label="{}" '
        'data-testid="usage-chart" data-meter="{}" data-points="{}" data-scale="{}">{}</svg>',
        _n(WIDTH), _n(HEIGHT), label, summary.meter, len(levels), f"{peak:g}",
        mark_safe("".join(parts)),  # noqa: S308 (each part built by format_html)
    )
