"""The promotion gate: a new version replaces what the tenant could be using only if it is at
least as good as the better of the two, on the same validation rows.

The references are the tenant's active version and the platform default of the application,
both scored by the worker on exactly the validation rows the candidate was scored on
(``metrics['gate']``). The candidate is promoted when its macro-F1 is at least the better
reference's plus the job's ``gate_margin``. Otherwise it is kept as a ready version with a note
naming both figures, and an admin may activate it anyway (audited).

Being first is no reason: a tenant's first fine-tune still has to beat the platform default.
Only when neither reference exists (no active version, no platform default installed: nothing
serves the app) is a candidate promoted without a comparison, and its note says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class GateDecision:
    promote: bool
    note: str
    reference: str  # "active" | "default" | "" (nothing to compare with)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def gate_decide(*, candidate: float | None, active: float | None, active_name: str,
                default: float | None, margin: float = 0.0,
                metric_label: str = "macro-F1") -> GateDecision:
    """Whether ``candidate`` (higher is better) may replace the better of ``active`` (the
    tenant's active version, called ``active_name``) and ``default`` (the platform default);
    None: that reference does not exist. The note names the figures it compared."""
    references = [(name, score) for name, score in (("active", active), ("default", default))
                  if score is not None]
    figures = (f"{active_name} {_fmt(active)}, platform default {_fmt(default)}"
               f"{f', margin {margin:.3f}' if margin else ''}")
    if not references:
        return GateDecision(True, "Promoted: no active version and no platform default to "
                                  "compare with", "")
    reference, best = max(references, key=lambda item: item[1])
    if candidate is None:
        return GateDecision(False, f"Not promoted: no {metric_label} to compare "
                                   f"({figures})", reference)
    if candidate >= best + margin:
        return GateDecision(True, f"Promoted: {metric_label} {candidate:.3f} ≥ {figures} "
                                  "on the same validation data", reference)
    return GateDecision(False, f"Not promoted: {metric_label} {candidate:.3f} < "
                               f"{'platform default' if reference == 'default' else active_name}"
                               f"'s {best:.3f} ({figures}) on the same validation data",
                        reference)


def gate_figures(metrics: dict[str, Any], metric: str) -> tuple[float | None, float | None,
                                                               float | None]:
    """(candidate, active, default) scores from a version's metrics: ``metrics['gate']`` when
    the worker scored the references, else the candidate's own figure and ``baseline`` (the
    active version, as the recommender reports it)."""
    gate = metrics.get("gate")
    if isinstance(gate, dict):
        def score(key: str) -> float | None:
            entry = gate.get(key)
            value = entry.get(metric) if isinstance(entry, dict) else None
            return float(value) if isinstance(value, int | float) else None
        return score("candidate"), score("active"), score("default")
    baseline = metrics.get("baseline") or {}
    own, active = metrics.get(metric), baseline.get(metric)
    return (float(own) if isinstance(own, int | float) else None,
            float(active) if isinstance(active, int | float) else None, None)
