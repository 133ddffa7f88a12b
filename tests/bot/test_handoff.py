"""The handoff both sides trust: a recognised request (or the widget's button) hands over
without the model, agents are emailed, owning keeps the bot silent and releasing gives the
conversation back; the inbox's unread counts, waiting time, earlier conversations, internal
notes (never shown to the customer) and canned replies; the live pages' version stamp; and
every new endpoint and page against another tenant (404, nothing changes)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import mail
from django.urls import reverse

from apps.support_bot import handoff, services
from apps.support_bot.models import CannedReply, Conversation, ConversationNote, Message
from tenancy.context import tenant_context
from tenancy.models import Role
from tests.bot.conftest import answer, start
from tests.bot.test_widget import SHOP, WIDGET, widget
from tests.conftest import TenantSetup

pytestmark = pytest.mark.django_db

BOT = "/api/v1/bot"


def _error(response: Any) -> dict[str, Any]:
    return response.json()["error"]


@pytest.mark.parametrize("text", [
    "talk to a human", "Can I speak to a real person please?", "HUMAN!", "agent please",
    "I want a human", "转人工", "我要人工客服", "人工", "hablar con una persona",
    "je veux parler à un conseiller", "Kann ich mit einem Menschen sprechen?",
    "connect me to an agent"])
def test_requests_for_a_person_are_recognised(text: str) -> None:
    assert handoff.handoff_requested(text)


@pytest.mark.parametrize("text", [
    "when will my card arrive", "is the human resources department open?",
    "what is the exchange rate", "my agent number is 42 and my card is lost", "",
    "我的卡什么时候到", "talk " * 100])
def test_ordinary_messages_are_not_requests(text: str) -> None:
    assert not handoff.handoff_requested(text)


def test_asking_for_a_human_hands_off_without_the_model_and_emails_the_agents(
        acme: TenantSetup, settings, django_capture_on_commit_callbacks) -> None:
    settings.ONLINE_TIMEOUT_SECONDS = 0.5  # no worker runs: a model call would fail (503)
    member = acme.add_member(Role.MEMBER)
    acme.add_member(Role.VIEWER)  # viewers cannot answer: not emailed
    api = acme.api()
    conversation = api.post(f"{BOT}/conversations", {"external_user_id": "cust-1"},
                            format="json").json()
    with django_capture_on_commit_callbacks(execute=True):
        asked = api.post(f"{BOT}/conversations/{conversation['id']}/messages",
                         {"text": "转人工"}, format="json")
    assert asked.status_code == 201, asked.content
    assert asked.json()["status"] == "handed_off"
    assert asked.json()["reply"]["reply_kind"] == "handoff"
    recipients = sorted(address for message in mail.outbox for address in message.to)
    assert recipients == sorted([acme.owner.email, member.user.email])
    assert f"#{conversation['id']}" in mail.outbox[0].subject
    assert "转人工" in mail.outbox[0].body
    # The link is absolute: an email is read outside the site.
    assert (f"{settings.SITE_BASE_URL}/bot/conversations/{conversation['id']}/"
            in mail.outbox[0].body)
    # Handed off: the bot stays silent, the message is kept.
    waiting = api.post(f"{BOT}/conversations/{conversation['id']}/messages",
                       {"text": "hello?"}, format="json")
    assert waiting.status_code == 201
    assert waiting.json()["reply"] is None
    with tenant_context(acme.tenant.pk):
        roles = list(Message.objects.values_list("role", flat=True).order_by("id"))
    assert roles == ["user", "bot", "user"]


def test_claim_assign_release_and_resolve_move_ownership(acme: TenantSetup,
                                                         globex: TenantSetup) -> None:
    member = acme.add_member(Role.MEMBER)
    viewer = acme.add_member(Role.VIEWER)
    conversation = start(acme)
    url = f"{BOT}/conversations/{conversation.pk}"
    browser = acme.browser()
    claimed = browser.post(reverse("bot:claim", args=[conversation.pk]))
    assert claimed.status_code == 302
    with tenant_context(acme.tenant.pk):
        conversation.refresh_from_db()
    assert (conversation.assignee_id, conversation.status) == (acme.owner.pk, "handed_off")
    assert conversation.owned_at is not None

    api = acme.api()
    assert api.post(f"{url}/claim", format="json").status_code == 400  # an API key: assign
    assigned = api.post(f"{url}/assign", {"assignee": member.user.pk}, format="json")
    assert assigned.status_code == 200
    assert assigned.json()["assignee"] == member.user.pk
    for bad, field in (({"assignee": viewer.user.pk}, "assignee"),
                       ({"assignee": globex.owner.pk}, "assignee"),
                       ({"assignee": "x"}, "assignee"), ({}, "assignee")):
        refused = api.post(f"{url}/assign", bad, format="json")
        assert refused.status_code == 400, bad
        assert field in _error(refused)["fields"]
    with tenant_context(acme.tenant.pk):
        assert Conversation.objects.get(pk=conversation.pk).assignee_id == member.user.pk

    released = api.post(f"{url}/release", format="json")
    assert released.json()["status"] == "open"
    assert released.json()["assignee"] is None
    api.post(f"{url}/assign", {"assignee": member.user.pk}, format="json")
    api.post(f"{url}/resolve", format="json")
    with tenant_context(acme.tenant.pk):
        conversation.refresh_from_db()
    assert (conversation.status, conversation.assignee_id) == ("resolved", None)
    assert api.post(f"{url}/claim", format="json").status_code == 400
    assert api.post(f"{url}/release", format="json").status_code == 409

    # A viewer reads but does not take conversations.
    viewer_browser = acme.browser()
    viewer_browser.force_login(viewer.user)
    assert viewer_browser.post(reverse("bot:claim", args=[conversation.pk])).status_code == 403


def test_widget_button_hands_off_and_notes_never_reach_the_widget(acme: TenantSetup) -> None:
    with tenant_context(acme.tenant.pk):
        key = services.bot_settings_update(changes={"widget_origins": [SHOP]}).widget_key
    started = widget(key).post(f"{WIDGET}/conversations", {}, format="json").json()
    visitor = widget(key, HTTP_X_CONVERSATION_TOKEN=started["token"])
    assert widget(key).post(f"{WIDGET}/conversations/{started['id']}/handoff",
                            format="json").status_code == 404  # without the token
    asked = visitor.post(f"{WIDGET}/conversations/{started['id']}/handoff", format="json")
    assert asked.status_code == 201, asked.content
    assert asked.json()["status"] == "handed_off"
    assert asked["Access-Control-Allow-Origin"] == SHOP

    api = acme.api()
    note = api.post(f"{BOT}/conversations/{started['id']}/notes",
                    {"text": "VIP customer, refund approved"}, format="json")
    assert note.status_code == 201
    api.post(f"{BOT}/conversations/{started['id']}/reply", {"text": "Hello from Sam"},
             format="json")
    seen = visitor.get(f"{WIDGET}/conversations/{started['id']}/messages?after=0").json()
    assert [m["text"] for m in seen][-1] == "Hello from Sam"
    assert all("VIP" not in m["text"] for m in seen)
    detail = api.get(f"{BOT}/conversations/{started['id']}").json()
    assert all("VIP" not in m["text"] for m in detail["messages"])
    notes = api.get(f"{BOT}/conversations/{started['id']}/notes").json()
    assert [n["text"] for n in notes] == ["VIP customer, refund approved"]
    for bad in ({"text": ""}, {"text": "x" * 4001}, {}):
        refused = api.post(f"{BOT}/conversations/{started['id']}/notes", bad, format="json")
        assert refused.status_code == 400
        assert "text" in _error(refused)["fields"]
    page = acme.browser().get(reverse("bot:conversation", args=[started["id"]]))
    assert "VIP customer, refund approved" in page.content.decode()


def test_canned_replies_crud_and_bad_input(acme: TenantSetup) -> None:
    api = acme.api()
    created = api.post(f"{BOT}/canned-replies", {"title": "Refund", "text": "Refunds take 5 "
                                                 "days."}, format="json")
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    duplicate = api.post(f"{BOT}/canned-replies", {"title": "Refund", "text": "x"},
                         format="json")
    assert duplicate.status_code == 409
    assert "title" in _error(duplicate)["fields"]
    for bad, field in (({"title": "", "text": "x"}, "title"), ({"title": "T", "text": " "},
                                                                "text"),
                       ({"title": "T" * 101, "text": "x"}, "title")):
        refused = api.post(f"{BOT}/canned-replies", bad, format="json")
        assert refused.status_code == 400
        assert field in _error(refused)["fields"]
    changed = api.patch(f"{BOT}/canned-replies/{pk}", {"text": "Refunds take 3 days."},
                        format="json")
    assert changed.json()["text"] == "Refunds take 3 days."
    assert [c["title"] for c in api.get(f"{BOT}/canned-replies").json()["results"]] == [
        "Refund"]

    browser = acme.browser()
    assert browser.post(reverse("bot:canned_replies"), {"title": "Hello",
                                                        "text": "Hi there!"}).status_code == 302
    assert browser.post(reverse("bot:canned_replies"), {"title": "", "text": "x"}
                        ).status_code == 400
    with tenant_context(acme.tenant.pk):
        hello = CannedReply.objects.get(title="Hello")
    assert browser.post(reverse("bot:canned_reply", args=[hello.pk]),
                        {"title": "Hello", "text": "Hi!"}).status_code == 302
    conversation = start(acme)
    page = browser.get(reverse("bot:conversation", args=[conversation.pk])).content.decode()
    assert 'data-canned-text="Hi!"' in page
    assert browser.post(reverse("bot:canned_reply_delete", args=[hello.pk])).status_code == 302
    assert api.delete(f"{BOT}/canned-replies/{pk}").status_code == 204
    with tenant_context(acme.tenant.pk):
        assert not CannedReply.objects.exists()


def test_inbox_unread_waiting_earlier_conversations_and_live_version(acme: TenantSetup) -> None:
    earlier = start(acme, external_user_id="cust-9")
    answer(acme, earlier, "an old question")
    with tenant_context(acme.tenant.pk):
        services.conversation_resolve(conversation=earlier)
    conversation = start(acme, external_user_id="cust-9")
    answer(acme, conversation, "my parrot orders pizza")  # fallback: handed off
    browser = acme.browser()
    live = browser.get(reverse("bot:live")).json()["version"]
    one = browser.get(reverse("bot:live"), {"conversation": conversation.pk}).json()["version"]
    with tenant_context(acme.tenant.pk):
        conversation.refresh_from_db()
        services.message_receive(conversation=conversation, text="still there?")
    assert browser.get(reverse("bot:live")).json()["version"] != live
    assert browser.get(reverse("bot:live"), {"conversation": conversation.pk}
                       ).json()["version"] != one
    bad = browser.get(reverse("bot:live"), {"conversation": "abc"})
    assert bad.status_code == 400
    assert "conversation" in bad.json()["error"]["fields"]

    inbox = browser.get(reverse("bot:inbox"))
    [row] = inbox.context["conversations"]
    assert row.pk == conversation.pk
    assert row.unread == 2  # both customer messages
    assert row.waiting_since is not None  # the fallback answered nothing
    page = browser.get(reverse("bot:conversation", args=[conversation.pk]))
    assert [c.pk for c in page.context["earlier"]] == [earlier.pk]
    [row] = browser.get(reverse("bot:inbox")).context["conversations"]
    assert row.unread == 0  # read on opening
    with tenant_context(acme.tenant.pk):
        services.agent_reply(conversation=conversation, text="Here!", author_id=acme.owner.pk)
    [row] = browser.get(reverse("bot:inbox")).context["conversations"]
    assert row.waiting_since is None
    # Another agent has read nothing yet.
    other = acme.add_member(Role.MEMBER)
    other_browser = acme.browser()
    other_browser.force_login(other.user)
    [row] = other_browser.get(reverse("bot:inbox")).context["conversations"]
    assert row.unread == 2
    assert other_browser.get(reverse("bot:inbox"), {"mine": "1"}).context[
        "conversations"].paginator.count == 0


def _snapshot(setup: TenantSetup) -> Any:
    with tenant_context(setup.tenant.pk):
        return (list(Conversation.objects.values_list("status", "assignee_id", "updated_at")),
                list(ConversationNote.objects.values_list("text", flat=True)),
                list(CannedReply.objects.values_list("title", "text")),
                list(Message.objects.values_list("role", "text")))


def test_another_tenants_conversations_notes_and_canned_replies_are_not_found(
        acme: TenantSetup, globex: TenantSetup) -> None:
    conversation = start(globex, external_user_id="g-1")
    answer(globex, conversation, "globex customer message")
    with tenant_context(globex.tenant.pk):
        handoff.note_create(conversation=conversation, text="globex secret note",
                            author_id=globex.owner.pk)
        canned = handoff.canned_reply_create(title="Globex", text="Globex canned")
    before = _snapshot(globex)
    api = acme.api()
    url = f"{BOT}/conversations/{conversation.pk}"
    attempts = [api.post(f"{url}/claim"), api.post(f"{url}/release"),
                api.post(f"{url}/assign", {"assignee": acme.owner.pk}, format="json"),
                api.get(f"{url}/notes"), api.post(f"{url}/notes", {"text": "x"}, format="json"),
                api.get(f"{BOT}/canned-replies/{canned.pk}"),
                api.patch(f"{BOT}/canned-replies/{canned.pk}", {"text": "x"}, format="json"),
                api.delete(f"{BOT}/canned-replies/{canned.pk}")]
    browser = acme.browser()
    attempts += [
        browser.get(reverse("bot:conversation", args=[conversation.pk])),
        browser.post(reverse("bot:note_create", args=[conversation.pk]), {"text": "x"}),
        browser.post(reverse("bot:claim", args=[conversation.pk])),
        browser.post(reverse("bot:release", args=[conversation.pk])),
        browser.post(reverse("bot:assign", args=[conversation.pk]),
                     {"assignee": acme.owner.pk}),
        browser.get(reverse("bot:live"), {"conversation": conversation.pk}),
        browser.get(reverse("bot:canned_reply", args=[canned.pk])),
        browser.post(reverse("bot:canned_reply", args=[canned.pk]), {"title": "x",
                                                                     "text": "x"}),
        browser.post(reverse("bot:canned_reply_delete", args=[canned.pk]))]
    for response in attempts:
        assert response.status_code == 404, (response.request["PATH_INFO"], response.content)
    assert api.get(f"{BOT}/canned-replies").json()["results"] == []
    inbox = browser.get(reverse("bot:inbox")).content.decode()
    assert "g-1" not in inbox
    assert "Globex canned" not in browser.get(reverse("bot:canned_replies")).content.decode()
    assert _snapshot(globex) == before


def test_a_message_analysed_while_an_agent_took_the_conversation_gets_no_bot_reply(
        acme: TenantSetup) -> None:
    """The race: the customer's message went to the model, then an agent claimed the
    conversation before the answer came back. The bot must stay silent on that message too."""
    with tenant_context(acme.tenant.id):
        conversation = services.conversation_start(external_user_id="cust-race")
        message = services.message_receive(conversation=conversation, text="my card is lost")
        handoff.conversation_claim(conversation=conversation, user_id=acme.owner.id)
        analysis = services.Analysis(intent="lost_card", confidence=0.99, articles=[])
        reply = services.message_answer(message=message, analysis=analysis, latency_ms=5)
        assert reply is None
        assert list(Message.objects.filter(conversation=conversation)
                    .values_list("role", flat=True)) == [Message.Role.USER]
