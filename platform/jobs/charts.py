"""The training chart of a model version's page, drawn on the server as inline SVG (as the
finance pages draw theirs): per epoch, the training loss (scaled to its largest value) and the
validation macro-F1 (on [0, 1]), with the kept epoch marked.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

WIDTH, HEIGHT, PAD = 560, 180, 28


def _n(value: float) -> str:
    return f"{value:.1f}"


def _line(points: Sequence[tuple[float, float]], css: str) -> SafeString:
    return format_html('<polyline class="{}" fill="none" points="{}"/>', css,
                       " ".join(f"{_n(x)},{_n(y)}" for x, y in points))


def training_chart(history: Sequence[dict[str, Any]], best_epoch: int | None) -> SafeString:
    """The chart, or an empty string when there is no per-epoch history."""
    rows = [row for row in history if isinstance(row, dict) and "train_loss" in row]
    if not rows:
        return mark_safe("")  # noqa: S308  (a constant)
    epochs = [int(row["epoch"]) for row in rows]
    first, last = min(epochs), max(epochs)

    def x(epoch: int) -> float:
        return PAD + (WIDTH - 2 * PAD) * ((epoch - first) / (last - first) if last > first else 0.5)

    def y(share: float) -> float:
        return HEIGHT - PAD - (HEIGHT - 2 * PAD) * max(0.0, min(1.0, share))

    top_loss = max(float(row["train_loss"]) for row in rows) or 1.0
    loss = [(x(e), y(float(row["train_loss"]) / top_loss)) for e, row in zip(epochs, rows,
                                                                             strict=True)]
    f1 = [(x(e), y(float(row["macro_f1"]))) for e, row in zip(epochs, rows, strict=True)
          if isinstance(row.get("macro_f1"), int | float)]
    marker = (format_html('<line class="tc-kept" x1="{}" x2="{}" y1="{}" y2="{}"/>'
                          '<text class="tc-note" x="{}" y="{}">{}</text>',
                          _n(x(best_epoch)), _n(x(best_epoch)), PAD, HEIGHT - PAD,
                          _n(x(best_epoch) + 4), PAD + 10,
                          _("kept: epoch %(epoch)s") % {"epoch": best_epoch})
              if best_epoch and first <= best_epoch <= last else "")
    ticks = format_html_join("", '<text class="tc-axis" x="{}" y="{}">{}</text>',
                             ((_n(x(e)), HEIGHT - 8, e) for e in sorted(set(epochs))))
    return format_html(
        '<svg class="training-chart" data-testid="training-chart" viewBox="0 0 {} {}" role="img" '
        'aria-label="{}"><title>{}</title>'
        '<line class="tc-axis" x1="{}" x2="{}" y1="{}" y2="{}"/>{}{}{}{}'
        '<text class="tc-legend tc-loss" x="{}" y="14">{}</text>'
        '<text class="tc-legend tc-f1" x="{}" y="14">{}</text></svg>',
        WIDTH, HEIGHT, _("Training loss and validation macro-F1 per epoch"),
        _("Training loss and validation macro-F1 per epoch"),
        PAD, WIDTH - PAD, HEIGHT - PAD, HEIGHT - PAD, _line(loss, "tc-line tc-loss"),
        _line(f1, "tc-line tc-f1") if f1 else "", marker, ticks,
        PAD, _("training loss (relative to %(top)s)") % {"top": f"{top_loss:.3f}"},
        WIDTH // 2, _("validation macro-F1 (0 to 1)"))
