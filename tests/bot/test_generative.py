"""The generative composer against a real local OpenAI-compatible HTTP server: a grounded
answer is used; an ungrounded one, a timeout, malformed JSON and an HTTP error fall back to
the extractive reply (the worker's check, in this process with the real MiniLM). Its settings:
per tenant, the API key sealed and never shown, the deployment's default from the
environment; another tenant's settings are untouched."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from apps.support_bot import services
from apps.support_bot.generative import generator_endpoint
from apps.support_bot.models import BotSettings
from apps.support_bot.sealed import seal, unseal
from tenancy.context import tenant_context
from tests.bot.conftest import Generator
from tests.conftest import TenantSetup

pytestmark = pytest.mark.django_db

BOT = "/api/v1/bot"


def test_sealed_keys_round_trip_and_refuse_tampering() -> None:
    sealed = seal("sk-secret-123")
    assert "sk-secret" not in sealed
    assert unseal(sealed) == "sk-secret-123"
    assert seal("sk-secret-123") != sealed  # a fresh nonce each time
    tampered = sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]
    assert unseal(tampered) == ""
    assert unseal("") == ""
    assert seal("") == ""


def test_generative_settings_are_per_tenant_and_never_show_the_key(
        acme: TenantSetup, globex: TenantSetup, settings: Any) -> None:
    api = acme.api()
    changed = api.patch(f"{BOT}/settings", {
        "generative_enabled": True, "generative_url": "https://llm.example.com/v1/",
        "generative_model": "qwen2.5-1.5b", "generative_api_key": "sk-acme"}, format="json")
    assert changed.status_code == 200, changed.content
    body = changed.json()
    assert "generative_api_key" not in body
    assert body["generative_api_key_set"] is True
    assert body["generative_url"] == "https://llm.example.com/v1"
    assert "sk-acme" not in json.dumps(api.get(f"{BOT}/settings").json())
    with tenant_context(acme.tenant.pk):
        stored = BotSettings.objects.get()
        assert "sk-acme" not in stored.generative_api_key
        endpoint = generator_endpoint(stored)
        assert endpoint is not None
        assert endpoint.api_key == "sk-acme"
        assert not endpoint.trusted
    bad = api.patch(f"{BOT}/settings", {"generative_url": "ftp://x"}, format="json")
    assert bad.status_code == 400
    assert "generative_url" in bad.json()["error"]["fields"]
    # Another tenant's settings are its own: off, no key; the deployment default needs its
    # own switch turned on.
    theirs = globex.api().get(f"{BOT}/settings").json()
    assert theirs["generative_enabled"] is False
    assert theirs["generative_api_key_set"] is False
    settings.BOT_GENERATOR_URL, settings.BOT_GENERATOR_MODEL = "http://vllm:8000/v1", "m"
    with tenant_context(globex.tenant.pk):
        config = services.bot_settings_get()
        assert generator_endpoint(config) is None
        config = services.bot_settings_update(changes={"generative_enabled": True})
        default = generator_endpoint(config)
    assert default is not None
    assert default.trusted
    assert default.url == "http://vllm:8000/v1"


@pytest.mark.slow
def test_generated_answers_are_used_only_when_grounded(
        acme: TenantSetup, generator: Generator, tmp_path: Path, settings: Any) -> None:
    pytest.importorskip("torch")
    from workers.execution import execute
    from workers.handlers.bot_generative import generate

    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = True  # the local server is on 127.0.0.1
    settings.BOT_GENERATOR_TIMEOUT_SECONDS = 1.0
    settings.DEFAULT_MODELS_DIR = tmp_path / "no-defaults"
    with tenant_context(acme.tenant.pk):
        article = services.article_create(
            question="How long does card delivery take?",
            answer="Your new card arrives within five working days. Delivery is free.")
        job = services.embedding_schedule()
        assert job is not None
    execute(job_id=job.pk, worker="test-worker")

    def ask() -> dict[str, Any]:
        with tenant_context(acme.tenant.pk):
            return generate("When will my card arrive?", [article.pk])

    with tenant_context(acme.tenant.pk):
        assert generate("When will my card arrive?", [article.pk]) == {"status": "off"}
        services.bot_settings_update(changes={
            "generative_enabled": True, "generative_url": generator.url,
            "generative_model": "tiny", "generative_api_key": "sk-local"})

    generator.content = "Your new card will arrive within five working days."
    grounded = ask()
    assert grounded["status"] == "grounded", grounded
    assert grounded["text"] == generator.content
    sent = generator.requests[-1]
    assert sent["path"] == "/v1/chat/completions"
    assert sent["authorization"] == "Bearer sk-local"
    assert sent["json"]["model"] == "tiny"
    prompt = sent["json"]["messages"][-1]["content"]
    assert "arrives within five working days" in prompt
    assert "When will my card" in prompt

    generator.content = ("Your card arrives within five working days. "
                         "You will also receive a free smartphone with it.")
    ungrounded = ask()
    assert ungrounded["status"] == "ungrounded", ungrounded
    assert "smartphone" in ungrounded["reason"]

    generator.body = b'{"choices": [{"message": '  # cut off
    assert ask()["status"] == "malformed"
    generator.body = b'{"choices": []}'
    assert ask()["status"] == "malformed"
    generator.body = b'{"choices": [{"message": {"content": null}}]}'
    assert ask()["status"] == "malformed"

    generator.body, generator.status = None, 500
    assert ask()["status"] == "http_error"

    generator.status, generator.delay = 200, 2.0
    started = time.monotonic()
    timed_out = ask()
    assert timed_out["status"] == "timeout", timed_out
    assert time.monotonic() - started < 1.9


def test_the_settings_page_sets_the_generator_and_keeps_the_key_hidden(
        acme: TenantSetup, globex: TenantSetup) -> None:
    from django.urls import reverse

    form = {"intent_threshold": 0.6, "article_threshold": 0.5, "followup_max_words": 4,
            "fallback_message": "Bye", "target_false_handoff": 0.03, "ambiguity_margin": 0.1,
            "generative_enabled": "on", "generative_url": "https://llm.example.com/v1",
            "generative_model": "qwen", "generative_api_key": "sk-page"}
    browser = acme.browser()
    assert browser.post(reverse("bot:settings"), form).status_code == 302
    page = browser.get(reverse("bot:settings")).content.decode()
    assert "sk-page" not in page
    assert "https://llm.example.com/v1" in page
    # Saved again without a key: the key stays; a bad URL is refused on its field.
    assert browser.post(reverse("bot:settings"), {**form, "generative_api_key": ""}
                        ).status_code == 302
    refused = browser.post(reverse("bot:settings"), {**form, "generative_url": "ftp://x"})
    assert refused.status_code == 400
    with tenant_context(acme.tenant.pk):
        stored = BotSettings.objects.get()
        assert unseal(stored.generative_api_key) == "sk-page"
        assert stored.generative_url == "https://llm.example.com/v1"
    # The other tenant's settings are untouched.
    with tenant_context(globex.tenant.pk):
        theirs = services.bot_settings_get()
        assert (theirs.generative_enabled, theirs.generative_api_key) == (False, "")
