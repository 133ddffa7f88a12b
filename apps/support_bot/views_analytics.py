"""``/bot/resolution/``: the resolution analytics page (``apps.support_bot.analytics``) with
its daily chart, the per-intent table and the handoff reasons, for 7, 30 or 90 days and
optionally one intent. Anyone in the workspace may read it."""

from __future__ import annotations

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_safe

from apps.support_bot import analytics
from apps.support_bot.charts import resolution_chart
from apps.support_bot.models import Intent
from dashboard.views import workspace_view

HANDOFF_REASONS = {
    "customer_request": gettext_lazy("The customer asked for a person"),
    "low_confidence": gettext_lazy("Not confident enough"),
    "out_of_scope": gettext_lazy("Out of scope"),
    analytics.INTENT_REASON: gettext_lazy("An intent that always hands off"),
    "requested": gettext_lazy("Handed off by an agent or the API"),
}


class ResolutionFilterForm(forms.Form):
    days = forms.TypedChoiceField(
        label=gettext_lazy("Range"), coerce=int, initial=30, required=False,
        choices=[(7, gettext_lazy("7 days")), (30, gettext_lazy("30 days")),
                 (90, gettext_lazy("90 days"))])
    intent = forms.ChoiceField(label=gettext_lazy("Intent"), required=False)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        intent = self.fields["intent"]
        assert isinstance(intent, forms.ChoiceField)  # noqa: S101 (narrowing for mypy)
        intent.choices = [("", _("Every intent")),
                          *((name, name) for name in
                            Intent.objects.order_by("name").values_list("name", flat=True))]


@require_safe
@workspace_view()
def resolution(request: HttpRequest) -> HttpResponse:
    form = ResolutionFilterForm(request.GET or None)
    days, intent, status = 30, "", 200
    if form.is_bound:
        if form.is_valid():
            days = form.cleaned_data["days"] or 30
            intent = form.cleaned_data["intent"]
        else:
            status = 400
    report = analytics.resolution_report(days=days, intent=intent)
    chart = resolution_chart(report.per_day, [
        ("automation_rate", _("Automation")), ("resolution_rate", _("Resolution")),
        ("answer_rate", _("Answer rate")), ("satisfaction", _("Satisfaction"))])
    reasons = [(HANDOFF_REASONS.get(reason, reason), total)
               for reason, total in report.handoff_reasons]
    return render(request, "support_bot/resolution.html",
                  {"report": report, "filter_form": form, "resolution_chart": chart,
                   "reasons": reasons}, status=status)
