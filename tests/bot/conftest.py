"""Fixtures of the support-bot tests: intents, articles with embeddings written through the
service (no model needed: vectors are given), and helpers to answer a message the way the
worker's analysis would."""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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


class Generator:
    """An OpenAI-compatible ``/v1/chat/completions`` that answers what the test sets."""

    def __init__(self) -> None:
        self.content = ""
        self.body: bytes | None = None  # raw body instead of a completion
        self.delay = 0.0
        self.status = 200
        self.requests: list[dict[str, Any]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", "0"))
                owner.requests.append({"path": self.path,
                                       "authorization": self.headers.get("Authorization"),
                                       "json": json.loads(self.rfile.read(length))})
                time.sleep(owner.delay)
                body = owner.body if owner.body is not None else json.dumps({
                    "id": "cmpl-1", "object": "chat.completion", "choices": [{
                        "index": 0, "finish_reason": "stop",
                        "message": {"role": "assistant", "content": owner.content}}]}).encode()
                try:
                    self.send_response(owner.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:  # the client gave up (the timeout case)
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def generator() -> Iterator[Generator]:
    server = Generator()
    yield server
    server.server.shutdown()


__all__ = ["Generator", "Receiver", "add_article", "add_intent", "answer", "start", "unit_vector"]
