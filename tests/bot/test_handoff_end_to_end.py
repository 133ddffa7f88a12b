"""End to end through a real Celery worker and a tiny intent model of the tenant: the bot
answers; the customer asks for a human; agents get the email and the signed webhook (a local
HTTP server); an agent claims the conversation and the bot stays silent while the customer
writes; the agent answers and releases it; the bot answers the next message again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core import mail
from django.urls import reverse

from apps.support_bot import services
from apps.support_bot.models import Conversation
from tenancy.context import tenant_context
from tenancy.models import Role
from tests.bot.conftest import Receiver, add_intent
from tests.browser.test_bot_browser import install_intent_model
from tests.conftest import TenantSetup, WorkerFactory
from tests.finance.test_end_to_end import _wait
from tests.workers.conftest import TINY_BASE_NAME
from webhooks.services import webhook_endpoint_create
from webhooks.signing import SIGNATURE_HEADER, verify

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

BOT = "/api/v1/bot"
TEMPLATE = "Your card arrives within 5 working days."


def test_ask_for_human_agent_owns_bot_silent_release_bot_answers(
        acme: TenantSetup, tiny_base: Path, tmp_path: Path, workers: WorkerFactory,
        receiver: Receiver, settings) -> None:
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = True
    settings.ONLINE_TIMEOUT_SECONDS = 60  # the first message loads the models
    install_intent_model(acme, tiny_base, tmp_path / "artifact")
    add_intent(acme, "card_arrival", TEMPLATE)
    agent = acme.add_member(Role.MEMBER)
    with tenant_context(acme.tenant.pk):
        services.bot_settings_update(changes={"intent_threshold": 0.4})
        endpoint = webhook_endpoint_create(url=receiver.url, events=["conversation.handoff"])
    workers.start(BASE_MODELS=json.dumps({TINY_BASE_NAME: str(tiny_base)}),
                  MODEL_WORK_DIR=str(tmp_path / "models"),
                  DEFAULT_MODELS_DIR=str(tmp_path / "no-defaults"),
                  WEBHOOKS_ALLOW_PRIVATE_URLS="true", MEDIA_ROOT=str(settings.MEDIA_ROOT))
    api = acme.api()
    conversation = api.post(f"{BOT}/conversations", {"external_user_id": "cust-7"},
                            format="json").json()
    messages = f"{BOT}/conversations/{conversation['id']}/messages"

    def chat(text: str) -> dict:
        response = api.post(messages, {"text": text}, format="json")
        assert response.status_code == 201, response.content
        return response.json()

    assert chat("when will my card arrive in the post")["reply"]["text"] == TEMPLATE

    asked = chat("I want to talk to a human")
    assert asked["status"] == "handed_off"
    assert asked["reply"]["reply_kind"] == "handoff"
    assert asked["reply"]["latency_ms"] is None  # answered before any model ran
    _wait("the handoff webhook", lambda: receiver.requests)
    [request] = receiver.requests
    assert verify(secret=endpoint.secret, header=request["headers"][SIGNATURE_HEADER],
                  body=request["body"])
    delivered = json.loads(request["body"])["data"]
    assert (delivered["id"], delivered["reason"]) == (conversation["id"], "customer_request")
    assert sorted(a for m in mail.outbox for a in m.to) == sorted([acme.owner.email,
                                                                    agent.user.email])

    # The agent claims it on the conversation page: the bot stays silent.
    browser = acme.browser()
    browser.force_login(agent.user)
    assert browser.post(reverse("bot:claim", args=[conversation["id"]])).status_code == 302
    silent = chat("when will my card arrive in the post")
    assert silent["reply"] is None
    assert silent["status"] == "handed_off"
    assert browser.post(reverse("bot:conversation", args=[conversation["id"]]),
                        {"text": "Sam here: it was posted yesterday."}).status_code == 302

    # Released: the bot answers again.
    assert browser.post(reverse("bot:release", args=[conversation["id"]])).status_code == 302
    again = chat("when will my card arrive in the post")
    assert again["reply"]["text"] == TEMPLATE
    assert again["status"] == "open"
    with tenant_context(acme.tenant.pk):
        stored = Conversation.objects.get(pk=conversation["id"])
        roles = list(stored.messages.order_by("id").values_list("role", flat=True))
    assert stored.assignee_id is None
    assert roles == ["user", "bot", "user", "bot", "user", "agent", "user", "bot"]
    assert len(receiver.requests) == 1  # the claim was no second handoff
