"""A model's life cycle end to end (issue 15): calibrated confidences, labelled batch reports,
batch inference on the platform default, one meaning of ``model_version``, and progress in the
job's unit with an ETA measured by the worker. Real Celery workers, Redis and PostgreSQL."""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path

import pytest
from django.urls import reverse

from jobs.models import Job, ModelVersion, Prediction
from jobs.services import job_claim, job_finish
from tenancy.context import tenant_context
from tests.conftest import TenantSetup, WorkerFactory
from tests.workers.conftest import TINY_BASE_NAME, sentiment_rows, to_csv
from tests.workers.test_pipeline import _env, _fine_tune, _finished, _submit, _upload, _wait
from workers.execution import JobContext
from workers.runtime import ModelCache, load_classifier
from workers.runtime.calibration import TemperatureScaling
from workers.runtime.evaluation import classification_report

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def tiny_settings(settings, tiny_base: Path, tmp_path: Path):
    settings.BASE_MODELS = {TINY_BASE_NAME: str(tiny_base)}
    settings.MODEL_WORK_DIR = tmp_path / "models"
    settings.DEFAULT_MODELS_DIR = tmp_path / "defaults"
    return settings


def _install_default(tmp_path: Path, artifact: bytes) -> Path:
    folder = tmp_path / "defaults" / "finance_sentiment"
    with zipfile.ZipFile(io.BytesIO(artifact)) as archive:
        archive.extractall(folder)  # noqa: S202  (the test's own artefact)
    return folder


@pytest.mark.slow
def test_batch_inference_without_a_version_runs_the_platform_default_and_reports_accuracy(
        acme: TenantSetup, globex: TenantSetup, tiny_settings, tiny_base: Path,
        tiny_artifact: bytes, tmp_path: Path, workers: WorkerFactory) -> None:
    default = _install_default(tmp_path, tiny_artifact)
    workers.start(**_env(tiny_base, tmp_path, DEFAULT_MODELS_DIR=str(tmp_path / "defaults")))
    rows = sentiment_rows(90, seed=5)
    labelled = _upload(acme, "labelled", to_csv(rows, "text,label"))

    # Before: "No model version to run: fine-tune one or activate a version first."
    job = _wait(acme, _submit(acme, "batch_inference", labelled), _finished)

    assert job.status == "succeeded", job.error
    assert job.model_version_id is None
    assert (job.metrics["model_version"], job.metrics["model_version_number"]) == (None, None)
    assert (job.items_done, job.items_total) == (90, 90)
    # What the platform default predicts here, in this process: the same report.
    classifier = load_classifier(default, cache=ModelCache(2))
    assert isinstance(classifier.calibrator, TemperatureScaling)
    assert classifier.calibrator.temperature != pytest.approx(1.0, abs=1e-3)
    predicted = [p for chunk in classifier.classify([text for text, _ in rows]) for p in chunk]
    expected = classification_report([label for _, label in rows],
                                     [p.label for p in predicted], classifier.labels)
    report = job.metrics["evaluation"]
    assert report["confusion"] == expected["confusion"]
    assert report["labels"] == ["negative", "neutral", "positive"]
    assert report["accuracy"] == pytest.approx(expected["accuracy"])
    assert report["macro_f1"] == pytest.approx(expected["macro_f1"])
    assert report["per_class"]["positive"]["support"] == 30
    assert sum(map(sum, report["confusion"])) == report["rows"] == 90
    with tenant_context(acme.tenant.pk):
        confidences = dict(Prediction.objects.filter(job=job).values_list("item", "confidence"))
    # The stored confidences are the calibrated ones.
    assert [confidences[i + 1] for i in range(90)] == pytest.approx(
        [max(p.probabilities.values()) for p in predicted], abs=1e-5)

    page = acme.browser().get(reverse("jobs:job_detail", args=[job.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-testid="evaluation"' in html
    assert 'data-testid="confusion-matrix"' in html
    assert "Platform default model" in html
    assert "90 of 90 rows" in html
    body = acme.api().get(f"/api/v1/jobs/{job.pk}").json()
    assert body["metrics"]["evaluation"]["rows"] == 90
    assert body["progress"]["unit"] == "rows"
    # Another tenant: the same 404 as a missing job, on the page and the API.
    assert globex.browser().get(reverse("jobs:job_detail", args=[job.pk])).status_code == 404
    assert globex.api().get(f"/api/v1/jobs/{job.pk}").status_code == 404


@pytest.mark.slow
def test_a_version_reports_its_calibration_and_batch_jobs_name_it_by_id(
        acme: TenantSetup, globex: TenantSetup, tiny_settings, tiny_base: Path,
        tmp_path: Path, workers: WorkerFactory) -> None:
    workers.start(**_env(tiny_base, tmp_path, DEFAULT_MODELS_DIR=str(tmp_path / "defaults")))
    version = _fine_tune(acme)

    calibration = version.metrics["calibration"]
    assert calibration["method"] == "temperature"
    # Fitted on exactly the validation rows (a stratified split beside the test rows).
    assert calibration["rows"] == version.metrics["validation_size"] > 0
    assert calibration["ece_after"] <= calibration["ece_before"]
    with tenant_context(acme.tenant.pk):
        trained = Job.objects.get(pk=version.job_id)
    assert (trained.items_done, trained.items_total) == (4, 4)  # epochs
    assert trained.metrics["model_version"] == version.pk
    assert trained.metrics["model_version_number"] == version.version
    page = acme.browser().get(reverse("jobs:model_detail", args=[version.pk])).content.decode()
    assert 'data-testid="calibration"' in page
    assert f"{calibration['ece_after']:.3f} calibrated ({calibration['ece_before']:.3f} " \
           "before)" in page
    assert globex.browser().get(reverse("jobs:model_detail",
                                        args=[version.pk])).status_code == 404

    labelled = _upload(acme, "labelled", to_csv(sentiment_rows(30, seed=9), "text,label"))
    job = _wait(acme, _submit(acme, "batch_inference", labelled), _finished)
    assert job.status == "succeeded", job.error
    assert job.model_version_id == version.pk
    assert (job.metrics["model_version"], job.metrics["model_version_number"]) == (
        version.pk, version.version)
    assert job.metrics["evaluation"]["rows"] == 30

    texts = _upload(acme, "texts", to_csv([(t,) for t, _ in sentiment_rows(12)], "text"))
    unlabelled = _wait(acme, _submit(acme, "batch_inference", texts), _finished)
    assert unlabelled.status == "succeeded", unlabelled.error
    assert "evaluation" not in unlabelled.metrics  # no label column, no report


def test_a_bad_calibration_method_is_refused_naming_the_parameter(acme: TenantSetup,
                                                                 tiny_settings) -> None:
    labelled = _upload(acme, "labelled", to_csv(sentiment_rows(30), "text,label"))
    response = acme.api().post("/api/v1/jobs", {
        "app": "finance_sentiment", "kind": "fine_tune", "dataset": labelled.pk,
        "params": {"calibration": "platt"}}, format="json")
    assert response.status_code == 400
    assert "params.calibration" in response.json()["error"]["fields"]
    with tenant_context(acme.tenant.pk):
        assert not Job.objects.exists()


def test_the_calibration_methods_offered_are_the_runtimes() -> None:
    from jobs.params import FineTuneParams
    from workers.runtime.calibration import CALIBRATION_METHODS

    offered = FineTuneParams().fields["calibration"].choices
    assert set(offered) == set(CALIBRATION_METHODS)


def test_progress_shows_the_unit_and_the_eta_from_measured_throughput(
        acme: TenantSetup, globex: TenantSetup) -> None:
    texts = _upload(acme, "texts", to_csv([(f"text {n}",) for n in range(100)], "text"))
    job = _submit(acme, "batch_inference", texts)
    with tenant_context(acme.tenant.pk):
        claimed = job_claim(job_id=job.pk, worker="gpu-test")
        assert claimed is not None
        context = JobContext(claimed)
        context.progress(0, items_total=100, force=True)
        time.sleep(1.2)
        context.progress(40, force=True)

    progress = acme.api().get(f"/api/v1/jobs/{job.pk}").json()["progress"]
    assert (progress["unit"], progress["done"], progress["total"]) == ("rows", 40, 100)
    assert (progress["items_done"], progress["fraction"]) == (40, 0.4)
    # 40 rows in at least 1.2 s (more on a busy machine): at most 33 rows a second, and the
    # ETA of the 60 rows left at that rate, less the time since it was measured.
    from jobs.progress import live_progress_get

    live = live_progress_get(job_id=job.pk)
    assert live is not None
    assert live.rate is not None
    assert 0 < live.rate <= 40 / 1.2
    assert live.eta_seconds == pytest.approx(60 / live.rate)
    assert progress["rate_per_second"] == round(live.rate, 3)
    assert 0 <= progress["eta_seconds"] <= live.eta_seconds
    html = acme.browser().get(reverse("jobs:job_detail", args=[job.pk])).content.decode()
    assert "40 of 100 rows · 40%" in html
    assert 'data-testid="eta"' in html
    assert globex.api().get(f"/api/v1/jobs/{job.pk}").status_code == 404

    with tenant_context(acme.tenant.pk):
        job_finish(job_id=job.pk, status=Job.Status.SUCCEEDED, items=100)
    finished = acme.api().get(f"/api/v1/jobs/{job.pk}").json()["progress"]
    assert (finished["done"], finished["fraction"], finished["eta_seconds"]) == (100, 1.0, None)


def test_a_phase_in_its_own_unit_leaves_the_rows_epochs_alone(acme: TenantSetup) -> None:
    labelled = _upload(acme, "labelled", to_csv(sentiment_rows(30), "text,label"))
    job = _submit(acme, "fine_tune", labelled, epochs=5)
    with tenant_context(acme.tenant.pk):
        claimed = job_claim(job_id=job.pk, worker="gpu-test")
        assert claimed is not None
        context = JobContext(claimed)
        context.progress(0, items_total=5, unit="epochs", force=True)
        context.progress(600, items_total=1000, unit="texts", phase="embedding", force=True)
        row = Job.objects.get(pk=job.pk)
    assert (row.items_done, row.items_total) == (0, 5)  # the row counts epochs
    live = acme.api().get(f"/api/v1/jobs/{job.pk}").json()["progress"]
    assert (live["unit"], live["phase"], live["done"], live["total"]) == (
        "texts", "embedding", 600, 1000)
    html = acme.browser().get(reverse("jobs:job_detail", args=[job.pk])).content.decode()
    assert "Embedding the texts: 600 of 1,000 texts embedded · 60%" in html

    with tenant_context(acme.tenant.pk):
        context.progress(2.5, items_total=5, unit="epochs", phase="training", force=True)
        row = Job.objects.get(pk=job.pk)
    assert (row.items_done, row.items_total) == (2, 5)
    live = acme.api().get(f"/api/v1/jobs/{job.pk}").json()["progress"]
    assert (live["unit"], live["done"], live["fraction"]) == ("epochs", 2.5, 0.5)


def test_a_finished_attempt_leaves_no_live_view(acme: TenantSetup, monkeypatch) -> None:
    from jobs.progress import live_progress_get
    from workers import execution

    texts = _upload(acme, "texts", to_csv([(f"text {n}",) for n in range(10)], "text"))
    job = _submit(acme, "batch_inference", texts)

    def handler(job: Job, context: JobContext) -> execution.Outcome:
        context.progress(5, items_total=10, force=True)
        assert live_progress_get(job_id=job.pk) is not None
        raise RuntimeError("the model broke")

    monkeypatch.setattr(execution, "_handler", lambda job: handler)
    execution.execute(job_id=job.pk, worker="gpu-test")
    with tenant_context(acme.tenant.pk):
        assert Job.objects.get(pk=job.pk).status == Job.Status.FAILED
    assert live_progress_get(job_id=job.pk) is None


def test_version_pages_of_old_versions_without_calibration_still_render(
        acme: TenantSetup, tiny_artifact: bytes) -> None:
    from tests.workers.conftest import install_version

    version = install_version(acme, tiny_artifact)  # metrics without a calibration entry
    page = acme.browser().get(reverse("jobs:model_detail", args=[version.pk]))
    assert page.status_code == 200
    assert 'data-testid="calibration"' not in page.content.decode()
    with tenant_context(acme.tenant.pk):
        assert ModelVersion.objects.filter(pk=version.pk).exists()
