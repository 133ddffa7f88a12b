"""``/api/v1/models``: versions with their metrics, activation (admin scope), artefact
download; and the cross-tenant 404s."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.test import Client

from accounts.services import api_key_create
from jobs.models import ModelVersion
from tenancy.context import tenant_context
from tenancy.models import Role
from tests.conftest import TenantSetup, error_of
from tests.jobs.conftest import labelled_dataset

URL = "/api/v1/models"
LABELS = ["negative", "neutral", "positive"]
METRICS = {
    "accuracy": 0.8, "macro_f1": 0.78, "labels": LABELS, "validation_size": 10,
    "confusion_matrix": [[3, 1, 0], [0, 2, 1], [0, 0, 3]],
    "per_class": {label: {"precision": 0.8, "recall": 0.7, "f1": 0.75, "support": 3}
                  for label in LABELS},
}


@pytest.fixture(autouse=True)
def _media_root(settings: pytest.FixtureRequest, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")


def make_version(setup: TenantSetup, number: int, status: str = ModelVersion.Status.READY,
                 app: str = "finance_sentiment") -> ModelVersion:
    with tenant_context(setup.tenant.pk):
        version = ModelVersion(app=app, version=number, base_model="all-MiniLM-L6-v2",
                               label_map=LABELS, metrics=METRICS, status=status,
                               artifact_bytes=12)
        version.artifact.save(f"v{number}.safetensors", ContentFile(b"adapter-v%d" % number),
                              save=False)
        version.save()
        return version


def statuses(setup: TenantSetup) -> dict[int, str]:
    with tenant_context(setup.tenant.pk):
        return dict(ModelVersion.objects.values_list("version", "status"))


def test_list_filter_and_detail_with_confusion_matrix(acme: TenantSetup) -> None:
    old = make_version(acme, 1, ModelVersion.Status.ACTIVE)
    new = make_version(acme, 2)
    listed = acme.api().get(URL).json()["results"]
    assert [row["id"] for row in listed] == [new.pk, old.pk]
    active = acme.api().get(URL, {"status": "active"}).json()["results"]
    assert [row["id"] for row in active] == [old.pk]
    assert acme.api().get(URL, {"app": "finance_sentiment"}).json()["results"]
    bad = acme.api().get(URL, {"app": "astrology"})
    assert bad.status_code == 400
    assert "app" in bad.json()["error"]["fields"]
    detail = acme.api().get(f"{URL}/{new.pk}").json()
    assert detail["version"] == 2
    assert detail["label_map"] == LABELS
    assert detail["metrics"]["confusion_matrix"] == [[3, 1, 0], [0, 2, 1], [0, 0, 3]]
    assert detail["metrics"]["macro_f1"] == 0.78


def test_activate_switches_the_active_version(acme: TenantSetup) -> None:
    make_version(acme, 1, ModelVersion.Status.ACTIVE)
    new = make_version(acme, 2)
    response = acme.api().post(f"{URL}/{new.pk}/activate")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "active"
    assert body["activated_at"] is not None
    assert "api-key" in body["promotion_note"]
    assert statuses(acme) == {1: "ready", 2: "active"}
    # Idempotent: activating the active version again changes nothing.
    assert acme.api().post(f"{URL}/{new.pk}/activate").status_code == 200
    assert statuses(acme) == {1: "ready", 2: "active"}


def test_activate_needs_the_admin_scope_or_role(acme: TenantSetup) -> None:
    make_version(acme, 1, ModelVersion.Status.ACTIVE)
    new = make_version(acme, 2)
    with tenant_context(acme.tenant.pk):
        writer = api_key_create(name="ci", scopes=["write"], created_by_id=None).raw_key
    response = acme.api(writer).post(f"{URL}/{new.pk}/activate")
    assert response.status_code == 403
    assert "admin" in response.json()["error"]["message"]
    member = acme.add_member(Role.MEMBER)
    browser = Client()
    browser.force_login(member.user)
    assert browser.get(f"{URL}/{new.pk}").status_code == 200
    assert browser.post(f"{URL}/{new.pk}/activate").status_code == 403
    assert statuses(acme) == {1: "active", 2: "ready"}


def test_download_the_artefact(acme: TenantSetup) -> None:
    version = make_version(acme, 3)
    response = acme.api().get(f"{URL}/{version.pk}/download",
                              HTTP_ACCEPT="application/octet-stream")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"adapter-v3"
    assert "v3" in response["Content-Disposition"]


def test_a_missing_artefact_file_is_a_404_not_a_500(acme: TenantSetup) -> None:
    version = make_version(acme, 4)
    version.artifact.storage.delete(version.artifact.name)
    response = acme.api().get(f"{URL}/{version.pk}/download")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "file_missing"


def test_other_tenant_cannot_read_activate_or_download_a_version(
    acme: TenantSetup, globex: TenantSetup
) -> None:
    make_version(acme, 1, ModelVersion.Status.ACTIVE)
    target = make_version(acme, 2)
    intruder = globex.api()
    url = f"{URL}/{target.pk}"
    assert intruder.get(URL).json()["results"] == []
    for response in (
        intruder.get(url),
        intruder.get(f"{url}/download"),
        intruder.post(f"{url}/activate"),
        intruder.patch(url, {"status": "active"}, format="json"),
        intruder.delete(url),
    ):
        assert response.status_code in (404, 405), response.content
    assert intruder.post(f"{url}/activate").status_code == 404
    assert error_of(intruder.get(url)) == error_of(intruder.get(f"{URL}/999999"))
    assert statuses(acme) == {1: "active", 2: "ready"}
    # Nor can it run batch inference with acme's version.
    response = intruder.post("/api/v1/jobs", {"app": "finance_sentiment",
                                              "kind": "batch_inference",
                                              "dataset": labelled_dataset(globex).pk,
                                              "model_version": target.pk}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"model_version": ["not found"]}
