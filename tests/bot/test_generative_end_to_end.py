"""The generative composer through the chat endpoint and a real Celery worker: the article
job embeds the sentences, the worker composes, the local OpenAI-compatible server generates;
a grounded generation is sent, an ungrounded one and a timeout keep the extractive reply, and
each attempt counts on the ``generated_answers`` meter."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from apps.support_bot.models import Article, ArticleSentence
from tenancy.context import tenant_context
from tests.bot.conftest import Generator
from tests.conftest import TenantSetup, WorkerFactory
from tests.conftest import wait_until as _wait

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

BOT = "/api/v1/bot"
EXTRACTIVE = "Your new card arrives within five working days."


def test_chat_sends_a_grounded_generation_and_the_extractive_reply_otherwise(
        acme: TenantSetup, generator: Generator, tmp_path: Path, workers: WorkerFactory,
        settings: Any) -> None:
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = True
    settings.ONLINE_TIMEOUT_SECONDS = 60  # the first message loads the model
    workers.start(MODEL_WORK_DIR=str(tmp_path / "models"), HF_HUB_OFFLINE="1",
                  DEFAULT_MODELS_DIR=str(tmp_path / "no-defaults"),
                  WEBHOOKS_ALLOW_PRIVATE_URLS="true", BOT_GENERATOR_TIMEOUT_SECONDS="1")
    api = acme.api()
    created = api.post(f"{BOT}/articles", {
        "question": "How long does card delivery take?", "url": "https://help.example.com/d",
        "answer": f"{EXTRACTIVE} Our branches are closed on Sundays."}, format="json")
    assert created.status_code == 201, created.content

    def embedded() -> bool:
        with tenant_context(acme.tenant.pk):
            return (all(a.is_embedded for a in Article.objects.all())
                    and ArticleSentence.objects.count() == 2)

    _wait("the article's sentences", embedded)
    assert api.patch(f"{BOT}/settings", {
        "article_threshold": 0.2, "generative_enabled": True, "generative_url": generator.url,
        "generative_model": "tiny"}, format="json").status_code == 200
    conversation = api.post(f"{BOT}/conversations", {}, format="json").json()["id"]

    def chat(text: str) -> dict[str, Any]:
        response = api.post(f"{BOT}/conversations/{conversation}/messages", {"text": text},
                            format="json")
        assert response.status_code == 201, response.content
        return response.json()["reply"]

    generator.content = "Your new card will arrive within five working days."
    reply = chat("When will my new card arrive?")
    assert (reply["reply_kind"], reply["composer"]) == ("composed", "generative")
    assert reply["text"] == generator.content
    assert reply["citations"] == [{"id": created.json()["id"],
                                   "title": "How long does card delivery take?",
                                   "url": "https://help.example.com/d"}]

    generator.content = "Your card arrives in five days and comes with a free smartphone."
    reply = chat("When does my new card arrive?")
    assert (reply["composer"], reply["text"]) == ("extractive", EXTRACTIVE)

    generator.content, generator.delay = "Your new card arrives within five working days.", 3.0
    reply = chat("How many days until my card arrives?")
    assert (reply["composer"], reply["text"]) == ("extractive", EXTRACTIVE)
    assert len(generator.requests) == 3
    usage = api.get("/api/v1/usage").json()["meters"]
    generated = next(m for m in usage if m["meter"] == "generated_answers")
    assert Decimal(generated["used"]) == 3
