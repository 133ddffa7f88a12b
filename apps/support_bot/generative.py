"""The generative composer, optional per deployment and per tenant: a language model behind
an OpenAI-compatible chat endpoint (vLLM, Ollama, a hosted model) rewrites a composed reply
from the retrieved passages only, and is trusted only when every sentence it writes is
grounded in them.

The extractive reply (``compose``) is stored first, so that nothing the generator does can
lose the customer's answer: the generator's reply replaces its text only when the worker
found each of its sentences supported by a passage above ``BOT_GROUNDING_THRESHOLD``
(``workers.handlers.bot_generative``). Anything else (generation off, no endpoint, no worker,
a timeout, an HTTP error, malformed JSON, an ungrounded sentence, the plan's limit) keeps the
extractive reply. Each generation the worker attempts is metered (``generated_answers``).

The endpoint is the tenant's own (URL, model, API key sealed at rest) or else the
deployment's (``BOT_GENERATOR_*``); a tenant's URL must reach a public address (the webhook
URL check), the deployment's may be in-cluster (the optional vLLM Service).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _

from apps.support_bot.models import BotSettings, Message
from apps.support_bot.sealed import seal, unseal
from billing.exceptions import QuotaExceeded
from billing.metering import metered
from billing.models import Meter
from config.errors import ServiceError
from jobs.online import OnlineFailed, OnlineUnavailable, online_call

logger = logging.getLogger(__name__)

GENERATIVE = "generative"
EXTRACTIVE = "extractive"


class GeneratorSettingsError(ServiceError):
    """Generative settings the bot refuses (400 naming the field)."""


@dataclass(frozen=True)
class Endpoint:
    """Where the worker sends a generation: the base URL (``.../v1``), model and key.
    ``trusted``: the deployment's own, which may be a private in-cluster address."""

    url: str
    model: str
    api_key: str
    trusted: bool
    timeout: float


def generator_endpoint(config: BotSettings) -> Endpoint | None:
    """The endpoint the tenant's replies are generated with, None when generation is off or
    neither the tenant nor the deployment names an endpoint and a model."""
    if not config.generative_enabled:
        return None
    timeout = settings.BOT_GENERATOR_TIMEOUT_SECONDS
    if config.generative_url:
        if not config.generative_model:
            return None
        return Endpoint(url=config.generative_url, model=config.generative_model,
                        api_key=unseal(config.generative_api_key), trusted=False,
                        timeout=timeout)
    if not (settings.BOT_GENERATOR_URL and (config.generative_model
                                            or settings.BOT_GENERATOR_MODEL)):
        return None
    return Endpoint(url=settings.BOT_GENERATOR_URL,
                    model=config.generative_model or settings.BOT_GENERATOR_MODEL,
                    api_key=settings.BOT_GENERATOR_API_KEY, trusted=True, timeout=timeout)


def generative_changes(changes: dict[str, Any]) -> dict[str, Any]:
    """Validate the generative settings among ``changes`` (``generative_api_key`` arrives in
    clear and is stored sealed; an empty one removes the key)."""
    if "generative_url" in changes:
        from urllib.parse import urlsplit

        url = (changes["generative_url"] or "").strip().rstrip("/")
        parts = urlsplit(url)
        if url and (parts.scheme not in ("http", "https") or not parts.netloc
                    or parts.username is not None or parts.query):
            raise GeneratorSettingsError(
                _("The generator URL must be an http(s) base URL such as "
                  "https://llm.example.com/v1."), fields={"generative_url": [_("not a URL")]})
        changes["generative_url"] = url
    if "generative_api_key" in changes:
        changes["generative_api_key"] = seal((changes["generative_api_key"] or "").strip())
    return changes


def reply_generate(*, reply: Message, question: str) -> Message:
    """Replace a composed reply's text with the generator's, when it is grounded; otherwise
    leave the extractive reply as it is. Never raises for the generator's sake."""
    from apps.support_bot.services import bot_settings_get

    if reply.reply_kind != Message.ReplyKind.COMPOSED or not reply.citations:
        return reply
    if generator_endpoint(bot_settings_get()) is None:
        return reply
    wait = settings.BOT_GENERATOR_TIMEOUT_SECONDS + settings.ONLINE_TIMEOUT_SECONDS
    try:
        with metered(meter=Meter.GENERATED_ANSWERS):
            found = online_call("support.generate", question[:4000],
                                [citation["id"] for citation in reply.citations], timeout=wait)
    except (OnlineUnavailable, OnlineFailed, QuotaExceeded) as error:
        logger.info("generation skipped for message %s: %s", reply.pk, error)
        return reply
    if found.get("status") != "grounded" or not found.get("text"):
        logger.info("generation fell back to the extractive reply for message %s: %s (%s)",
                    reply.pk, found.get("status"), found.get("reason", ""))
        return reply
    reply.text, reply.composer = str(found["text"])[:4000], GENERATIVE
    Message.objects.filter(pk=reply.pk).update(text=reply.text, composer=reply.composer)
    return reply
