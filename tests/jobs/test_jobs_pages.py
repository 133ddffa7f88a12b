"""Dashboard pages for datasets, jobs and models: upload with its validation report, job
submission, the live job panel polled by htmx, model activation; roles; cross-tenant 404s."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from jobs.models import Dataset, Job, JobEvent, ModelVersion
from jobs.services import job_cancel, job_event_add, job_submit
from tenancy.context import tenant_context
from tenancy.models import Role
from tests.conftest import TenantSetup
from tests.jobs.conftest import LABELLED_CSV, labelled_dataset
from tests.jobs.test_api_models import make_version


@pytest.fixture(autouse=True)
def _media_root(settings: pytest.FixtureRequest, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")


def browser_for(setup: TenantSetup, role: str) -> Client:
    client = Client()
    client.force_login(setup.add_member(role).user)
    return client


def submit_job(setup: TenantSetup, dataset: Dataset) -> Job:
    with tenant_context(setup.tenant.pk):
        return job_submit(app="finance_sentiment", kind="fine_tune", params={"epochs": 1},
                          dataset_id=dataset.pk).job


def count(setup: TenantSetup, model: type) -> int:
    with tenant_context(setup.tenant.pk):
        return model.objects.count()


def upload_form(data: bytes, filename: str = "train.csv", purpose: str = "labelled") -> dict:
    return {"app": "finance_sentiment", "purpose": purpose, "name": "",
            "file": SimpleUploadedFile(filename, data)}


# --- Datasets --------------------------------------------------------------------------------


def test_upload_a_good_csv_goes_to_its_page(acme: TenantSetup) -> None:
    client = acme.browser()
    page = client.get(reverse("jobs:dataset_list"))
    assert page.status_code == 200
    assert b'value="finance_sentiment"' in page.content
    assert b'value="labelled"' in page.content
    response = client.post(reverse("jobs:dataset_list"), upload_form(LABELLED_CSV))
    assert response.status_code == 302
    with tenant_context(acme.tenant.pk):
        dataset = Dataset.objects.get()
    assert response["Location"] == reverse("jobs:dataset_detail", args=[dataset.pk])
    detail = client.get(response["Location"])
    assert b"train.csv" in detail.content
    assert reverse("api:dataset-download", args=[dataset.pk]).encode() in detail.content
    assert client.get(reverse("api:dataset-download", args=[dataset.pk])).status_code == 200
    listing = client.get(reverse("jobs:dataset_list"))
    assert b"train.csv" in listing.content


def test_a_refused_upload_shows_rows_and_columns_and_stores_nothing(acme: TenantSetup) -> None:
    bad = b"text,label\nfine,positive\n,negative\nok,sideways\n"
    response = acme.browser().post(reverse("jobs:dataset_list"), upload_form(bad))
    assert response.status_code == 400
    html = response.content.decode()
    assert 'data-testid="problems"' in html
    cells = re.findall(r"<td[^>]*>(.*?)</td>", html.split('data-testid="problems"')[1]
                       .split("</table>")[0], flags=re.S)
    assert cells[:2] == ["2", "<code>text</code>"]
    assert cells[3:5] == ["3", "<code>label</code>"]
    assert "sideways" in cells[5]
    assert count(acme, Dataset) == 0


def test_a_latin_1_or_oversized_upload_is_reported(acme: TenantSetup, settings) -> None:
    client = acme.browser()
    latin = client.post(reverse("jobs:dataset_list"),
                        upload_form("text,label\ncafé,positive\n".encode("latin-1")))
    assert latin.status_code == 400
    assert b"not UTF-8" in latin.content
    settings.DATASET_MAX_BYTES = 50
    big = client.post(reverse("jobs:dataset_list"), upload_form(LABELLED_CSV))
    assert big.status_code == 400
    assert b"the limit is 50 bytes" in big.content
    assert count(acme, Dataset) == 0


def test_viewers_read_but_cannot_upload_or_delete(acme: TenantSetup) -> None:
    dataset = labelled_dataset(acme)
    viewer = browser_for(acme, Role.VIEWER)
    page = viewer.get(reverse("jobs:dataset_list"))
    assert page.status_code == 200
    assert b'enctype="multipart/form-data"' not in page.content
    assert viewer.get(reverse("jobs:dataset_detail", args=[dataset.pk])).status_code == 200
    assert viewer.post(reverse("jobs:dataset_list"),
                       upload_form(LABELLED_CSV)).status_code == 403
    assert viewer.post(reverse("jobs:dataset_delete", args=[dataset.pk])).status_code == 403
    assert count(acme, Dataset) == 1


def test_delete_a_dataset_in_use_explains_why_not(acme: TenantSetup) -> None:
    dataset = labelled_dataset(acme)
    submit_job(acme, dataset)
    response = acme.browser().post(reverse("jobs:dataset_delete", args=[dataset.pk]),
                                   follow=True)
    assert b"used by a job" in response.content
    assert count(acme, Dataset) == 1
    unused = labelled_dataset(acme, LABELLED_CSV + b"one more,neutral\n")
    response = acme.browser().post(reverse("jobs:dataset_delete", args=[unused.pk]))
    assert response.status_code == 302
    assert count(acme, Dataset) == 1


# --- Jobs ------------------------------------------------------------------------------------


def test_submit_a_fine_tune_from_the_jobs_page(acme: TenantSetup) -> None:
    dataset = labelled_dataset(acme)
    client = browser_for(acme, Role.MEMBER)
    page = client.get(reverse("jobs:job_list"))
    assert page.status_code == 200
    key = re.search(rb'name="fine_tune-idempotency_key" value="([0-9a-f]+)"', page.content)[1]
    form = {"kind": "fine_tune", "fine_tune-idempotency_key": key.decode(),
            "fine_tune-dataset": dataset.pk, "fine_tune-method": "lora",
            "fine_tune-epochs": 2}
    response = client.post(reverse("jobs:job_list"), form)
    assert response.status_code == 302
    with tenant_context(acme.tenant.pk):
        job = Job.objects.get()
    assert response["Location"] == reverse("jobs:job_detail", args=[job.pk])
    assert (job.kind, job.app, job.params["epochs"], job.params["force"]) == (
        "fine_tune", "finance_sentiment", 2, False)
    # A double-click sends the same form twice: still one job.
    assert client.post(reverse("jobs:job_list"), form)["Location"] == response["Location"]
    assert count(acme, Job) == 1
    listing = client.get(reverse("jobs:job_list"))
    assert f'id="job-{job.pk}"'.encode() in listing.content
    assert b"<progress" in listing.content


def test_submit_batch_inference_and_form_errors(acme: TenantSetup) -> None:
    dataset = labelled_dataset(acme)
    client = acme.browser()
    bad = client.post(reverse("jobs:job_list"), {
        "kind": "fine_tune", "fine_tune-idempotency_key": "k1",
        "fine_tune-dataset": dataset.pk, "fine_tune-method": "lora", "fine_tune-epochs": 0})
    assert bad.status_code == 400
    assert b"field-error" in bad.content
    good = client.post(reverse("jobs:job_list"), {
        "kind": "batch_inference", "batch_inference-idempotency_key": "k2",
        "batch_inference-dataset": dataset.pk})
    assert good.status_code == 302
    with tenant_context(acme.tenant.pk):
        assert Job.objects.get().kind == "batch_inference"


def test_job_list_filters(acme: TenantSetup) -> None:
    dataset = labelled_dataset(acme)
    queued = submit_job(acme, dataset)
    cancelled = submit_job(acme, dataset)
    with tenant_context(acme.tenant.pk):
        job_cancel(job=cancelled)
    page = acme.browser().get(reverse("jobs:job_list"), {"status": "cancelled"})
    assert f'id="job-{cancelled.pk}"'.encode() in page.content
    assert f'id="job-{queued.pk}"'.encode() not in page.content
    # An unknown filter value is ignored rather than an error page.
    assert acme.browser().get(reverse("jobs:job_list"), {"status": "x"}).status_code == 200


def test_job_page_polls_while_unfinished_and_stops_after(acme: TenantSetup) -> None:
    job = submit_job(acme, labelled_dataset(acme))
    client = acme.browser()
    live_url = reverse("jobs:job_live", args=[job.pk])
    page = client.get(reverse("jobs:job_detail", args=[job.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert f'hx-get="{live_url}"' in html
    assert 'hx-trigger="every 2s"' in html
    assert "Queued" in html
    partial = client.get(live_url, HTTP_HX_REQUEST="true")
    assert partial.status_code == 200
    assert b"<html" not in partial.content
    assert b'hx-trigger="every 2s"' in partial.content
    response = client.post(reverse("jobs:job_cancel", args=[job.pk]))
    assert response.status_code == 302
    finished = client.get(live_url, HTTP_HX_REQUEST="true").content
    assert b"hx-trigger" not in finished
    assert b"Cancelled before it started" in finished
    retried = client.post(reverse("jobs:job_retry", args=[job.pk]), follow=True)
    assert b"queued again" in retried.content
    with tenant_context(acme.tenant.pk):
        assert Job.objects.get(pk=job.pk).status == Job.Status.QUEUED


def test_viewers_cannot_submit_cancel_or_retry(acme: TenantSetup) -> None:
    dataset = labelled_dataset(acme)
    job = submit_job(acme, dataset)
    viewer = browser_for(acme, Role.VIEWER)
    page = viewer.get(reverse("jobs:job_list"))
    assert page.status_code == 200
    assert b"Start fine-tuning" not in page.content
    assert b">Cancel<" not in viewer.get(reverse("jobs:job_detail", args=[job.pk])).content
    assert viewer.post(reverse("jobs:job_list"), {
        "kind": "fine_tune", "fine_tune-idempotency_key": "v",
        "fine_tune-dataset": dataset.pk, "fine_tune-epochs": 1,
        "fine_tune-method": "lora"}).status_code == 403
    assert viewer.post(reverse("jobs:job_cancel", args=[job.pk])).status_code == 403
    assert viewer.post(reverse("jobs:job_retry", args=[job.pk])).status_code == 403
    with tenant_context(acme.tenant.pk):
        assert Job.objects.get().status == Job.Status.QUEUED


# --- Models ----------------------------------------------------------------------------------


def test_models_page_shows_metrics_and_the_confusion_matrix(acme: TenantSetup) -> None:
    make_version(acme, 1, ModelVersion.Status.ACTIVE)
    version = make_version(acme, 2)
    page = acme.browser().get(reverse("jobs:model_list"))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-testid="confusion-matrix"' in html
    assert "0.780" in html
    matrix = html.split('data-testid="confusion-matrix"')[1].split("</table>")[0]
    assert re.findall(r">(\d+)</td>", matrix)[:3] == ["3", "1", "0"]
    detail = acme.browser().get(reverse("jobs:model_detail", args=[version.pk]))
    assert b'data-testid="confusion-matrix"' in detail.content
    per_class = detail.content.decode().split('data-testid="per-class"')[1]
    labels = re.findall(r"<tr><td>(\w+)</td>", per_class)
    assert labels == ["negative", "neutral", "positive"]  # the label map's order


def test_admins_activate_members_cannot(acme: TenantSetup) -> None:
    make_version(acme, 1, ModelVersion.Status.ACTIVE)
    version = make_version(acme, 2)
    url = reverse("jobs:model_activate", args=[version.pk])
    member = browser_for(acme, Role.MEMBER)
    assert url.encode() not in member.get(reverse("jobs:model_list")).content
    assert member.post(url).status_code == 403
    admin = browser_for(acme, Role.ADMIN)
    assert url.encode() in admin.get(reverse("jobs:model_list")).content
    assert admin.post(url).status_code == 302
    with tenant_context(acme.tenant.pk):
        assert ModelVersion.objects.get(status="active").pk == version.pk


# --- Cross-tenant ----------------------------------------------------------------------------


def test_other_tenant_gets_404_on_every_page_and_changes_nothing(
    acme: TenantSetup, globex: TenantSetup
) -> None:
    dataset = labelled_dataset(acme)
    job = submit_job(acme, dataset)
    make_version(acme, 1, ModelVersion.Status.ACTIVE)
    version = make_version(acme, 2)
    intruder = globex.browser()
    for name, pk in (("dataset_detail", dataset.pk), ("job_detail", job.pk),
                     ("job_live", job.pk), ("model_detail", version.pk)):
        assert intruder.get(reverse(f"jobs:{name}", args=[pk])).status_code == 404, name
    for name, pk in (("dataset_delete", dataset.pk), ("job_cancel", job.pk),
                     ("job_retry", job.pk), ("model_activate", version.pk)):
        assert intruder.post(reverse(f"jobs:{name}", args=[pk])).status_code == 404, name
    for page in ("dataset_list", "job_list", "model_list"):
        content = intruder.get(reverse(f"jobs:{page}")).content
        assert b"train.csv" not in content
        assert f'id="job-{job.pk}"'.encode() not in content
        assert f'id="version-{version.pk}"'.encode() not in content
    # globex's submit form cannot name acme's dataset either.
    response = intruder.post(reverse("jobs:job_list"), {
        "kind": "fine_tune", "fine_tune-idempotency_key": "x", "fine_tune-dataset": dataset.pk,
        "fine_tune-method": "lora", "fine_tune-epochs": 1})
    assert response.status_code == 400
    assert count(globex, Job) == 0
    with tenant_context(acme.tenant.pk):
        assert Dataset.objects.filter(pk=dataset.pk).exists()
        assert Job.objects.get(pk=job.pk).status == Job.Status.QUEUED
        assert ModelVersion.objects.get(pk=version.pk).status == ModelVersion.Status.READY


def test_job_page_shows_event_data_and_params_whose_keys_shadow_dict_methods(
        acme: TenantSetup) -> None:
    """A succeeded batch job reports ``items``: ``event.data.items`` in a template read that
    key instead of the dict's pairs, and every such job page answered 500."""
    job = submit_job(acme, labelled_dataset(acme))
    with tenant_context(acme.tenant.pk):
        job.params = {**job.params, "keys": "k", "values": 2}
        job.save(update_fields=["params"])
        job_event_add(job=job, kind=JobEvent.Kind.METRICS, message="Done",
                      data={"items": 6000, "values": 3, "accuracy": 0.9})
    page = acme.browser().get(reverse("jobs:job_detail", args=[job.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "items=6000" in html
    assert "values=3" in html
    assert "<dt>keys</dt>" in html


def test_no_template_iterates_a_mapping_through_its_items_attribute() -> None:
    """``{% for k, v in x.items %}`` breaks as soon as ``x`` has a key named ``items``; the
    templates use the ``entries`` filter instead."""
    root = Path(__file__).resolve().parents[2] / "templates"
    trap = re.compile(r"{%\s*for\s+[^%]*\sin\s+[^%]*\.(items|keys|values)\s*%}")
    offenders = [f"{path.relative_to(root)}:{number}"
                 for path in sorted(root.rglob("*.html"))
                 for number, line in enumerate(path.read_text().splitlines(), 1)
                 if trap.search(line)]
    assert offenders == []
