"""What the applications' server-side SVG charts share: the dated x axis. A chart places one
slot per bucket (a day, an hour) and asks for at most ``most`` evenly spread, labelled ticks,
the first anchored at its start and the last at its end so that neither runs off the plot.
The finance trend and the bot's resolution charts draw their axes with it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from typing import TypeVar

from django.utils.html import format_html
from django.utils.safestring import SafeString

Moment = TypeVar("Moment", bound=date)  # a date or a datetime


def date_axis(xs: Sequence[float], moments: Sequence[Moment], *, y: float,
              label: Callable[[Moment], str], most: int = 7) -> list[SafeString]:
    """``<text class="axis">`` labels under at most ``most`` of the buckets at ``xs`` (whose
    dates are ``moments``, oldest first), the first and the last always among them."""
    count = len(moments)
    ticks = min(count, most)
    parts = []
    for tick in range(ticks):
        position = round(tick * (count - 1) / max(ticks - 1, 1))
        anchor = "start" if tick == 0 else "end" if tick == ticks - 1 else "middle"
        parts.append(format_html('<text class="axis" x="{}" y="{}" text-anchor="{}">{}</text>',
                                 f"{xs[position]:.1f}", f"{y:.1f}", anchor,
                                 label(moments[position])))
    return parts
