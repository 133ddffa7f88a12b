"""Dashboard pages for datasets, jobs and model versions.

Each view checks the role, calls one service or selector and renders. Every query goes
through the tenant-scoped managers, so another tenant's id is simply not found (404).
Viewers read; members upload datasets and run jobs; admins activate model versions.
Downloads link to the API endpoints, which accept the dashboard's session.
"""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from config.errors import ServiceError
from dashboard.views import require_role, workspace_view
from jobs import selectors
from jobs.charts import training_chart
from jobs.datasets import DatasetInvalid
from jobs.models import Dataset, Job, ModelVersion
from jobs.registry import all_apps
from jobs.services import (
    JobError,
    dataset_create,
    dataset_delete,
    job_cancel,
    job_retry,
    job_submit,
    model_version_activate,
)
from tenancy.models import Role

PAGE_SIZE = 50
LIVE_EVENTS = 100


# --- Forms -----------------------------------------------------------------------------------


class DatasetUploadForm(forms.Form):
    app = forms.ChoiceField(label=gettext_lazy("Application"))
    purpose = forms.ChoiceField(
        label=gettext_lazy("Purpose"),
        help_text=gettext_lazy("Which of the application's formats the file follows"))
    name = forms.CharField(
        max_length=200, required=False, label=gettext_lazy("Name"),
        widget=forms.TextInput(attrs={"placeholder": gettext_lazy("Defaults to the file name")}))
    file = forms.FileField(label=gettext_lazy("File"),
                           help_text=gettext_lazy("CSV or JSON lines, UTF-8"),
                           allow_empty_file=True,
                           widget=forms.ClearableFileInput(attrs={"accept": ".csv,.jsonl,.ndjson"}))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        apps = all_apps()
        app_field: Any = self.fields["app"]
        purpose_field: Any = self.fields["purpose"]
        app_field.choices = [(spec.label, spec.name) for spec in apps]
        purpose_field.choices = [
            (spec.name, [(schema.purpose, schema.purpose) for schema in spec.datasets.values()])
            for spec in apps
        ]


class JobSubmitForm(forms.Form):
    """Shared by the two submit forms: the app comes from the chosen dataset, and a hidden
    idempotency key makes a double-click or a resent POST return the job already created."""

    kind = ""
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=200)
    # Querysets are set per form, inside the request: a tenant-scoped manager cannot be
    # queried at import time.
    dataset: forms.ModelChoiceField[Dataset] = forms.ModelChoiceField(
        queryset=None, label=gettext_lazy("Dataset"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {}).setdefault("idempotency_key", uuid.uuid4().hex)
        kwargs.setdefault("prefix", self.kind)
        super().__init__(*args, **kwargs)
        field: Any = self.fields["dataset"]
        field.queryset = selectors.dataset_list_for_kind(kind=self.kind)
        field.label_from_instance = (
            lambda d: ngettext("%(name)s · %(app)s · %(purpose)s · %(rows)d row",
                               "%(name)s · %(app)s · %(purpose)s · %(rows)d rows", d.row_count)
            % {"name": d.name, "app": d.app, "purpose": d.purpose, "rows": d.row_count})

    def params(self) -> dict[str, Any]:
        return {}

    def model_version_id(self) -> int | None:
        return None

    def add_service_error(self, error: JobError) -> None:
        if not error.fields:
            self.add_error(None, str(error))
        for name, problems in error.fields.items():
            field = name.removeprefix("params.")
            for problem in problems:
                if field in self.fields:
                    self.add_error(field, problem)
                else:
                    self.add_error(None, f"{name}: {problem}")


class FineTuneForm(JobSubmitForm):
    kind = Job.Kind.FINE_TUNE
    method = forms.ChoiceField(
        label=gettext_lazy("Method"),
        choices=[("auto", gettext_lazy("Automatic (from the dataset's size and classes)")),
                 ("head", gettext_lazy("Head only (seconds; best with few rows or many classes)")),
                 ("lora", gettext_lazy("LoRA adapter (small, fast)")),
                 ("full", gettext_lazy("Full fine-tuning"))], initial="auto")
    epochs = forms.IntegerField(label=gettext_lazy("Epochs"), min_value=1, max_value=300,
                                required=False,
                                help_text=gettext_lazy("Empty: the method's default"))
    validation_dataset: forms.ModelChoiceField[Dataset] = forms.ModelChoiceField(
        queryset=None, required=False, label=gettext_lazy("Validation dataset"),
        empty_label=gettext_lazy("A split of the training dataset"),
        help_text=gettext_lazy("The rows the new version is compared on with the active version "
                        "and the platform default"))
    test_dataset: forms.ModelChoiceField[Dataset] = forms.ModelChoiceField(
        queryset=None, required=False, label=gettext_lazy("Test dataset"),
        empty_label=gettext_lazy("A split of the training dataset"),
        help_text=gettext_lazy("The rows whose figures are stored with the version"))
    force = forms.BooleanField(
        required=False, label=gettext_lazy("Promote even if worse than the active version"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("validation_dataset", "test_dataset"):
            field: Any = self.fields[name]
            field.queryset = selectors.dataset_list_for_kind(kind=self.kind)
            field.label_from_instance = (
                lambda d: f"{d.name} · {d.app} · {d.purpose} · {d.row_count} rows")

    def params(self) -> dict[str, Any]:
        params: dict[str, Any] = {"method": self.cleaned_data["method"],
                                  "force": self.cleaned_data["force"]}
        if self.cleaned_data.get("epochs"):
            params["epochs"] = self.cleaned_data["epochs"]
        for name in ("validation_dataset", "test_dataset"):
            if self.cleaned_data.get(name) is not None:
                params[name] = self.cleaned_data[name].pk
        return params


class BatchInferenceForm(JobSubmitForm):
    kind = Job.Kind.BATCH_INFERENCE
    model_version: forms.ModelChoiceField[ModelVersion] = forms.ModelChoiceField(
        queryset=None, required=False, label=gettext_lazy("Model version"),
        empty_label=gettext_lazy("The app's active version"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field: Any = self.fields["model_version"]
        field.queryset = selectors.model_version_list()
        field.label_from_instance = (
            lambda v: _("%(app)s v%(version)s (%(status)s)") % {
                "app": v.app, "version": v.version,
                "status": str(v.get_status_display()).lower()})

    def model_version_id(self) -> int | None:
        version = self.cleaned_data.get("model_version")
        return version.pk if version is not None else None


SUBMIT_FORMS: dict[str, type[JobSubmitForm]] = {
    Job.Kind.FINE_TUNE: FineTuneForm,
    Job.Kind.BATCH_INFERENCE: BatchInferenceForm,
}


def _choice(request: HttpRequest, name: str, allowed: list[str]) -> str:
    value = request.GET.get(name, "")
    return value if value in allowed else ""


# --- Datasets --------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@workspace_view()
def dataset_list(request: HttpRequest) -> HttpResponse:
    """The datasets, and (members) the upload form with its validation report."""
    form = DatasetUploadForm()
    refusal: DatasetInvalid | None = None
    status = 200
    if request.method == "POST":
        require_role(request, Role.MEMBER, action=_("upload datasets"))
        form = DatasetUploadForm(request.POST, request.FILES)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                if upload.size > settings.DATASET_MAX_BYTES:
                    raise selectors.dataset_too_large(upload.size)
                dataset = dataset_create(
                    app=form.cleaned_data["app"], purpose=form.cleaned_data["purpose"],
                    name=form.cleaned_data["name"], filename=upload.name, data=upload.read(),
                    created_by_id=request.user.pk,
                )
            except DatasetInvalid as error:
                refusal = error
            except JobError as error:
                field = next(iter(error.fields), None)
                form.add_error(field if field in form.fields else None, str(error))
            else:
                messages.success(request, ngettext(
                    "“%(name)s” was uploaded: %(rows)d row.",
                    "“%(name)s” was uploaded: %(rows)d rows.", dataset.row_count)
                    % {"name": dataset.name, "rows": dataset.row_count})
                return redirect("jobs:dataset_detail", pk=dataset.pk)
        status = 400
    app = _choice(request, "app", [spec.label for spec in all_apps()])
    page = Paginator(selectors.dataset_list(app=app or None), PAGE_SIZE).get_page(
        request.GET.get("page"))
    return render(request, "jobs/datasets.html", {
        "page": page, "form": form, "refusal": refusal, "app_filter": app,
        "schemas": selectors.dataset_schemas(), "apps": all_apps(),
        "max_bytes": selectors.human_bytes(settings.DATASET_MAX_BYTES),
    }, status=status)


@require_safe
@workspace_view()
def dataset_detail(request: HttpRequest, pk: int) -> HttpResponse:
    dataset = get_object_or_404(selectors.dataset_list(), pk=pk)
    return render(request, "jobs/dataset_detail.html", {
        "dataset": dataset,
        "jobs": selectors.job_list().filter(dataset=dataset)[:20],
    })


@require_POST
@workspace_view()
def dataset_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    require_role(request, Role.MEMBER, action=_("delete datasets"))
    dataset = get_object_or_404(selectors.dataset_list(), pk=pk)
    try:
        dataset_delete(dataset=dataset)
    except JobError as error:
        messages.error(request, str(error))
        return redirect("jobs:dataset_detail", pk=dataset.pk)
    messages.success(request, _("“%(name)s” was deleted.") % {"name": dataset.name})
    return redirect("jobs:dataset_list")


# --- Jobs ------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@workspace_view()
def job_list(request: HttpRequest) -> HttpResponse:
    """Jobs with their progress, and (members) the forms that submit them."""
    submit_forms = {kind: form_class() for kind, form_class in SUBMIT_FORMS.items()}
    status = 200
    if request.method == "POST":
        require_role(request, Role.MEMBER, action=_("run jobs"))
        form_class = SUBMIT_FORMS.get(request.POST.get("kind", ""))
        if form_class is None:
            messages.error(request, _("Choose a kind of job to run."))
            return redirect("jobs:job_list")
        form = form_class(request.POST)
        submit_forms[form.kind] = form
        if form.is_valid():
            dataset: Dataset = form.cleaned_data["dataset"]
            try:
                submission = job_submit(
                    app=dataset.app, kind=form.kind, params=form.params(),
                    dataset_id=dataset.pk, model_version_id=form.model_version_id(),
                    idempotency_key=form.cleaned_data["idempotency_key"],
                    created_by_id=request.user.pk,
                )
            except JobError as error:
                if error.code == "idempotency_conflict":
                    # The page was sent before with other values (back button, edit, send):
                    # a fresh key lets the user send it again deliberately.
                    data = request.POST.copy()
                    data[form.add_prefix("idempotency_key")] = uuid.uuid4().hex
                    form = form_class(data)
                    submit_forms[form.kind] = form
                    form.is_valid()
                    form.add_error(None, "This form had already been sent. Check the jobs "
                                         "below, or send it again to run another job.")
                else:
                    form.add_service_error(error)
            else:
                if submission.created:
                    messages.success(request,
                                     _("Job #%(id)s was queued.") % {"id": submission.job.pk})
                return redirect("jobs:job_detail", pk=submission.job.pk)
        status = 400

    filters = {
        "app": _choice(request, "app", [spec.label for spec in all_apps()]),
        "kind": _choice(request, "kind", selectors.job_kind_names()),
        "status": _choice(request, "status", list(Job.Status.values)),
    }
    jobs = selectors.job_list(**{name: value or None for name, value in filters.items()})
    page = Paginator(jobs, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "jobs/jobs.html", {
        "page": page, "filters": filters, "apps": all_apps(),
        "kinds": selectors.job_kind_names(), "statuses": Job.Status.choices,
        "fine_tune_form": submit_forms[Job.Kind.FINE_TUNE],
        "batch_form": submit_forms[Job.Kind.BATCH_INFERENCE],
    }, status=status)


def _job_context(job: Job) -> dict[str, Any]:
    return {
        "job": job,
        "events": selectors.job_events_recent(job=job, limit=LIVE_EVENTS),
        "summary_metrics": selectors.scalar_metrics(job.metrics),
        "produced_version": (selectors.job_model_version(job=job)
                             if job.kind == Job.Kind.FINE_TUNE else None),
        "has_predictions": selectors.prediction_list(job=job).exists(),
    }


@require_safe
@workspace_view()
def job_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(selectors.job_list(), pk=pk)
    metrics = job.metrics or {}
    return render(request, "jobs/job_detail.html", {
        **_job_context(job), "evaluation": selectors.job_evaluation(job=job),
        # A finished inference job without a version of its own ran the platform default.
        "ran_default": "model_version" in metrics and metrics["model_version"] is None,
    })


@require_safe
@workspace_view()
def job_live(request: HttpRequest, pk: int) -> HttpResponse:
    """The live part of the job page (status, progress, events), polled by htmx every 2 s
    while the job is unfinished; the finished job's partial carries no trigger, so polling
    stops by itself."""
    job = get_object_or_404(selectors.job_list(), pk=pk)
    return render(request, "jobs/_job_live.html", _job_context(job))


def _job_action(request: HttpRequest, pk: int, service: Any, done: Any) -> HttpResponse:
    job = get_object_or_404(selectors.job_list(), pk=pk)
    try:
        service(job=job)
    except ServiceError as error:  # a conflict, or a retry that could only fail again
        messages.error(request, str(error))
    else:
        messages.success(request, done % {"id": job.pk})
    return redirect("jobs:job_detail", pk=job.pk)


@require_POST
@workspace_view()
def job_cancel_view(request: HttpRequest, pk: int) -> HttpResponse:
    require_role(request, Role.MEMBER, action=_("cancel jobs"))
    return _job_action(request, pk, job_cancel,
                       gettext_lazy("Cancellation of job #%(id)s requested."))


@require_POST
@workspace_view()
def job_retry_view(request: HttpRequest, pk: int) -> HttpResponse:
    require_role(request, Role.MEMBER, action=_("retry jobs"))
    return _job_action(request, pk, job_retry, gettext_lazy("Job #%(id)s was queued again."))


# --- Model versions --------------------------------------------------------------------------


@require_safe
@workspace_view()
def model_list(request: HttpRequest) -> HttpResponse:
    app = _choice(request, "app", [spec.label for spec in all_apps()])
    page = Paginator(selectors.model_version_list(app=app or None), PAGE_SIZE).get_page(
        request.GET.get("page"))
    return render(request, "jobs/models.html", {
        "page": page, "app_filter": app, "apps": all_apps(),
        "serving": selectors.serving_models(),
        "rows": [(version, selectors.model_version_metrics(version=version))
                 for version in page.object_list],
    })


@require_safe
@workspace_view()
def model_detail(request: HttpRequest, pk: int) -> HttpResponse:
    version = get_object_or_404(selectors.model_version_list(), pk=pk)
    evaluation = selectors.model_version_evaluation(version=version)
    active = selectors.model_version_list(app=version.app,
                                          status=ModelVersion.Status.ACTIVE).first()
    return render(request, "jobs/model_detail.html", {
        "version": version, "metrics": selectors.model_version_metrics(version=version),
        "evaluation": evaluation, "active": active,
        "training_chart": training_chart(evaluation.history, evaluation.best_epoch),
    })


@require_POST
@workspace_view(Role.ADMIN)
def model_activate_view(request: HttpRequest, pk: int) -> HttpResponse:
    version = get_object_or_404(selectors.model_version_list(), pk=pk)
    model_version_activate(version=version, actor=str(request.user), actor_id=request.user.pk,
                           request=request)
    messages.success(request, _("%(version)s is now the active version.") % {"version": version})
    return redirect("jobs:model_list")
