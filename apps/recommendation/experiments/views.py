"""Dashboard pages of the A/B tests: the experiments with the form that starts one, an
experiment's per-arm table with its intervals chart and call, and the stop and promote
buttons. Viewers read; members start and stop; admins promote (it activates a model
version, which the model pages also keep to admins). Another tenant's experiment is a 404.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from apps.recommendation import selectors as recs_selectors
from apps.recommendation.experiments import charts, selectors, services
from apps.recommendation.experiments.models import (
    MAX_TRAFFIC_B,
    MIN_TRAFFIC_B,
    Arm,
    Experiment,
    ExperimentMetric,
)
from apps.recommendation.experiments.stats import Proportion
from dashboard.views import require_role, workspace_view
from tenancy.models import Role

POPULARITY = "popularity"


class ExperimentForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=services.NAME_LENGTH)
    arm_a = forms.ChoiceField(label=gettext_lazy("Arm A"))
    arm_b = forms.ChoiceField(label=gettext_lazy("Arm B"))
    traffic_b = forms.IntegerField(label=gettext_lazy("Users in arm B (%)"), initial=50,
                                   min_value=MIN_TRAFFIC_B, max_value=MAX_TRAFFIC_B)
    metric = forms.ChoiceField(label=gettext_lazy("Decide on"), choices=ExperimentMetric.choices,
                               initial=ExperimentMetric.CTR)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Versions are read per form, inside the request (a tenant-scoped manager).
        choices = [(str(version.version), _("v%(number)d (%(status)s)") % {
            "number": version.version, "status": version.get_status_display()})
            for version in recs_selectors.model_versions().exclude(status="archived")]
        choices.append((POPULARITY, _("Popularity")))
        for name in ("arm_a", "arm_b"):
            field: Any = self.fields[name]
            field.choices = choices
        if choices[:-1]:
            self.fields["arm_a"].initial = choices[0][0]
        self.fields["arm_b"].initial = POPULARITY

    def arm(self, name: str) -> int | None:
        value = self.cleaned_data[name]
        return None if value == POPULARITY else int(value)


def _start(request: HttpRequest, form: ExperimentForm) -> Experiment | None:
    if not form.is_valid():
        return None
    try:
        return services.experiment_create(
            name=form.cleaned_data["name"], arm_a=form.arm("arm_a"), arm_b=form.arm("arm_b"),
            traffic_b=form.cleaned_data["traffic_b"], metric=form.cleaned_data["metric"],
            created_by_id=request.user.pk)
    except services.ExperimentError as error:
        field = next(iter(error.fields), None)
        form.add_error(field if field in form.fields else None, str(error))
        return None


@require_http_methods(["GET", "HEAD", "POST"])
@workspace_view()
def experiment_list(request: HttpRequest) -> HttpResponse:
    form = ExperimentForm()
    status = 200
    if request.method == "POST":
        require_role(request, Role.MEMBER, action=_("start experiments"))
        form = ExperimentForm(request.POST)
        experiment = _start(request, form)
        if experiment is not None:
            messages.success(request, _("Experiment “%(name)s” started.")
                             % {"name": experiment.name})
            return redirect("recs:experiment", pk=experiment.pk)
        status = 400
    return render(request, "recommendation/experiments.html", {
        "experiments": selectors.experiment_list()[:100], "form": form,
        "running": selectors.running_experiment()}, status=status)


def _rate(proportion: Proportion) -> str:
    """``3.20% (2.10–4.50%)``: the rate with its Wilson 95% interval."""
    if proportion.rate is None:
        return "—"
    return f"{proportion.rate:.2%} ({proportion.low:.2%}–{proportion.high:.2%})"


def _p_text(p_value: float | None) -> str:
    if p_value is None:
        return ""
    return "p < 0.0001" if p_value < 0.0001 else f"p = {p_value:.4f}"


@require_safe
@workspace_view()
def experiment_detail(request: HttpRequest, pk: int) -> HttpResponse:
    experiment = get_object_or_404(selectors.experiment_list(), pk=pk)
    results = selectors.experiment_results(experiment=experiment)
    return render(request, "recommendation/experiment.html", {
        "experiment": experiment, "results": results,
        "intervals_chart": charts.intervals_chart(results),
        "p_text": _p_text(results.primary.comparison.p_value),
        "arm_rows": [(arm, _rate(arm.ctr), _rate(arm.conversion)) for arm in results.arms],
        "promotable": [arm for arm in results.arms
                       if experiment.arm_version_id(arm.arm) is not None]})


@require_POST
@workspace_view()
def experiment_stop(request: HttpRequest, pk: int) -> HttpResponse:
    require_role(request, Role.MEMBER, action=_("stop experiments"))
    experiment = get_object_or_404(Experiment.objects.all(), pk=pk)
    services.experiment_stop(experiment=experiment)
    messages.success(request, _("Experiment stopped: every user gets the usual lists again."))
    return redirect("recs:experiment", pk=pk)


@require_POST
@workspace_view()
def experiment_promote(request: HttpRequest, pk: int) -> HttpResponse:
    require_role(request, Role.ADMIN, action=_("promote model versions"))
    experiment = get_object_or_404(Experiment.objects.all(), pk=pk)
    arm = request.POST.get("arm", "")
    try:
        promoted = services.experiment_promote(experiment=experiment,
                                               arm=arm if arm in Arm.values else None,
                                               actor_id=request.user.pk, request=request)
    except services.ExperimentError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _("Arm %(arm)s's model version is now active; its lists are "
                                    "being computed.") % {"arm": promoted.winner.upper()})
    return redirect("recs:experiment", pk=pk)
