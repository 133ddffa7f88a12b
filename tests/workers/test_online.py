"""Real-time inference through the ``online`` queue: answered by a real worker, and a clear
error when none answers in time."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from jobs.online import OnlineFailed, OnlineUnavailable, online_classify
from tenancy.context import tenant_context
from tests.conftest import TenantSetup, WorkerFactory
from tests.workers.conftest import TINY_BASE_NAME, install_version

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_online_classify_uses_the_tenants_active_model(
    acme: TenantSetup, globex: TenantSetup, tiny_base: Path, tiny_artifact: bytes,
    tmp_path: Path, workers: WorkerFactory, settings,
) -> None:
    settings.DEFAULT_MODELS_DIR = tmp_path / "no-defaults"
    version = install_version(acme, tiny_artifact)
    workers.start(BASE_MODELS=json.dumps({TINY_BASE_NAME: str(tiny_base)}),
                  MODEL_WORK_DIR=str(tmp_path / "models"),
                  DEFAULT_MODELS_DIR=str(tmp_path / "no-defaults"))
    with tenant_context(acme.tenant.pk):
        [first, second] = online_classify(app="finance_sentiment",
                                          texts=["$ACME soars on record profit",
                                                 "$ACME plunges after fraud probe"], timeout=30)
    # The version that ran, by id (as jobs and the API name it) and number.
    assert (first["model_version"], first["model_version_number"]) == (version.pk,
                                                                       version.version)
    assert set(first["probabilities"]) == {"negative", "neutral", "positive"}
    assert abs(sum(first["probabilities"].values()) - 1) < 1e-3
    assert first["label"] == max(first["probabilities"], key=first["probabilities"].get)
    assert second["label"] in {"negative", "neutral", "positive"}
    # Globex has no model of its own and no platform default is installed: a clear error.
    with tenant_context(globex.tenant.pk), pytest.raises(OnlineFailed, match="No model"):
        online_classify(app="finance_sentiment", texts=["hello"], timeout=30)


def test_no_worker_gives_a_clear_error_quickly(acme: TenantSetup) -> None:
    started = time.monotonic()
    with tenant_context(acme.tenant.pk), pytest.raises(OnlineUnavailable, match="No inference"):
        online_classify(app="finance_sentiment", texts=["hello"], timeout=1)
    assert time.monotonic() - started < 5
