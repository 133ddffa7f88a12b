"""Out-of-scope handling end to end with a tiny intent model, in this process: utterances
with ``out_of_scope`` examples imported → a fine-tune job (run by ``workers.execution``, a head
on a tiny BERT; the scope score on the real MiniLM's embeddings) → the version recommends a
threshold with measured out-of-scope precision and recall → the admin applies it in one click
→ the worker's analysis of an out-of-scope message scores it below the threshold and the bot
hands off, while a training utterance is still answered with its template."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse

from apps.support_bot import services
from apps.support_bot.models import Conversation, Intent, Message
from jobs.models import Job, ModelVersion
from tenancy.context import tenant_context
from tests.bot.test_end_to_end import utterances
from tests.conftest import TenantSetup
from tests.workers.conftest import TINY_BASE_NAME, to_csv

pytest.importorskip("torch")
from workers.execution import execute  # noqa: E402
from workers.handlers import support_bot as handler  # noqa: E402

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

OFF_TOPIC = [
    "will it rain in paris this weekend", "what is the weather forecast for tomorrow",
    "is it going to be sunny on saturday", "how cold will it get tonight",
    "who won the football match last night", "what time does the basketball game start",
    "recommend a good pasta recipe for dinner", "how long should i boil an egg",
    "play some jazz music please", "set an alarm for seven in the morning",
    "what is the capital of australia", "tell me a joke about cats",
    "how tall is the eiffel tower", "translate good morning into spanish",
    "book a table for two at an italian restaurant", "what movies are on at the cinema",
    "how do i water a cactus", "when is the next full moon",
    "turn off the lights in the kitchen", "what is the score of the tennis final",
]


def test_out_of_scope_examples_train_recommend_apply_and_hand_off(
        acme: TenantSetup, tiny_base: Path, tmp_path: Path, settings: Any) -> None:
    settings.BASE_MODELS = {TINY_BASE_NAME: str(tiny_base)}
    settings.MODEL_WORK_DIR = tmp_path / "models"
    settings.DEFAULT_MODELS_DIR = tmp_path / "no-defaults"
    rows = utterances(150) + [(text, "out_of_scope") for text in OFF_TOPIC]
    with tenant_context(acme.tenant.pk):
        services.utterances_import_csv(data=to_csv(rows, "text,intent"))
        for intent in Intent.objects.exclude(name="out_of_scope"):
            services.intent_update(intent=intent, changes={
                "answer_template": f"About {intent.name}.", "handoff": False})
        services.bot_settings_update(changes={"ambiguity_margin": 0.0})
        job = services.intent_model_train(params={
            "base_model": TINY_BASE_NAME, "method": "head", "epochs": 60,
            "learning_rate": 3e-2, "early_stopping_patience": 0})

    execute(job_id=job.pk, worker="test-worker")

    with tenant_context(acme.tenant.pk):
        job = Job.objects.get(pk=job.pk)
        assert job.status == Job.Status.SUCCEEDED, job.error
        version = ModelVersion.objects.get(pk=job.metrics["model_version"])
    # The examples are not an intent the model answers.
    assert sorted(version.label_map) == ["card_arrival", "exchange_rate", "lost_card"]
    recommendation = version.metrics["out_of_scope"]
    assert 0.0 < recommendation["threshold"] < 1.0
    assert recommendation["target_false_handoff"] == 0.03
    assert recommendation["out_of_scope_examples"] == len(OFF_TOPIC)
    assert recommendation["oos_recall"] >= 0.8  # of the held-out half of the examples
    assert recommendation["oos_precision"] is not None
    assert recommendation["curve"][0]["coverage"] == 1.0

    assert acme.browser().post(reverse("bot:scope_apply", args=[version.pk])).status_code == 302
    with tenant_context(acme.tenant.pk):
        config = services.bot_settings_get()
        assert config.scope_threshold == recommendation["threshold"]
        conversation = services.conversation_start()

    def chat(text: str) -> Message:
        with tenant_context(acme.tenant.pk):
            found = handler.analyse(text, 0)
            message = services.message_receive(conversation=conversation, text=text)
            return services.message_answer(message=message, latency_ms=1,
                                           analysis=services.Analysis.from_worker(found))

    known_text, known_intent = rows[0]
    answered = chat(known_text)
    assert answered.reply_kind == Message.ReplyKind.TEMPLATE
    assert answered.text == f"About {known_intent}."
    assert answered.scope_score >= config.scope_threshold

    handed = chat("is it going to snow in the mountains next week")
    assert handed.scope_score < config.scope_threshold
    assert handed.reply_kind == Message.ReplyKind.FALLBACK
    with tenant_context(acme.tenant.pk):
        conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.HANDED_OFF
