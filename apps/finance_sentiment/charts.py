"""Charts of the finance pages, drawn on the server as inline SVG: no JavaScript, nothing to
download, and they print. The sentiment index lives in [−1, 1], so its scale is fixed; empty
buckets (index None) break the line rather than being drawn as zero.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from apps.finance_sentiment.models import Granularity
from apps.finance_sentiment.selectors import TrendPoint
from apps.finance_sentiment.topic_selectors import TopicMix
from dashboard.charts import date_axis

# Above this many buckets, per-point markers (with their tooltips) would only add weight.
MAX_MARKERS = 240


def _n(value: float) -> str:
    """A coordinate for SVG (``format_html`` escapes its arguments to strings first, so numbers
    are formatted before they are passed)."""
    return f"{value:.1f}"


def _segments(xs: Sequence[float], values: Sequence[float | None],
              to_y: Callable[[float], float]) -> list[list[tuple[float, float]]]:
    """Runs of consecutive non-empty points, each a list of (x, y)."""
    runs: list[list[tuple[float, float]]] = [[]]
    for x, value in zip(xs, values, strict=True):
        if value is None:
            if runs[-1]:
                runs.append([])
            continue
        runs[-1].append((x, to_y(value)))
    return [run for run in runs if run]


def _path(runs: list[list[tuple[float, float]]]) -> str:
    return " ".join("M" + " L".join(f"{x:.1f},{y:.1f}" for x, y in run) for run in runs)


def _tone(value: float | None) -> str:
    if value is None:
        return "is-empty"
    return "is-positive" if value > 0.05 else "is-negative" if value < -0.05 else "is-neutral"


def sparkline(values: Sequence[float | None], *, width: int = 120, height: int = 32) -> SafeString:
    """A small line of daily index values (oldest first) around a zero baseline."""
    pad = 3.0
    step = (width - 2 * pad) / max(len(values) - 1, 1)
    xs = [pad + step * position for position in range(len(values))]

    def to_y(value: float) -> float:
        return pad + (1 - (value + 1) / 2) * (height - 2 * pad)

    runs = _segments(xs, values, to_y)
    drawn = sum(1 for value in values if value is not None)
    last = next(((x, value) for x, value in zip(reversed(xs), reversed(values), strict=True)
                 if value is not None), None)
    parts = [format_html('<line class="spark-zero" x1="0" x2="{}" y1="{}" y2="{}"/>',
                         width, _n(to_y(0)), _n(to_y(0)))]
    if runs:
        parts.append(format_html('<path class="spark-line" d="{}"/>', _path(runs)))
    if last is not None:
        parts.append(format_html('<circle class="spark-dot {}" cx="{}" cy="{}" r="2.5"/>',
                                 _tone(last[1]), _n(last[0]), _n(to_y(last[1]))))
    label = (_("No scored documents in the last 7 days") if not drawn else
             _("Daily sentiment index, last 7 days: %(values)s") % {"values": ", ".join(
                 "—" if value is None else f"{value:+.2f}" for value in values)})
    return format_html(
        '<svg class="sparkline" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" '
        'aria-label="{label}" data-points="{drawn}">{body}</svg>',
        w=width, h=height, label=label, drawn=drawn, body=mark_safe("".join(parts)),  # noqa: S308
    )


@dataclass(frozen=True)
class _Frame:
    left: float = 44
    right: float = 12
    top: float = 12
    line_height: float = 190
    gap: float = 40
    bars_height: float = 64
    bottom: float = 24
    width: float = 760

    @property
    def plot_width(self) -> float:
        return self.width - self.left - self.right

    @property
    def bars_top(self) -> float:
        return self.top + self.line_height + self.gap

    @property
    def height(self) -> float:
        return self.bars_top + self.bars_height + self.bottom


# Dates in the active language's order and month names: the formats are translated (Django's
# date format characters), the month names come from Django's own catalogs.
def _bucket_label(moment: datetime, granularity: str) -> str:
    return (date_format(moment, _("j M Y")) if granularity == Granularity.DAY
            else date_format(moment, _("j M H:00")) + " UTC")


def _tick_label(moment: datetime, granularity: str, span_days: float) -> str:
    if granularity == Granularity.HOUR and span_days <= 2:
        return f"{moment:%H:00}"
    return date_format(moment, _("j M"))


def trend_chart(points: Sequence[TrendPoint], *, granularity: str) -> SafeString:
    """The index over time (top) above the volume per bucket (bars, bottom)."""
    frame = _Frame()
    count = len(points)
    if not count:
        return format_html('<p class="empty">{}</p>', _("No buckets in this range."))
    slot = frame.plot_width / count
    xs = [frame.left + slot * (position + 0.5) for position in range(count)]

    def to_y(value: float) -> float:
        return frame.top + (1 - (value + 1) / 2) * frame.line_height

    parts: list[str] = []
    for level in (1, 0.5, 0, -0.5, -1):
        y = to_y(level)
        parts.append(format_html(
            '<line class="grid{}" x1="{}" x2="{}" y1="{}" y2="{}"/>'
            '<text class="axis" x="{}" y="{}" text-anchor="end">{}</text>',
            " grid-zero" if level == 0 else "", frame.left, frame.width - frame.right, _n(y),
            _n(y), frame.left - 6, _n(y + 4), f"{level:+g}" if level else "0"))

    indexes = [point.index for point in points]
    runs = _segments(xs, indexes, to_y)
    drawn = sum(1 for value in indexes if value is not None)
    if runs:
        parts.append(format_html('<path class="trend-line" d="{}"/>', _path(runs)))
    if count <= MAX_MARKERS:
        for x, point in zip(xs, points, strict=True):
            if point.index is None:
                continue
            parts.append(format_html(
                '<circle class="trend-point {}" cx="{}" cy="{}" r="{}">'
                '<title>{}</title></circle>',
                _tone(point.index), _n(x), _n(to_y(point.index)), 3 if count <= 60 else 2,
                _("%(bucket)s: index %(index)s (%(positive)d positive, %(neutral)d neutral, "
                  "%(negative)d negative)") % {
                    "bucket": _bucket_label(point.bucket_start, granularity),
                    "index": f"{point.index:+.2f}", "positive": point.positive,
                    "neutral": point.neutral, "negative": point.negative}))

    # Volume: one path of rectangles (light even for 2,000 hourly buckets), scaled to the max.
    peak = max((point.total for point in points), default=0)
    bar_width = max(slot * 0.7, 1.0)
    bottom = frame.bars_top + frame.bars_height
    bars = []
    for x, point in zip(xs, points, strict=True):
        if point.total and peak:
            bar_height = max(point.total / peak * frame.bars_height, 1.0)
            bars.append(f"M{x - bar_width / 2:.1f},{bottom:.1f} h{bar_width:.1f} "
                        f"v{-bar_height:.1f} h{-bar_width:.1f} Z")
    parts.append(format_html(
        '<line class="grid" x1="{}" x2="{}" y1="{}" y2="{}"/>'
        '<text class="axis" x="{}" y="{}" text-anchor="end">{}</text>'
        '<text class="axis" x="{}" y="{}" text-anchor="end">0</text>',
        frame.left, frame.width - frame.right, _n(bottom), _n(bottom),
        frame.left - 6, _n(frame.bars_top + 8), peak, frame.left - 6, _n(bottom)))
    if bars:
        parts.append(format_html('<path class="volume-bars" d="{}"/>', " ".join(bars)))
    if count <= MAX_MARKERS:
        # Invisible full-height hit areas give each bucket's volume a tooltip.
        for x, point in zip(xs, points, strict=True):
            if point.total:
                parts.append(format_html(
                    '<rect class="volume-hit" x="{}" y="{}" width="{}" height="{}">'
                    "<title>{}</title></rect>",
                    _n(x - slot / 2), _n(frame.bars_top), _n(slot), _n(frame.bars_height),
                    ngettext("%(bucket)s: %(count)d document", "%(bucket)s: %(count)d documents",
                             point.total) % {
                        "bucket": _bucket_label(point.bucket_start, granularity),
                        "count": point.total}))

    span_days = (points[-1].bucket_start - points[0].bucket_start).total_seconds() / 86400
    parts.extend(date_axis(
        xs, [point.bucket_start for point in points], y=frame.height - 6,
        label=lambda moment: _tick_label(moment, granularity, span_days)))

    per_hour = granularity == Granularity.HOUR
    label = (_("Sentiment index and volume per hour, %(first)s to %(last)s: %(drawn)d of "
               "%(count)d buckets have scored documents") if per_hour else
             _("Sentiment index and volume per day, %(first)s to %(last)s: %(drawn)d of "
               "%(count)d buckets have scored documents")) % {
        "first": _bucket_label(points[0].bucket_start, granularity),
        "last": _bucket_label(points[-1].bucket_start, granularity),
        "drawn": drawn, "count": count}
    return format_html(
        '<svg class="trend-chart" viewBox="0 0 {w} {h}" preserveAspectRatio="xMidYMid meet" '
        'role="img" aria-label="{label}" data-testid="trend-chart" data-points="{drawn}">'
        '<text class="axis axis-title" x="{left}" y="{bars_title}">{volume}</text>{body}</svg>',
        w=_n(frame.width), h=_n(frame.height), label=label, drawn=drawn, left=_n(frame.left),
        volume=_("Volume"),
        bars_title=_n(frame.bars_top - 6), body=mark_safe("".join(parts)),  # noqa: S308
    )


def firings_chart(windows: Sequence[datetime], *, start: datetime, end: datetime) -> SafeString:
    """A dry run's firings per day from ``start`` to ``end``: one bar a day, as high as the
    windows (all tickers together) the rule would have fired in that day."""
    days = max(1, -(-int((end - start).total_seconds()) // 86400))
    first_day = start.replace(hour=0, minute=0, second=0, microsecond=0)
    per_day = [0] * (days + 1)
    for moment in windows:
        per_day[min(days, max(0, (moment - first_day).days))] += 1
    width, height, left, bottom, top = 760.0, 120.0, 44.0, 22.0, 10.0
    slot = (width - left - 12) / len(per_day)
    plot = height - top - bottom
    peak = max(per_day) or 1
    parts = [format_html(
        '<line class="grid" x1="{}" x2="{}" y1="{}" y2="{}"/>'
        '<text class="axis" x="{}" y="{}" text-anchor="end">{}</text>'
        '<text class="axis" x="{}" y="{}" text-anchor="end">0</text>',
        _n(left), _n(width - 12), _n(top + plot), _n(top + plot), _n(left - 6), _n(top + 8),
        peak, _n(left - 6), _n(top + plot))]
    for position, count in enumerate(per_day):
        if not count:
            continue
        bar = max(count / peak * plot, 2.0)
        day = first_day + timedelta(days=position)
        parts.append(format_html(
            '<rect class="firing-bar" x="{}" y="{}" width="{}" height="{}"><title>{}</title>'
            "</rect>", _n(left + slot * position + slot * 0.15), _n(top + plot - bar),
            _n(max(slot * 0.7, 1.0)), _n(bar),
            ngettext("%(day)s: fired %(count)d time", "%(day)s: fired %(count)d times", count)
            % {"day": date_format(day, _("j M Y")), "count": count}))
    for position in (0, len(per_day) - 1):
        day = first_day + timedelta(days=position)
        parts.append(format_html(
            '<text class="axis" x="{}" y="{}" text-anchor="{}">{}</text>',
            _n(left + slot * (position + 0.5)), _n(height - 6),
            "start" if position == 0 else "end", date_format(day, _("j M"))))
    label = ngettext("The rule would have fired %(count)d time from %(first)s to %(last)s",
                     "The rule would have fired %(count)d times from %(first)s to %(last)s",
                     len(windows)) % {
        "count": len(windows), "first": date_format(first_day, _("j M Y")),
        "last": date_format(end, _("j M Y"))}
    return format_html(
        '<svg class="trend-chart firings-chart" viewBox="0 0 {} {}" '
        'preserveAspectRatio="xMidYMid meet" role="img" aria-label="{}" '
        'data-testid="dry-run-chart" data-firings="{}">{}</svg>',
        _n(width), _n(height), label, len(windows), mark_safe("".join(parts)))  # noqa: S308


# The topic mix colours the largest topics; the rest share one grey band ("Other topics").
MIX_COLOURED_TOPICS = 6


def topic_mix_chart(mix: TopicMix) -> tuple[SafeString, list[tuple[str, str]]]:
    """Stories per UTC day stacked by topic (the ``MIX_COLOURED_TOPICS`` largest coloured,
    the rest as one band), and the legend as (css class, label) pairs."""
    if not mix.days or not mix.topics:
        empty = format_html('<p class="empty">{}</p>', _("No stories with a topic in this range."))
        return empty, []
    bands = [(f"mix-{position}", topic, mix.counts[topic])
             for position, topic in enumerate(mix.topics[:MIX_COLOURED_TOPICS])]
    rest = mix.topics[MIX_COLOURED_TOPICS:]
    if rest:
        bands.append(("mix-other", _("Other topics"),
                      [sum(mix.counts[topic][day] for topic in rest)
                       for day in range(len(mix.days))]))
    width, height, left, right, top, bottom = 760.0, 180.0, 44.0, 12.0, 10.0, 24.0
    plot = height - top - bottom
    slot = (width - left - right) / len(mix.days)
    xs = [left + slot * (position + 0.5) for position in range(len(mix.days))]
    totals = [sum(band[2][day] for band in bands) for day in range(len(mix.days))]
    peak = max(totals) or 1
    base = top + plot
    parts = [format_html(
        '<line class="grid" x1="{}" x2="{}" y1="{}" y2="{}"/>'
        '<text class="axis" x="{}" y="{}" text-anchor="end">{}</text>'
        '<text class="axis" x="{}" y="{}" text-anchor="end">0</text>',
        _n(left), _n(width - right), _n(base), _n(base), _n(left - 6), _n(top + 8), peak,
        _n(left - 6), _n(base))]
    bar_width = max(slot * 0.7, 1.0)
    for day, x in enumerate(xs):
        y = base
        for css, label, counts in bands:
            if not counts[day]:
                continue
            bar = counts[day] / peak * plot
            y -= bar
            parts.append(format_html(
                '<rect class="mix-bar {}" x="{}" y="{}" width="{}" height="{}" '
                'data-topic="{}"><title>{}</title></rect>',
                css, _n(x - bar_width / 2), _n(y), _n(bar_width), _n(max(bar, 0.5)), label,
                ngettext("%(day)s · %(topic)s: %(count)d story",
                         "%(day)s · %(topic)s: %(count)d stories", counts[day]) % {
                    "day": date_format(mix.days[day], _("j M Y")), "topic": label,
                    "count": counts[day]}))
    parts.extend(date_axis(xs, mix.days, y=height - 6,
                           label=lambda moment: date_format(moment, _("j M"))))
    label = _("Stories per day by topic, %(first)s to %(last)s: %(count)d stories in "
              "%(topics)d topics") % {
        "first": date_format(mix.days[0], _("j M Y")),
        "last": date_format(mix.days[-1], _("j M Y")), "count": sum(totals),
        "topics": len(mix.topics)}
    svg = format_html(
        '<svg class="trend-chart topic-mix-chart" viewBox="0 0 {} {}" '
        'preserveAspectRatio="xMidYMid meet" role="img" aria-label="{}" '
        'data-testid="topic-mix-chart" data-stories="{}" data-topics="{}">{}</svg>',
        _n(width), _n(height), label, sum(totals), len(mix.topics),
        mark_safe("".join(parts)))  # noqa: S308
    return svg, [(css, label) for css, label, _counts in bands]
