"""Loading a tenant's model version on a worker whose tasks run in threads."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from jobs.models import ModelVersion
from tenancy.context import tenant_context
from tests.conftest import TenantSetup
from tests.workers.conftest import TINY_BASE_NAME, install_version

pytestmark = pytest.mark.django_db(transaction=True)  # threads have their own connections


def test_concurrent_first_requests_unpack_and_load_a_version_once(
        acme: TenantSetup, tiny_base: Path, tiny_artifact: bytes, tmp_path: Path,
        settings: Any) -> None:
    from workers.handlers.text_classification import classifier_for
    from workers.runtime import unload_classifier

    settings.MODEL_WORK_DIR = tmp_path / "models"
    settings.BASE_MODELS = {TINY_BASE_NAME: str(tiny_base)}
    version = install_version(acme, tiny_artifact)
    unload_classifier(("version", version.pk))  # (a pk an earlier test may have cached)
    barrier = threading.Barrier(6)
    loaded: list[Any] = []
    errors: list[BaseException] = []

    def first_request() -> None:
        try:
            barrier.wait(10)
            with tenant_context(acme.tenant.pk):  # each request reads the version itself
                loaded.append(classifier_for(ModelVersion.objects.get(pk=version.pk)))
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=first_request) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    assert len(loaded) == 6
    assert all(classifier is loaded[0] for classifier in loaded)
    # One unpacked copy, no staging folder left behind.
    [unpacked] = list((tmp_path / "models" / "versions").iterdir())
    assert (unpacked / "manifest.json").exists()
