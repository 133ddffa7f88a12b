"""End to end with tiny models, each job run by the worker's own code path
(``workers.execution.execute``) against the real database: the gate against the platform
default (a deliberately poor fine-tune is not promoted over it, a good one is), the
validation and test datasets by id, the dataset check on the job, the method chosen and
why, and the version's page with its test figures, gate table and training chart."""

from __future__ import annotations

import zipfile
from io import BytesIO
from pathlib import Path

import pytest
from django.urls import reverse

from jobs.models import Dataset, Job, JobEvent, ModelVersion
from jobs.services import JobError, dataset_create, job_submit
from tenancy.context import tenant_context
from tests.conftest import TenantSetup
from tests.workers.conftest import TINY_BASE_NAME, sentiment_rows, to_csv
from workers.execution import execute

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

APP = "finance_sentiment"
GOOD = {"method": "full", "epochs": 6, "learning_rate": 5e-3, "batch_size": 16,
        "early_stopping_patience": 0}
POOR = {"method": "full", "epochs": 1, "learning_rate": 1e-7, "batch_size": 16}


@pytest.fixture
def platform_default(settings, tiny_base: Path, tiny_artifact: bytes, tmp_path: Path) -> Path:
    """The tiny sentiment classifier installed as the finance app's platform default."""
    settings.BASE_MODELS = {TINY_BASE_NAME: str(tiny_base)}
    settings.MODEL_WORK_DIR = tmp_path / "work"
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.DEFAULT_MODELS_DIR = tmp_path / "defaults"
    target = settings.DEFAULT_MODELS_DIR / APP
    with zipfile.ZipFile(BytesIO(tiny_artifact)) as archive:
        archive.extractall(target)
    return target


def _upload(setup: TenantSetup, rows: list[tuple[str, str]], name: str = "rows.csv") -> Dataset:
    with tenant_context(setup.tenant.pk):
        return dataset_create(app=APP, purpose="labelled", name=name, filename=name,
                              data=to_csv(rows, "text,label"), created_by_id=None)


def _run(setup: TenantSetup, dataset: Dataset, **params) -> Job:
    with tenant_context(setup.tenant.pk):
        job = job_submit(app=APP, kind="fine_tune", dataset_id=dataset.pk,
                         params={"base_model": TINY_BASE_NAME, **params}).job
    execute(job_id=job.pk, worker="test-worker")
    with tenant_context(setup.tenant.pk):
        return Job.objects.get(pk=job.pk)


def _version(setup: TenantSetup, job: Job) -> ModelVersion:
    assert job.status == Job.Status.SUCCEEDED, job.error
    with tenant_context(setup.tenant.pk):
        return ModelVersion.objects.get(pk=job.metrics["model_version"])


def _events(setup: TenantSetup, job: Job) -> list[str]:
    with tenant_context(setup.tenant.pk):
        return [event.message for event in JobEvent.objects.filter(job=job)]


def test_a_poor_fine_tune_is_not_promoted_over_the_platform_default_and_a_good_one_is(
        acme: TenantSetup, platform_default: Path) -> None:
    train = _upload(acme, sentiment_rows(300, seed=3))
    poor = _version(acme, _run(acme, train, **POOR))
    gate = poor.metrics["gate"]
    assert gate["active"] is None
    assert gate["default"]["macro_f1"] > gate["candidate"]["macro_f1"] + 0.2
    assert gate["default"]["rows"] == gate["candidate"]["rows"] > 0
    assert poor.status == ModelVersion.Status.READY
    assert poor.promotion_note.startswith(
        f"Not promoted: macro-F1 {gate['candidate']['macro_f1']:.3f} < platform default's "
        f"{gate['default']['macro_f1']:.3f}")

    good = _version(acme, _run(acme, train, **GOOD))
    gate = good.metrics["gate"]
    assert gate["candidate"]["macro_f1"] >= gate["default"]["macro_f1"]
    assert good.status == ModelVersion.Status.ACTIVE
    assert good.promotion_note.startswith("Promoted: macro-F1")
    # The next one is compared with the active version (the good one) as well.
    again = _version(acme, _run(acme, train, **POOR))
    assert again.metrics["gate"]["active"]["version"] == f"v{good.version}"
    assert again.status == ModelVersion.Status.READY
    assert f"v{good.version} {gate['candidate']['macro_f1']:.3f}" in again.promotion_note


def test_own_validation_and_test_sets_the_dataset_check_and_the_version_page(
        acme: TenantSetup, globex: TenantSetup, platform_default: Path) -> None:
    train = _upload(acme, sentiment_rows(300, seed=3) * 2)  # every row duplicated
    validation = _upload(acme, sentiment_rows(45, seed=11), "validation.csv")
    test = _upload(acme, sentiment_rows(45, seed=12), "test.csv")
    job = _run(acme, train, validation_dataset=validation.pk, test_dataset=test.pk, **GOOD)
    version = _version(acme, job)
    check = job.dataset_check
    assert check["duplicates_removed"] >= 300
    assert check["sources"] == {"validation": "dataset validation.csv",
                                "test": "dataset test.csv"}
    assert (check["validation_rows"], check["test_rows"]) == (45, 45)
    assert check["shared_with_validation"] > 0  # the generator repeats itself: removed
    assert version.metrics["train_size"] == check["train_rows"]
    assert version.metrics["validation_size"] == 45
    figures = version.metrics["test"]
    assert figures["rows"] == 45
    assert set(figures) >= {"accuracy", "macro_f1", "per_class", "confusion_matrix",
                            "top_confusions"}
    assert [row["epoch"] for row in version.metrics["history"]][:2] == [1, 2]
    assert 1 <= version.metrics["best_epoch"] <= 6
    assert any(message.startswith("Method: full (full was requested)")
               for message in _events(acme, job))

    page = acme.browser().get(reverse("jobs:model_detail", args=[version.pk]))
    assert page.status_code == 200
    for marker in (b'data-testid="gate"', b'data-testid="test-metrics"',
                   b'data-testid="training-chart"', b'data-testid="kept-epoch"',
                   b"Platform default", b"dataset test.csv",
                   b"Confusion matrix on the test rows"):
        assert marker in page.content, marker
    job_page = acme.browser().get(reverse("jobs:job_detail", args=[job.pk]))
    assert b'data-testid="dataset-check"' in job_page.content
    assert b"duplicate training rows were removed" in job_page.content

    # Another tenant: the same 404 as a missing version or job, and activation changes nothing.
    intruder = globex.browser()
    for url in (reverse("jobs:model_detail", args=[version.pk]),
                reverse("jobs:job_detail", args=[job.pk])):
        assert intruder.get(url).status_code == 404
    other = _version(acme, _run(acme, train, **POOR))
    assert intruder.post(reverse("jobs:model_activate", args=[other.pk])).status_code == 404
    with tenant_context(acme.tenant.pk):
        assert ModelVersion.objects.get(pk=other.pk).status == ModelVersion.Status.READY


def test_auto_method_is_chosen_from_the_rows_and_said_in_the_events(
        acme: TenantSetup, platform_default: Path) -> None:
    train = _upload(acme, sentiment_rows(240, seed=5))
    job = _run(acme, train, learning_rate=3e-2, epochs=20)
    version = _version(acme, job)
    assert version.method == "head"
    choice = version.metrics["method_choice"]
    assert (choice["method"], choice["chosen_by"], choice["epochs"]) == ("head", "rule", 20)
    assert choice["batch_size"] == 64  # head's default: not set by the job
    [event] = [m for m in _events(acme, job) if m.startswith("Method: ")]
    assert "training rows (fewer than 1000)" in event


def test_training_rows_that_are_all_test_rows_are_refused_before_training(
        acme: TenantSetup, platform_default: Path) -> None:
    rows = sentiment_rows(60, seed=8)
    train = _upload(acme, rows)
    test = _upload(acme, rows, "same.csv")
    job = _run(acme, train, test_dataset=test.pk, **GOOD)
    assert job.status == Job.Status.FAILED
    assert "DatasetRefused" in job.error
    assert "training needs rows of at least two labels; 0 left" in job.error
    assert job.dataset_check["refusals"]
    assert job.dataset_check["shared_with_test"] > 0
    with tenant_context(acme.tenant.pk):
        assert not ModelVersion.objects.exists()
        assert not JobEvent.objects.filter(job=job, kind=JobEvent.Kind.LOSS).exists()


BOT_WORDS = {"card_arrival": "card delivery", "lost_card": "card stolen",
             "exchange_rate": "currency rate"}


def _bot_rows(intents: dict[str, str], count: int, prefix: str) -> list[tuple[str, str]]:
    return [(f"{prefix} {index} about my {words} please", name)
            for name, words in intents.items() for index in range(count)]


def test_the_bot_s_fine_tune_takes_the_customer_s_validation_set(
        acme: TenantSetup, globex: TenantSetup, platform_default: Path) -> None:
    from apps.support_bot.services import intent_create, utterance_create

    with tenant_context(acme.tenant.pk):
        intents = {name: intent_create(name=name) for name in BOT_WORDS}
        for text, name in _bot_rows(BOT_WORDS, 12, "train"):
            utterance_create(intent=intents[name], text=text)

    def upload(setup: TenantSetup, rows: list[tuple[str, str]]) -> Dataset:
        with tenant_context(setup.tenant.pk):
            return dataset_create(app="support_bot", purpose="utterances", name="val.csv",
                                  filename="val.csv", data=to_csv(rows, "text,intent"),
                                  created_by_id=None)

    def run(validation: Dataset) -> Job:
        with tenant_context(acme.tenant.pk):
            job = job_submit(app="support_bot", kind="fine_tune", params={
                "base_model": TINY_BASE_NAME, "method": "head", "epochs": 30,
                "learning_rate": 3e-2, "validation_dataset": validation.pk}).job
        execute(job_id=job.pk, worker="test-worker")
        with tenant_context(acme.tenant.pk):
            return Job.objects.get(pk=job.pk)

    # Another tenant's utterances cannot be named.
    theirs = upload(globex, _bot_rows(BOT_WORDS, 2, "val"))
    with tenant_context(acme.tenant.pk), pytest.raises(JobError, match="Dataset not found"):
        job_submit(app="support_bot", kind="fine_tune",
                   params={"validation_dataset": theirs.pk})

    # An intent the tenant's utterances lack: refused by the worker's check, before training.
    unknown = run(upload(acme, _bot_rows({**BOT_WORDS, "refund": "money back"}, 3, "val")))
    assert unknown.status == Job.Status.FAILED
    assert "the validation set has labels the training rows lack: refund" in unknown.error
    assert unknown.dataset_check["refusals"] == [
        "the validation set has labels the training rows lack: refund"]

    job = run(upload(acme, _bot_rows(BOT_WORDS, 3, "val")))
    version = _version(acme, job)
    assert job.dataset_check["sources"] == {"validation": "dataset val.csv", "test": "split"}
    assert version.metrics["gate"]["candidate"]["rows"] == 9
    # The finance platform default is not the bot's: nothing to compare with.
    assert version.metrics["gate"]["default"] is None
    assert version.status == ModelVersion.Status.ACTIVE
