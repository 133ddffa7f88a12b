"""Console pages for the job pipeline: every tenant's jobs, retry and cancel actions run under
each job's tenant, read-only events, model activation, usage, webhooks without secrets, and
the queues-and-workers page."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import Client

from accounts.models import User
from billing.models import UsageRecord
from config.redis import redis_client
from jobs.models import Dataset, Job, ModelVersion
from jobs.services import job_cancel, job_finish, job_submit
from tenancy.context import tenant_context
from tests.conftest import TenantSetup
from tests.jobs.conftest import labelled_dataset
from tests.jobs.test_api_models import make_version
from webhooks.models import WebhookDelivery, WebhookEndpoint

JOBS = "/console/jobs/job/"


@pytest.fixture(autouse=True)
def _media_root(settings: pytest.FixtureRequest, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def staff(db: None) -> Client:
    user = User.objects.create_superuser("root@example.com", "pw-for-staff-123")
    client = Client()
    client.force_login(user)
    return client


def submit_job(setup: TenantSetup, dataset: Dataset | None = None) -> Job:
    with tenant_context(setup.tenant.pk):
        return job_submit(app="finance_sentiment", kind="fine_tune", params={"epochs": 1},
                          dataset_id=(dataset or labelled_dataset(setup)).pk).job


def status_of(setup: TenantSetup, job: Job) -> str:
    with tenant_context(setup.tenant.pk):
        return Job.objects.get(pk=job.pk).status


def test_staff_sees_jobs_of_every_tenant_and_filters(
    staff: Client, acme: TenantSetup, globex: TenantSetup
) -> None:
    acme_job, globex_job = submit_job(acme), submit_job(globex)
    listing = staff.get(JOBS)
    assert listing.status_code == 200
    html = listing.content.decode()
    assert f"{JOBS}{acme_job.pk}/change/" in html
    assert f"{JOBS}{globex_job.pk}/change/" in html
    filtered = staff.get(JOBS, {"tenant__id__exact": globex.tenant.pk}).content.decode()
    assert f"{JOBS}{globex_job.pk}/change/" in filtered
    assert f"{JOBS}{acme_job.pk}/change/" not in filtered
    assert staff.get(JOBS, {"status__exact": "queued", "q": "globex"}).status_code == 200


def test_job_detail_shows_its_events_read_only(staff: Client, acme: TenantSetup) -> None:
    job = submit_job(acme)
    with tenant_context(acme.tenant.pk):
        job_cancel(job=job)
    page = staff.get(f"{JOBS}{job.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Queued" in html
    assert "Cancelled before it started" in html
    assert 'name="_save"' not in html  # read-only: no save button


def test_retry_and_cancel_actions(staff: Client, acme: TenantSetup, globex: TenantSetup) -> None:
    acme_job, globex_job = submit_job(acme), submit_job(globex)
    response = staff.post(JOBS, {"action": "cancel_jobs",
                                 "_selected_action": [acme_job.pk, globex_job.pk]},
                          follow=True)
    assert response.status_code == 200
    assert status_of(acme, acme_job) == status_of(globex, globex_job) == Job.Status.CANCELLED
    assert f"#{acme_job.pk}" in response.content.decode()
    staff.post(JOBS, {"action": "retry_jobs", "_selected_action": [globex_job.pk]})
    assert status_of(globex, globex_job) == Job.Status.QUEUED
    assert status_of(acme, acme_job) == Job.Status.CANCELLED


def test_an_action_the_service_refuses_is_reported_not_applied(
    staff: Client, acme: TenantSetup
) -> None:
    job = submit_job(acme)
    with tenant_context(acme.tenant.pk):
        job_finish(job_id=job.pk, status=Job.Status.SUCCEEDED)
    response = staff.post(JOBS, {"action": "retry_jobs", "_selected_action": [job.pk]},
                          follow=True)
    assert "Only failed or cancelled jobs can be retried" in response.content.decode()
    assert status_of(acme, job) == Job.Status.SUCCEEDED


def test_queue_page_shows_depths_and_no_workers(staff: Client, acme: TenantSetup) -> None:
    submit_job(acme)
    redis = redis_client()
    redis.rpush("gpu", "m1", "m2", "m3")
    redis.rpush("online", "m4")
    page = staff.get(f"{JOBS}queues/")
    assert page.status_code == 200
    html = page.content.decode()
    assert '<td data-queue="gpu">3</td>' in html
    assert '<td data-queue="online">1</td>' in html
    assert '<td data-queue="default">0</td>' in html
    assert 'id="no-workers"' in html
    assert "1 queued" in html
    assert "Queues and workers" in staff.get(JOBS).content.decode()


def test_queue_page_degrades_when_redis_and_workers_fail(
    staff: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Broken:
        def pipeline(self) -> None:
            raise ConnectionError("redis is down")

    def no_inspect(**kwargs: object) -> None:
        raise OSError("broker unreachable")

    monkeypatch.setattr("jobs.selectors.redis_client", lambda: Broken())
    monkeypatch.setattr("config.celery.app.control.inspect", no_inspect)
    page = staff.get(f"{JOBS}queues/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "redis is down" in html
    assert "broker unreachable" in html
    assert '<td data-queue="gpu">unknown</td>' in html


def test_queue_page_is_staff_only(acme: TenantSetup) -> None:
    response = acme.browser().get(f"{JOBS}queues/")
    assert response.status_code == 302
    assert response["Location"].startswith("/console/login/")


def test_model_versions_are_read_only_and_activated_by_action(
    staff: Client, acme: TenantSetup
) -> None:
    make_version(acme, 1, ModelVersion.Status.ACTIVE)
    version = make_version(acme, 2)
    assert staff.get("/console/jobs/modelversion/").status_code == 200
    assert staff.get(f"/console/jobs/modelversion/{version.pk}/change/").status_code == 200
    staff.post("/console/jobs/modelversion/", {"action": "activate_versions",
                                               "_selected_action": [version.pk]})
    with tenant_context(acme.tenant.pk):
        assert ModelVersion.objects.get(status="active").pk == version.pk


def test_datasets_usage_and_webhooks_pages(staff: Client, acme: TenantSetup, settings) -> None:
    job = submit_job(acme)
    with tenant_context(acme.tenant.pk):
        job_finish(job_id=job.pk, status=Job.Status.SUCCEEDED, accelerator_seconds=1.5)
        settings.WEBHOOKS_ALLOW_PRIVATE_URLS = True
        endpoint = WebhookEndpoint.objects.create(url="http://127.0.0.1:9/hook")
        WebhookDelivery.objects.create(endpoint=endpoint, event="job.succeeded", payload={})
        assert UsageRecord.objects.filter(job=job).exists()
    for url in ("/console/jobs/dataset/", "/console/billing/usagerecord/",
                "/console/webhooks/webhookendpoint/", "/console/webhooks/webhookdelivery/",
                f"/console/webhooks/webhookendpoint/{endpoint.pk}/change/"):
        response = staff.get(url)
        assert response.status_code == 200, url
        assert endpoint.secret.encode() not in response.content
    assert b"training_accelerator_seconds" in staff.get("/console/billing/usagerecord/").content
