"""Fixtures of the support-bot tests: intents, articles with embeddings written through the
service (no model needed: vectors are given), and helpers to answer a message the way the
worker's analysis would."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from apps.support_bot import services
from apps.support_bot.models import EMBEDDING_DIMENSIONS, Article, Conversation, Intent, Message
from tenancy.context import tenant_context
from tests.conftest import TenantSetup
from tests.webhooks.conftest import Receiver, receiver  # noqa: F401  (fixture)
from tests.workers.conftest import tiny_base  # noqa: F401  (fixture)


@pytest.fixture(autouse=True)
def _media_root(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")


def unit_vector(axis: int, lean: int | None = None, amount: float = 0.0) -> list[float]:
    """A unit vector along ``axis``, optionally leaning towards ``lean`` (cosine similarity
    with ``unit_vector(axis)`` is ``cos(atan(amount))``)."""
    vector = [0.0] * EMBEDDING_DIMENSIONS
    vector[axis] = 1.0
    if lean is not None:
        vector[lean] = amount
    norm = math.sqrt(sum(v * v for v in vector))
    return [v / norm for v in vector]


def add_intent(setup: TenantSetup, name: str, template: str = "", handoff: bool = False
               ) -> Intent:
    with tenant_context(setup.tenant.pk):
        return services.intent_create(name=name, answer_template=template, handoff=handoff)


def add_article(setup: TenantSetup, question: str, answer: str, axis: int) -> Article:
    """An article already embedded along ``axis``."""
    from apps.support_bot.text import text_hash

    with tenant_context(setup.tenant.pk):
        article = services.article_create(question=question, answer=answer)
        services.article_embeddings_record(embeddings=[
            (article.pk, text_hash(article.embedding_text), unit_vector(axis))])
        article.refresh_from_db()
        return article


def start(setup: TenantSetup, **kwargs: Any) -> Conversation:
    with tenant_context(setup.tenant.pk):
        return services.conversation_start(**kwargs)


def answer(setup: TenantSetup, conversation: Conversation, text: str, *, intent: str = "",
           confidence: float | None = None, articles: list[dict[str, Any]] | None = None
           ) -> Message:
    """Receive ``text`` and answer it as if the worker had found this intent and articles."""
    with tenant_context(setup.tenant.pk):
        message = services.message_receive(conversation=conversation, text=text)
        return services.message_answer(
            message=message, latency_ms=12,
            analysis=services.Analysis(intent=intent, confidence=confidence,
                                       articles=articles or []))


__all__ = ["Receiver", "add_article", "add_intent", "answer", "start", "unit_vector"]
