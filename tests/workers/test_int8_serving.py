"""``INFERENCE_PRECISION`` on a worker: a tenant's version serves in int8 once it matched fp32
on the version's own test rows (recomputed from the job that trained it), and in fp32 with the
setting's default or when there are no rows to check it on."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from jobs.models import Job, ModelVersion
from jobs.services import dataset_create, model_version_create
from tenancy.context import tenant_context
from tests.conftest import TenantSetup
from tests.workers.conftest import TINY_BASE_NAME, install_version, sentiment_rows, to_csv

pytestmark = pytest.mark.django_db


@pytest.fixture
def worker_settings(settings: Any, tiny_base: Path, tmp_path: Path) -> Any:
    settings.BASE_MODELS = {TINY_BASE_NAME: str(tiny_base)}
    settings.MODEL_WORK_DIR = tmp_path / "models"
    return settings


def version_trained_on_a_dataset(setup: TenantSetup, artifact: bytes) -> ModelVersion:
    """A version whose job names its training dataset, as fine-tune jobs do."""
    with tenant_context(setup.tenant.pk):
        dataset = dataset_create(app="finance_sentiment", purpose="labelled", name="train.csv",
                                 filename="train.csv", data=to_csv(sentiment_rows(600),
                                                                   "text,label"),
                                 created_by_id=None)
        job = Job.objects.create(app="finance_sentiment", kind="fine_tune", status="succeeded",
                                 dataset=dataset, params={"seed": 5, "validation_fraction": 0.2})
        return model_version_create(job=job, label_map=["negative", "neutral", "positive"],
                                    metrics={"macro_f1": 0.9}, artifact_name="artifact.zip",
                                    artifact=artifact, base_model=TINY_BASE_NAME, method="full")


def load(setup: TenantSetup, version: ModelVersion) -> Any:
    from workers.handlers.text_classification import classifier_for
    from workers.runtime import unload_classifier

    unload_classifier(("version", version.pk))  # (a pk an earlier test may have cached)
    with tenant_context(setup.tenant.pk):
        return classifier_for(ModelVersion.objects.get(pk=version.pk))


def unpacked(settings: Any) -> Path:
    [folder] = list((Path(settings.MODEL_WORK_DIR) / "versions").iterdir())
    return folder


def test_int8_setting_serves_the_version_in_int8_validated_on_its_test_rows(
        acme: TenantSetup, tiny_artifact: bytes, worker_settings: Any) -> None:
    from workers.handlers.model_evaluation import version_test_rows
    from workers.runtime import unload_classifier

    worker_settings.INFERENCE_PRECISION = "int8"
    version = version_trained_on_a_dataset(acme, tiny_artifact)
    try:
        classifier = load(acme, version)
        assert classifier.int8 is not None
        with tenant_context(acme.tenant.pk):
            test_texts, test_labels = version_test_rows(version.job)
        assert 0 < len(test_texts) < 600
        assert set(test_labels) == {"negative", "neutral", "positive"}
        verdict = json.loads((unpacked(worker_settings) / "int8" / "validation.json").read_text())
        assert verdict["passed"] is True
        assert verdict["rows"] == len(test_texts)
        predicted = [p.label for chunk in classifier.classify(test_texts) for p in chunk]
        assert np.mean([p == y for p, y in zip(predicted, test_labels, strict=True)]) > 0.8
    finally:
        unload_classifier(("version", version.pk))


def test_the_default_setting_serves_fp32_and_builds_nothing(
        acme: TenantSetup, tiny_artifact: bytes, worker_settings: Any) -> None:
    from workers.runtime import unload_classifier

    assert worker_settings.INFERENCE_PRECISION == "fp32"
    version = version_trained_on_a_dataset(acme, tiny_artifact)
    try:
        classifier = load(acme, version)
        assert classifier.int8 is None
        assert not (unpacked(worker_settings) / "int8").exists()
    finally:
        unload_classifier(("version", version.pk))


def test_a_version_without_test_rows_stays_in_fp32(
        acme: TenantSetup, tiny_artifact: bytes, worker_settings: Any,
        caplog: pytest.LogCaptureFixture) -> None:
    from workers.runtime import unload_classifier

    worker_settings.INFERENCE_PRECISION = "int8"
    version = install_version(acme, tiny_artifact)  # its job names no dataset
    try:
        with caplog.at_level(logging.WARNING, logger="workers.runtime.quantization"):
            classifier = load(acme, version)
        assert classifier.int8 is None
        assert "serving fp32" in caplog.text
    finally:
        unload_classifier(("version", version.pk))
