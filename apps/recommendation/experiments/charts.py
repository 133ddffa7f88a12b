"""The experiment page's chart, drawn on the server as inline SVG like the other
recommendation charts: each arm's rate with its Wilson 95% interval, per metric."""

from __future__ import annotations

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from apps.recommendation.experiments.selectors import Results
from apps.recommendation.experiments.stats import Proportion

ARM_COLOURS = {"a": "#94a3b8", "b": "#4f46e5"}


def intervals_chart(results: Results) -> SafeString:
    """One row per (metric, arm): the interval as a bar, the rate as a dot, on a common
    0..max scale."""
    if not any(arm.lists for arm in results.arms):
        return format_html('<p class="empty">{}</p>', _("No lists served in this experiment "
                                                        "yet."))
    rows: list[tuple[str, str, Proportion]] = []
    for label, pick in ((_("CTR"), "ctr"), (_("Conversion"), "conversion")):
        rows += [(label, arm.arm, getattr(arm, pick)) for arm in results.arms]
    left, width, row_height = 150, 640, 26
    plot = width - left - 90
    peak = max(proportion.high for _, _, proportion in rows) or 1.0
    parts: list[SafeString] = []
    for position, (label, arm, proportion) in enumerate(rows):
        y = 10 + position * row_height
        x_low, x_high = left + proportion.low / peak * plot, left + proportion.high / peak * plot
        rate = proportion.rate
        text = (_("%(metric)s, arm %(arm)s: %(rate)s (95%%: %(low)s–%(high)s)")
                % {"metric": label, "arm": arm.upper(),
                   "rate": "–" if rate is None else f"{rate:.2%}",
                   "low": f"{proportion.low:.2%}", "high": f"{proportion.high:.2%}"})
        parts.append(format_html(
            '<text class="axis axis-title" x="{}" y="{}" text-anchor="end">{} · {}</text>'
            '<rect class="interval" x="{}" y="{}" width="{}" height="8" fill="{}" '
            'opacity="0.45"><title>{}</title></rect>',
            left - 8, y + 9, label, arm.upper(), f"{x_low:.1f}", y + 2,
            f"{max(x_high - x_low, 1.0):.1f}", ARM_COLOURS[arm], text))
        if rate is not None:
            parts.append(format_html(
                '<circle cx="{}" cy="{}" r="5" fill="{}"><title>{}</title></circle>'
                '<text class="axis" x="{}" y="{}">{}</text>',
                f"{left + rate / peak * plot:.1f}", y + 6, ARM_COLOURS[arm], text,
                f"{x_high + 8:.1f}", y + 10, f"{rate:.2%}"))
    height = 20 + len(rows) * row_height
    return format_html('<svg class="trend-chart" viewBox="0 0 {} {}" role="img" '
                       'aria-label="{}" data-testid="intervals-chart">{}</svg>', width, height,
                       _("Each arm's rates with their %(level)s confidence intervals")
                       % {"level": "95%"},
                       format_html_join("", "{}", ((part,) for part in parts)))
