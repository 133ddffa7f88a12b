"""End to end through a real Celery worker, the embedded Redis and PostgreSQL: utterances
imported → intent model fine-tuned (head on a tiny BERT) and activated → articles embedded by
the real MiniLM (pgvector) → chat: a template reply, a retrieval reply, a short follow-up, a
low-confidence handoff whose signed webhook reaches a local server → an agent's reply and
feedback → a backlog of tickets classified into an intent report."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.support_bot.models import Article, Conversation, Message
from jobs.models import Job, ModelVersion
from tenancy.context import tenant_context
from tests.bot.conftest import Receiver
from tests.conftest import TenantSetup, WorkerFactory
from tests.finance.test_end_to_end import _wait
from tests.workers.conftest import TINY_BASE_NAME, to_csv
from webhooks.services import webhook_endpoint_create
from webhooks.signing import SIGNATURE_HEADER, verify

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

BOT = "/api/v1/bot"
KEYWORDS = {
    "card_arrival": ["card", "arrive", "arrival", "post", "mail", "delivered"],
    "exchange_rate": ["exchange", "rate", "currency", "euro", "dollar", "convert"],
    "lost_card": ["lost", "stolen", "missing", "thief", "gone", "robbed"],
}
FILLER = "the a my is it please help with today why can you me i we there this".split()


def utterances(count: int, seed: int = 0) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    rows = []
    for index in range(count):
        intent = list(KEYWORDS)[index % len(KEYWORDS)]
        words = [rng.choice(FILLER) for _ in range(rng.randint(1, 5))]
        words += [rng.choice(KEYWORDS[intent]) for _ in range(3)]
        rng.shuffle(words)
        rows.append((" ".join(words), intent))
    return rows


def _job_done(setup: TenantSetup, job_id: int) -> Job:
    def finished() -> Job | None:
        with tenant_context(setup.tenant.pk):
            job = Job.objects.get(pk=job_id)
        return job if job.is_finished else None

    job = _wait(f"job {job_id}", finished)
    assert job.status == Job.Status.SUCCEEDED, job.error
    return job


def _chat(setup: TenantSetup, conversation_id: int, text: str) -> dict[str, Any]:
    response = setup.api().post(f"{BOT}/conversations/{conversation_id}/messages",
                                {"text": text}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_train_activate_embed_chat_handoff_agent_feedback_backlog(
        acme: TenantSetup, tiny_base: Path, tmp_path: Path, workers: WorkerFactory,
        receiver: Receiver, settings) -> None:
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = True
    settings.BASE_MODELS = {TINY_BASE_NAME: str(tiny_base)}
    settings.ONLINE_TIMEOUT_SECONDS = 60  # the first message loads both models
    workers.start(BASE_MODELS=json.dumps({TINY_BASE_NAME: str(tiny_base)}),
                  MODEL_WORK_DIR=str(tmp_path / "models"), HF_HUB_OFFLINE="1",
                  DEFAULT_MODELS_DIR=str(tmp_path / "no-defaults"),
                  WEBHOOKS_ALLOW_PRIVATE_URLS="true", MEDIA_ROOT=str(settings.MEDIA_ROOT))
    api = acme.api()

    # Intents from a CSV of utterances; a template for one, a person for another.
    imported = api.post(f"{BOT}/utterances/import", {"file": SimpleUploadedFile(
        "utterances.csv", to_csv(utterances(180), "text,intent"))}, format="multipart")
    assert imported.status_code == 201
    assert imported.json()["intents_created"] == 3
    intents = {i["name"]: i["id"] for i in api.get(f"{BOT}/intents").json()["results"]}
    api.patch(f"{BOT}/intents/{intents['card_arrival']}",
              {"answer_template": "Your card arrives within 5 working days, {name}."},
              format="json")
    api.patch(f"{BOT}/intents/{intents['lost_card']}", {"handoff": True}, format="json")
    api.patch(f"{BOT}/settings", {"intent_threshold": 0.4, "article_threshold": 0.5},
              format="json")

    # Train on the tenant's utterances (no dataset): the first version is activated.
    submitted = api.post("/api/v1/jobs", {"app": "support_bot", "kind": "fine_tune", "params": {
        "base_model": TINY_BASE_NAME, "method": "head", "epochs": 80, "learning_rate": 3e-2,
        "early_stopping_patience": 0}}, format="json")
    assert submitted.status_code == 201, submitted.content
    trained = _job_done(acme, submitted.json()["id"])
    with tenant_context(acme.tenant.pk):
        version = ModelVersion.objects.get(pk=trained.metrics["model_version"])
    assert version.status == ModelVersion.Status.ACTIVE
    assert version.method == "head"
    assert sorted(version.label_map) == sorted(KEYWORDS)
    assert version.metrics["accuracy"] >= 0.8

    # Articles are embedded by the job their creation schedules (the real MiniLM).
    for question, answer in (("What exchange rate do you use for currency conversion?",
                              "We convert at the interbank rate, with no markup on weekdays."),
                             ("What are your opening hours?", "We are open 9 to 5.")):
        assert api.post(f"{BOT}/articles", {"question": question, "answer": answer},
                        format="json").status_code == 201

    def embedded() -> bool:
        with tenant_context(acme.tenant.pk):
            return all(article.is_embedded for article in Article.objects.all())

    _wait("the articles' embeddings", embedded)

    with tenant_context(acme.tenant.pk):
        endpoint = webhook_endpoint_create(url=receiver.url, events=["conversation.handoff"])
    conversation = api.post(f"{BOT}/conversations", {"external_user_id": "cust-42",
                                                     "context": {"name": "Ann"}},
                            format="json").json()

    templated = _chat(acme, conversation["id"], "when will my card arrive in the post")
    assert templated["reply"]["reply_kind"] == "template"
    assert templated["reply"]["text"] == "Your card arrives within 5 working days, Ann."
    assert templated["reply"]["intent"] == "card_arrival"
    # Named as everywhere else: the version's id, with its number beside it.
    assert (templated["reply"]["model_version"], templated["reply"]["model_version_number"]) == (
        version.pk, version.version)
    assert templated["reply"]["latency_ms"] > 0

    retrieved = _chat(acme, conversation["id"],
                      "which exchange rate do you use to convert my euro to dollar")
    assert retrieved["reply"]["intent"] == "exchange_rate"
    # Composed from the article's sentences (embedded by the article job), citing it.
    assert retrieved["reply"]["reply_kind"] == "composed"
    assert retrieved["reply"]["text"].startswith("We convert at the interbank rate")
    assert [c["title"] for c in retrieved["reply"]["citations"]][0] == (
        "What exchange rate do you use for currency conversion?")
    best = retrieved["reply"]["retrieved"][0]
    assert best["similarity"] > 0.5
    with tenant_context(acme.tenant.pk):
        assert Article.objects.get(pk=best["id"]).question.startswith("What exchange rate")

    # Nothing is confident any more: a long message falls back and hands off.
    api.patch(f"{BOT}/settings", {"intent_threshold": 1.0, "article_threshold": 0.99},
              format="json")
    handed = _chat(acme, conversation["id"],
                   "my neighbour's parrot keeps ordering pizza with my phone every night")
    assert handed["reply"]["reply_kind"] == "fallback"
    assert handed["status"] == "handed_off"
    _wait("the handoff webhook", lambda: receiver.requests)
    [request] = receiver.requests
    assert verify(secret=endpoint.secret, header=request["headers"][SIGNATURE_HEADER],
                  body=request["body"])
    delivered = json.loads(request["body"])
    assert delivered["event"] == "conversation.handoff"
    assert delivered["data"]["id"] == conversation["id"]
    assert delivered["data"]["external_user_id"] == "cust-42"

    # A person takes over: the bot stays quiet, the agent answers, the customer rates.
    waiting = _chat(acme, conversation["id"], "hello? is anyone there?")
    assert waiting["reply"] is None
    agent = api.post(f"{BOT}/conversations/{conversation['id']}/reply",
                     {"text": "Sorry about the parrot! I have blocked phone orders."},
                     format="json")
    rated = api.post(f"{BOT}/conversations/{conversation['id']}/feedback",
                     {"rating": "up", "message": templated["reply"]["id"]}, format="json")
    assert agent.status_code == 201
    assert rated.status_code == 201
    with tenant_context(acme.tenant.pk):
        stored = Conversation.objects.get(pk=conversation["id"])
        roles = list(stored.messages.values_list("role", flat=True))
        assert all(m.latency_ms for m in stored.messages.filter(role=Message.Role.BOT))
    assert roles == ["user", "bot", "user", "bot", "user", "bot", "user", "agent"]

    # The backlog report: tickets classified with the active model.
    tickets = [(text,) for text, _ in utterances(30, seed=7)]
    dataset = api.post("/api/v1/datasets", {
        "app": "support_bot", "purpose": "tickets",
        "file": SimpleUploadedFile("tickets.csv", to_csv(tickets, "text"))}, format="multipart")
    assert dataset.status_code == 201, dataset.content
    backlog = api.post("/api/v1/jobs", {"app": "support_bot", "kind": "classify_backlog",
                                        "dataset": dataset.json()["id"]}, format="json")
    report = _job_done(acme, backlog.json()["id"]).metrics
    assert report["items"] == 30
    assert sum(row["count"] for row in report["distribution"]) == 30
    assert {row["intent"] for row in report["distribution"]} <= set(KEYWORDS)
    assert report["distribution"][0]["count"] >= 8
