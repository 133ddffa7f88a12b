"""A fine-tune's own ``validation_dataset`` and ``test_dataset``, named by id: the tenant's
own datasets only (another tenant's is "not found", nothing is queued), of a training purpose,
with rows, without labels the training dataset lacks; kept while a job names them. Through
the API and the jobs page, since both submit fine-tunes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.urls import reverse

from jobs.models import Dataset, Job
from jobs.services import JobError, dataset_create, dataset_delete
from tenancy.context import tenant_context
from tests.conftest import TenantSetup, error_of
from tests.jobs.conftest import labelled_dataset

URL = "/api/v1/jobs"
TWO_LABELS = (b"text,label\n$ACME soars,positive\n$ACME plunges,negative\n"
              b"$ACME beats,positive\n$ACME misses,negative\n")


@pytest.fixture(autouse=True)
def _media_root(settings: pytest.FixtureRequest, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")


def _post(setup: TenantSetup, train: Dataset, **params):
    return setup.api().post(URL, {"app": "finance_sentiment", "kind": "fine_tune",
                                  "dataset": train.pk, "params": params}, format="json")


def _jobs(setup: TenantSetup) -> int:
    with tenant_context(setup.tenant.pk):
        return Job.objects.count()


def test_own_validation_and_test_datasets_are_recorded(acme: TenantSetup) -> None:
    train, validation, test = (labelled_dataset(acme) for _ in range(3))
    response = _post(acme, train, validation_dataset=validation.pk, test_dataset=test.pk,
                     gate_margin=0.01, method="head")
    assert response.status_code == 201, response.content
    params = response.json()["params"]
    assert (params["validation_dataset"], params["test_dataset"]) == (validation.pk, test.pk)
    assert (params["gate_margin"], params["method"]) == (0.01, "head")
    # Named by a job, a validation set is kept for its record.
    with tenant_context(acme.tenant.pk), pytest.raises(JobError):
        dataset_delete(dataset=validation)


@pytest.mark.parametrize("name", ["validation_dataset", "test_dataset"])
def test_another_tenant_s_dataset_cannot_be_named(acme: TenantSetup, globex: TenantSetup,
                                                  name: str) -> None:
    train = labelled_dataset(acme)
    theirs = labelled_dataset(globex)
    response = _post(acme, train, **{name: theirs.pk})
    assert response.status_code == 400
    assert error_of(response)["error"]["fields"] == {f"params.{name}": ["not found"]}
    assert _jobs(acme) == 0
    # The same answer as a dataset that does not exist.
    missing = _post(acme, train, **{name: theirs.pk + 1000})
    assert error_of(missing)["error"]["fields"] == {f"params.{name}": ["not found"]}


def test_a_validation_set_with_labels_the_training_set_lacks_is_a_400(acme: TenantSetup) -> None:
    train = labelled_dataset(acme, TWO_LABELS)
    validation = labelled_dataset(acme)  # has "neutral" too
    response = _post(acme, train, validation_dataset=validation.pk)
    assert response.status_code == 400
    assert error_of(response)["error"]["fields"] == {
        "params.validation_dataset": ["labels not in the training dataset: neutral"]}
    assert _jobs(acme) == 0


def test_an_empty_test_set_or_the_wrong_purpose_or_the_training_set_is_a_400(
        acme: TenantSetup) -> None:
    train = labelled_dataset(acme)
    with tenant_context(acme.tenant.pk):
        texts = dataset_create(app="finance_sentiment", purpose="texts", name="t.csv",
                               filename="t.csv", data=b"text\nhello\n", created_by_id=None)
        empty = Dataset.objects.create(app="finance_sentiment", purpose="labelled", name="e",
                                       file="datasets/none.csv", format="csv", size_bytes=0,
                                       sha256="0" * 64, row_count=0)
    cases = [({"test_dataset": empty.pk}, {"params.test_dataset": ["has no rows"]}),
             ({"test_dataset": texts.pk}, {"params.test_dataset": ["has purpose 'texts'"]}),
             ({"validation_dataset": train.pk},
              {"params.validation_dataset": ["is the training dataset"]}),
             ({"validation_dataset": "x"},
              {"params.validation_dataset": ["A valid integer is required."]})]
    for params, fields in cases:
        response = _post(acme, train, **params)
        assert response.status_code == 400, params
        assert error_of(response)["error"]["fields"] == fields
    assert _jobs(acme) == 0


def test_the_jobs_page_offers_only_the_tenant_s_datasets(acme: TenantSetup,
                                                         globex: TenantSetup) -> None:
    train, validation = labelled_dataset(acme), labelled_dataset(acme)
    theirs = labelled_dataset(globex)
    client = acme.browser()
    page = client.get(reverse("jobs:job_list"))
    assert f'value="{validation.pk}"'.encode() in page.content
    assert f'value="{theirs.pk}"'.encode() not in page.content
    key = re.search(rb'name="fine_tune-idempotency_key" value="([0-9a-f]+)"', page.content)[1]
    form = {"kind": "fine_tune", "fine_tune-idempotency_key": key.decode(),
            "fine_tune-dataset": train.pk, "fine_tune-method": "auto",
            "fine_tune-validation_dataset": theirs.pk}
    refused = client.post(reverse("jobs:job_list"), form)
    assert refused.status_code == 400
    assert b"Select a valid choice" in refused.content
    assert _jobs(acme) == 0
    form["fine_tune-validation_dataset"] = validation.pk
    assert client.post(reverse("jobs:job_list"), form).status_code == 302
    with tenant_context(acme.tenant.pk):
        job = Job.objects.get()
    assert (job.params["validation_dataset"], job.params["method"]) == (validation.pk, "auto")
    assert "epochs" not in job.params or job.params["epochs"] is None
