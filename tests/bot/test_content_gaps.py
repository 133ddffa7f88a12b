"""The content-gap report end to end in this process: unanswered questions (paraphrases of
three distinct questions, one asked twice word for word, beside answered ones that must not
count) → a ``content_gaps`` job run by ``workers.execution`` (the shipped MiniLM's
embeddings, average-linkage clustering) → three clusters ranked by volume, each labelled
with its most central question and its examples, on the API and the page; and the
clustering itself on hand-made vectors."""

from __future__ import annotations

import numpy as np
import pytest
from django.urls import reverse

from apps.support_bot import review
from apps.support_bot.models import ContentGap, Message
from jobs.models import Job
from tenancy.context import tenant_context
from tests.bot.conftest import add_intent, answer, start
from tests.conftest import TenantSetup

pytest.importorskip("torch")
from workers.execution import execute  # noqa: E402
from workers.handlers.support_bot_gaps import cluster_by_similarity  # noqa: E402

pytestmark = pytest.mark.django_db

PASSWORD = ["How do I reset my password?", "I forgot my password, how can I change it?",
            "password reset help", "Can't log in, I need to reset my password",
            "How do I reset my password?"]
SHIPPING = ["Do you ship to Canada?", "Can you deliver my order to Canada?",
            "Is international shipping to Canada available?"]
INVOICE = ["Where can I download my invoice?", "How do I get a copy of my invoice?"]


def test_cluster_by_similarity_stops_at_the_threshold() -> None:
    vectors = np.array([[1.0, 0.0], [0.96, 0.28], [0.0, 1.0], [0.28, 0.96]], dtype=np.float32)
    weights = np.ones(4)
    assert sorted(map(sorted, cluster_by_similarity(vectors, weights, 0.9))) == [[0, 1], [2, 3]]
    assert len(cluster_by_similarity(vectors, weights, 0.99)) == 4
    assert len(cluster_by_similarity(vectors, weights, 0.0)) == 1
    assert cluster_by_similarity(np.empty((0, 2)), np.ones(0), 0.5) == []


def test_unanswered_questions_cluster_into_three_gaps_by_volume(acme: TenantSetup) -> None:
    add_intent(acme, "card_arrival", "Cards arrive within 5 days.")
    for text in PASSWORD + INVOICE + SHIPPING:
        answer(acme, start(acme), text, confidence=0.1)  # fallback: handed off
    answer(acme, start(acme), "when does my card arrive", intent="card_arrival",
           confidence=0.95)  # answered: not a gap
    with tenant_context(acme.tenant.pk):
        job = review.content_gaps_submit(params={"days": 7})
    assert acme.api().post("/api/v1/bot/content-gaps", {"days": 7},
                           format="json").status_code == 202

    execute(job_id=job.pk, worker="test-worker")

    with tenant_context(acme.tenant.pk):
        job = Job.objects.get(pk=job.pk)
        assert job.status == Job.Status.SUCCEEDED, job.error
        gaps = list(ContentGap.objects.filter(job=job).order_by("rank"))
        ids = dict(Message.objects.filter(role=Message.Role.USER).values_list("text", "id")
                   .order_by("id"))
    assert job.metrics["questions"] == 10
    assert job.metrics["distinct_questions"] == 9
    assert [(gap.rank, gap.size) for gap in gaps] == [(1, 5), (2, 3), (3, 2)]
    assert gaps[0].label == "How do I reset my password?"  # the most central, asked twice
    assert set(gaps[0].examples) == set(PASSWORD)
    assert len(gaps[0].examples) == 4  # the repeated question shown once
    assert set(gaps[1].examples) == set(SHIPPING)
    assert set(gaps[2].examples) == set(INVOICE)
    assert ids["Do you ship to Canada?"] in gaps[1].message_ids

    body = acme.api().get("/api/v1/bot/content-gaps").json()
    assert [(c["rank"], c["size"]) for c in body["clusters"]] == [(1, 5), (2, 3), (3, 2)]
    page = acme.browser().get(reverse("bot:content_gaps")).content.decode()
    page = page[page.index('data-testid="content-gaps"'):]
    assert page.index("reset my password") < page.index("Canada") < page.index("invoice")

    # Run again (a retried job): the same clusters, not twice as many.
    with tenant_context(acme.tenant.pk):
        Job.objects.filter(pk=job.pk).update(status=Job.Status.QUEUED)
    execute(job_id=job.pk, worker="test-worker")
    with tenant_context(acme.tenant.pk):
        assert ContentGap.objects.filter(job=job).count() == 3
