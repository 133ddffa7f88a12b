"""``{% job_progress job as progress %}``: a job's progress for its bar and label, in its unit
(rows, epochs, ...) with the ETA the worker measured (``selectors.job_progress_view``)."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from jobs.models import Job
from jobs.selectors import job_progress_view

register = template.Library()

UNIT_LABELS = {
    "rows": gettext_lazy("rows"), "epochs": gettext_lazy("epochs"),
    "texts": gettext_lazy("texts embedded"), "documents": gettext_lazy("documents"),
    "articles": gettext_lazy("articles"), "items": gettext_lazy("items"),
    "users": gettext_lazy("users"), "steps": gettext_lazy("steps"),
}
PHASE_LABELS = {"embedding": gettext_lazy("Embedding the texts"),
                "training": gettext_lazy("Training")}


def _amount(value: float | None, unit: str) -> str:
    if value is None:
        return ""
    if unit == "epochs" and value != int(value):
        return f"{value:.1f}"
    return f"{int(value):,}"


def eta_text(seconds: float | None) -> str:
    """"about 3 min" / "12 s" / "about 1 h 5 min"; empty when unknown."""
    if seconds is None:
        return ""
    whole = round(seconds)
    if whole < 60:
        return ngettext("%(count)d s", "%(count)d s", whole) % {"count": whole}
    minutes = round(whole / 60)
    if minutes < 60:
        return _("about %(minutes)d min") % {"minutes": minutes}
    return _("about %(hours)d h %(minutes)d min") % {"hours": minutes // 60,
                                                      "minutes": minutes % 60}


@register.simple_tag
def job_progress(job: Job) -> dict[str, Any]:
    view = job_progress_view(job=job)
    return {
        "view": view,
        "unit_label": UNIT_LABELS.get(view.unit, view.unit),
        "phase_label": PHASE_LABELS.get(view.phase, ""),
        "done": _amount(view.done, view.unit),
        "total": _amount(view.total, view.unit),
        "percent": None if view.fraction is None else round(view.fraction * 100),
        "eta": eta_text(view.eta_seconds) if not job.is_finished else "",
    }
