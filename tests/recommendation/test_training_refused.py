"""Training with nothing to learn from is refused before any job is queued, with the reason:
on the page (and the button disabled) and as a 400 on the API; once there are events it is
queued as before."""

from __future__ import annotations

import pytest
from django.urls import reverse

from jobs.models import Job
from tenancy.context import tenant_context
from tests.conftest import TenantSetup
from tests.recommendation.conftest import add_events, add_items, item_row


def _jobs(setup: TenantSetup) -> int:
    with tenant_context(setup.tenant.pk):
        return Job.objects.count()


def _status(setup: TenantSetup, job: Job) -> str:
    with tenant_context(setup.tenant.pk):
        return Job.objects.get(pk=job.pk).status


def test_train_now_on_an_empty_catalogue_is_refused_with_the_reason(acme: TenantSetup) -> None:
    browser = acme.browser()
    overview = browser.get(reverse("recs:overview")).content.decode()
    assert 'data-testid="train-blocked"' in overview
    assert "disabled" in overview[overview.index(">Train now<") - 120:overview.index(">Train now<")]
    page = browser.post(reverse("recs:train"), follow=True).content.decode()
    assert "Nothing to train on: the catalogue is empty" in page
    assert _jobs(acme) == 0


def test_train_now_with_items_but_no_events_is_refused(acme: TenantSetup) -> None:
    add_items(acme, [item_row("b1")])
    page = acme.browser().post(reverse("recs:train"), follow=True).content.decode()
    assert "there are no events yet" in page
    assert _jobs(acme) == 0


@pytest.mark.parametrize("request_body", [
    {"app": "recommendation", "kind": "train", "params": {}},
    {"app": "recommendation", "kind": "embed_items", "params": {"then_train": {}}},
])
def test_the_api_refuses_training_without_events_with_a_400(acme: TenantSetup,
                                                             request_body: dict) -> None:
    add_items(acme, [item_row("b1")])
    response = acme.api().post("/api/v1/jobs", request_body, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "nothing_to_train"
    assert "no events" in error["message"]
    assert _jobs(acme) == 0


def test_with_events_training_is_queued(acme: TenantSetup, globex: TenantSetup) -> None:
    add_items(acme, [item_row("b1")])
    add_events(acme, [("reader", "b1", "purchase")])
    assert 'data-testid="train-blocked"' not in acme.browser().get(
        reverse("recs:overview")).content.decode()
    assert acme.api().post("/api/v1/jobs", {"app": "recommendation", "kind": "train",
                                            "params": {}}, format="json").status_code == 201
    # Another tenant's events do not make globex's empty catalogue trainable.
    refused = globex.api().post("/api/v1/jobs", {"app": "recommendation", "kind": "train",
                                                 "params": {}}, format="json")
    assert refused.status_code == 400
    assert _jobs(globex) == 0


def test_retrying_a_training_that_failed_for_want_of_events_is_refused(
        acme: TenantSetup) -> None:
    """A job that failed with "There are no interactions" (before the up-front check) offers
    Retry; retried, it would fail the same way, so the retry is refused with the reason."""
    with tenant_context(acme.tenant.pk):
        job = Job.objects.create(app="recommendation", kind="train", params={},
                                 status=Job.Status.FAILED,
                                 error="There are no interactions to learn from")
    page = acme.browser().post(reverse("jobs:job_retry", args=[job.pk]), follow=True)
    assert "Nothing to train on" in page.content.decode()
    api = acme.api().post(f"/api/v1/jobs/{job.pk}/retry")
    assert api.status_code == 400
    assert api.json()["error"]["code"] == "nothing_to_train"
    assert _status(acme, job) == Job.Status.FAILED
    # Once there are events, the retry goes ahead.
    add_items(acme, [item_row("b1")])
    add_events(acme, [("reader", "b1", "purchase")])
    assert acme.api().post(f"/api/v1/jobs/{job.pk}/retry").status_code == 200
    assert _status(acme, job) == Job.Status.QUEUED
