"""The generative composer's model work on the ``online`` queue (``support.generate``): ask
the tenant's (or the deployment's) OpenAI-compatible chat endpoint to answer from the cited
articles' sentences only, then check that every sentence of the answer is grounded: its
MiniLM embedding is within ``BOT_GROUNDING_THRESHOLD`` cosine similarity of one of the stored
passage vectors (``ArticleSentence``, the same space the composer scores in).

The result is a status the web tier reads (``apps.support_bot.generative.reply_generate``):
``grounded`` with the text, or why not (``off``, ``no_passages``, ``timeout``, ``http_error``,
``malformed``, ``ungrounded``); the web tier keeps the extractive reply for all but the first.
A tenant's endpoint must resolve to a public address (``webhooks.urlcheck``, as webhooks);
the deployment's may be private (an in-cluster vLLM Service).
"""

from __future__ import annotations

import json
import logging
import socket
from typing import Any
from urllib.parse import urlsplit

import numpy as np
from django.conf import settings

from apps.support_bot.generative import Endpoint, generator_endpoint
from apps.support_bot.models import ArticleSentence
from apps.support_bot.services import bot_settings_get
from apps.support_bot.text import sentences_split
from webhooks.urlcheck import CheckedUrl, UnsafeUrl, check_webhook_url, pinned_request
from workers import runtime

logger = logging.getLogger(__name__)

MAX_PASSAGES = 24
MAX_ANSWER_TOKENS = 300
SYSTEM_PROMPT = (
    "You are a customer-service assistant. Answer the customer's question using only the "
    "numbered passages. Do not add facts that are not in them. Reply in at most three short "
    "sentences, in the customer's language, without lists or headings."
)


class GeneratorFailed(Exception):
    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def _checked(endpoint: Endpoint) -> CheckedUrl:
    url = endpoint.url.rstrip("/") + "/chat/completions"
    if not endpoint.trusted:
        return check_webhook_url(url, require_https=False)
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    address = socket.getaddrinfo(parts.hostname or "", port, proto=socket.IPPROTO_TCP)[0][4][0]
    return CheckedUrl(url=url, scheme=parts.scheme, host=parts.hostname or "", port=port,
                      target=parts.path + (f"?{parts.query}" if parts.query else ""),
                      address=str(address))


def chat_completion(endpoint: Endpoint, question: str, passages: list[str]) -> str:
    """The endpoint's answer to ``question`` given ``passages`` (``GeneratorFailed`` with a
    status when it cannot be had)."""
    numbered = "\n".join(f"[{index}] {text}" for index, text in enumerate(passages, start=1))
    body = json.dumps({
        "model": endpoint.model, "temperature": 0, "max_tokens": MAX_ANSWER_TOKENS,
        "messages": [{"role": "system", "content": SYSTEM_PROMPT},
                     {"role": "user",
                      "content": f"Passages:\n{numbered}\n\nQuestion: {question}"}]}).encode()
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if endpoint.api_key:
        headers["Authorization"] = f"Bearer {endpoint.api_key}"
    try:
        response = pinned_request(_checked(endpoint), method="POST", body=body, headers=headers,
                                  timeout=endpoint.timeout, max_bytes=256 * 1024)
    except UnsafeUrl as error:
        raise GeneratorFailed("http_error", str(error)) from error
    except TimeoutError as error:  # socket.timeout is TimeoutError
        raise GeneratorFailed("timeout", f"no answer within {endpoint.timeout:g} s") from error
    except OSError as error:
        raise GeneratorFailed("http_error", str(error)) from error
    if response.status != 200:
        raise GeneratorFailed("http_error", f"HTTP {response.status}")
    try:
        content = json.loads(response.body)["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError) as error:
        raise GeneratorFailed("malformed", f"not an OpenAI chat completion: {error}") from error
    if not isinstance(content, str) or response.truncated:
        raise GeneratorFailed("malformed", "the completion's content is not a text")
    return content


def grounding(sentences: list[str], passage_vectors: np.ndarray) -> list[float]:
    """Each sentence's best cosine similarity to a passage."""
    vectors = np.concatenate([block for _, block in runtime.embed(sentences)])
    return [round(float(value), 4) for value in (vectors @ passage_vectors.T).max(axis=1)]


def generate(question: str, article_ids: list[int]) -> dict[str, Any]:
    """Generate a reply to ``question`` from the sentences of ``article_ids`` and check it
    (in the tenant's context)."""
    endpoint = generator_endpoint(bot_settings_get())
    if endpoint is None:
        return {"status": "off"}
    rows = list(ArticleSentence.objects.filter(article_id__in=article_ids)
                .order_by("article_id", "position").values_list("text", "embedding")
                [:MAX_PASSAGES])
    if not rows:
        return {"status": "no_passages"}
    try:
        content = chat_completion(endpoint, question, [text for text, _ in rows])
    except GeneratorFailed as failed:
        return {"status": failed.status, "reason": str(failed)}
    sentences = sentences_split(content)
    if not sentences:
        return {"status": "malformed", "reason": "an empty answer"}
    support = grounding(sentences, np.stack([np.asarray(v, dtype=np.float32)
                                             for _, v in rows]))
    threshold = settings.BOT_GROUNDING_THRESHOLD
    weakest = min(range(len(sentences)), key=lambda i: support[i])
    if support[weakest] < threshold:
        return {"status": "ungrounded", "support": support,
                "reason": f"'{sentences[weakest][:80]}' is {support[weakest]:.2f} similar "
                          f"to its nearest passage (below {threshold:g})"}
    return {"status": "grounded", "text": " ".join(sentences), "support": support}
