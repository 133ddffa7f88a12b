"""The public widget key: it reaches the chat endpoints only, from allowed origins only, and a
widget conversation only with its own token."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from apps.support_bot import services
from apps.support_bot.models import Conversation, Message
from tenancy.context import tenant_context
from tests.bot.conftest import start
from tests.conftest import TenantSetup

pytestmark = pytest.mark.django_db

WIDGET = "/api/v1/bot/widget"
SHOP = "https://shop.example.com"


@pytest.fixture
def widget_key(acme: TenantSetup) -> str:
    with tenant_context(acme.tenant.pk):
        return services.bot_settings_update(changes={"widget_origins": [SHOP]}).widget_key


def widget(key: str, origin: str = SHOP, **headers: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_X_WIDGET_KEY=key, HTTP_ORIGIN=origin, **headers)
    return client


def _start(key: str) -> dict[str, Any]:
    response = widget(key).post(f"{WIDGET}/conversations", {"external_user_id": "visitor-1"},
                                format="json")
    assert response.status_code == 201, response.content
    assert response["Access-Control-Allow-Origin"] == SHOP
    return response.json()


def test_the_widget_starts_a_conversation_and_posts_messages(
        acme: TenantSetup, widget_key: str, settings) -> None:
    settings.ONLINE_TIMEOUT_SECONDS = 0.3
    started = _start(widget_key)
    posted = widget(widget_key, HTTP_X_CONVERSATION_TOKEN=started["token"]).post(
        f"{WIDGET}/conversations/{started['id']}/messages", {"text": "Where is my card?"},
        format="json")

    # No worker in this test: the message passed every check and is kept; the 503 is the
    # queue's answer, with the CORS header so that the page can read it.
    assert posted.status_code == 503
    assert posted["Access-Control-Allow-Origin"] == SHOP
    with tenant_context(acme.tenant.pk):
        conversation = Conversation.objects.get(pk=started["id"])
        assert conversation.channel == Conversation.Channel.WIDGET
        assert conversation.external_user_id == "visitor-1"
        assert list(conversation.messages.values_list("text", flat=True)) == [
            "Where is my card?"]


def test_a_preflight_learns_the_headers_it_may_send(widget_key: str) -> None:
    response = APIClient().options(f"{WIDGET}/conversations", HTTP_ORIGIN=SHOP,
                                   HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST")
    assert response.status_code == 204
    assert "X-Widget-Key" in response["Access-Control-Allow-Headers"]


def test_an_origin_off_the_allow_list_is_refused(acme: TenantSetup, widget_key: str) -> None:
    for origin in ("https://evil.example.com", "http://shop.example.com", ""):
        response = widget(widget_key, origin=origin).post(f"{WIDGET}/conversations", {},
                                                          format="json")
        assert response.status_code == 403, origin
        assert response.json()["error"]["code"] == "origin_not_allowed"
        # The refusal is readable by the refused page, so that the widget can say why.
        if origin:
            assert response["Access-Control-Allow-Origin"] == origin
            assert origin in response.json()["error"]["message"]
        else:
            assert "Access-Control-Allow-Origin" not in response
    with tenant_context(acme.tenant.pk):
        assert not Conversation.objects.exists()


def test_a_wrong_or_rotated_key_is_refused(acme: TenantSetup, widget_key: str) -> None:
    assert widget("wk_not-a-key").post(f"{WIDGET}/conversations", {},
                                       format="json").status_code == 401
    assert APIClient().post(f"{WIDGET}/conversations", {}, format="json",
                            HTTP_ORIGIN=SHOP).status_code == 401
    with tenant_context(acme.tenant.pk):
        services.widget_key_rotate()
    assert widget(widget_key).post(f"{WIDGET}/conversations", {},
                                   format="json").status_code == 401


def test_the_widget_key_reaches_no_other_endpoint(acme: TenantSetup, widget_key: str) -> None:
    conversation = start(acme)
    urls = ["/api/v1/me", "/api/v1/bot/conversations", f"/api/v1/bot/conversations/"
            f"{conversation.pk}", "/api/v1/bot/intents", "/api/v1/bot/articles",
            "/api/v1/bot/settings", "/api/v1/bot/analytics", "/api/v1/jobs", "/api/v1/datasets",
            "/api/v1/webhooks", "/api/v1/finance/documents"]
    as_header = widget(widget_key)
    as_bearer = APIClient()
    as_bearer.credentials(HTTP_AUTHORIZATION=f"Bearer {widget_key}", HTTP_ORIGIN=SHOP)
    for client in (as_header, as_bearer):
        for url in urls:
            assert client.get(url).status_code == 401, url
        posted = client.post(f"/api/v1/bot/conversations/{conversation.pk}/messages",
                             {"text": "hi"}, format="json")
        assert posted.status_code == 401
        assert client.post("/api/v1/bot/intents", {"name": "x"},
                           format="json").status_code == 401
    with tenant_context(acme.tenant.pk):
        assert not Message.objects.exists()


def test_widget_conversations_need_their_token_and_stay_in_their_tenant(
        acme: TenantSetup, globex: TenantSetup, widget_key: str) -> None:
    started = _start(widget_key)
    api_conversation = start(acme)  # channel "api": never reachable through the widget
    with tenant_context(globex.tenant.pk):
        globex_key = services.bot_settings_update(changes={"widget_origins": [SHOP]}).widget_key
    url = f"{WIDGET}/conversations/{started['id']}/messages"

    no_token = widget(widget_key).post(url, {"text": "hi"}, format="json")
    wrong_token = widget(widget_key, HTTP_X_CONVERSATION_TOKEN="guess").post(
        url, {"text": "hi"}, format="json")
    other_tenant = widget(globex_key, HTTP_X_CONVERSATION_TOKEN=started["token"]).post(
        url, {"text": "hi"}, format="json")
    api_channel = widget(widget_key, HTTP_X_CONVERSATION_TOKEN="").post(
        f"{WIDGET}/conversations/{api_conversation.pk}/messages", {"text": "hi"}, format="json")
    feedback = widget(globex_key, HTTP_X_CONVERSATION_TOKEN=started["token"]).post(
        f"{WIDGET}/conversations/{started['id']}/feedback", {"rating": "down"}, format="json")
    empty = widget(widget_key, HTTP_X_CONVERSATION_TOKEN=started["token"]).post(
        url, {"text": ""}, format="json")

    assert [r.status_code for r in (no_token, wrong_token, other_tenant, api_channel, feedback)
            ] == [404] * 5
    assert empty.status_code == 400
    assert "text" in empty.json()["error"]["fields"]
    with tenant_context(acme.tenant.pk):
        assert not Message.objects.exists()


def test_the_widget_script_is_served_publicly(client) -> None:
    response = client.get("/bot/widget.js")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/javascript"
    assert b"X-Widget-Key" in response.content


def test_widget_callers_are_rate_limited_per_key_and_address(
        acme: TenantSetup, widget_key: str, settings) -> None:
    settings.WIDGET_RATE_LIMIT_PER_MINUTE = 2
    statuses = [widget(widget_key).post(f"{WIDGET}/conversations", {}, format="json")
                for _ in range(3)]
    other_visitor = widget(widget_key, REMOTE_ADDR="10.1.2.3").post(
        f"{WIDGET}/conversations", {}, format="json")

    assert [r.status_code for r in statuses] == [201, 201, 429]
    assert int(statuses[2]["Retry-After"]) >= 1
    assert other_visitor.status_code == 201
    with tenant_context(acme.tenant.pk):
        assert Conversation.objects.count() == 3


def test_the_widget_reads_new_messages_of_its_own_conversation_only(
        acme: TenantSetup, widget_key: str) -> None:
    started = _start(widget_key)
    with tenant_context(acme.tenant.pk):
        conversation = Conversation.objects.get(pk=started["id"])
        first = services.message_receive(conversation=conversation, text="Hello?")
        services.conversation_handoff(conversation=conversation)
        services.agent_reply(conversation=conversation, text="Hi, Sam here.", author_id=None)
    url = f"{WIDGET}/conversations/{started['id']}/messages"
    client = widget(widget_key, HTTP_X_CONVERSATION_TOKEN=started["token"])

    everything = client.get(url).json()
    newer = client.get(url, {"after": first.pk}).json()

    assert [(m["role"], m["text"]) for m in everything] == [("user", "Hello?"),
                                                           ("agent", "Hi, Sam here.")]
    assert set(everything[0]) == {"id", "role", "text", "author", "citations", "created_at"}
    assert [m["author"] for m in everything] == [None, None]  # an agent without a name
    assert [m["text"] for m in newer] == ["Hi, Sam here."]
    assert client.get(url, {"after": "x"}).status_code == 400
    assert widget(widget_key).get(url).status_code == 404  # no token


def test_forged_forwarded_addresses_do_not_escape_the_rate_limit(
        acme: TenantSetup, widget_key: str, settings) -> None:
    """Without trusted proxies, X-Forwarded-For is the visitor's own writing: ignored."""
    settings.WIDGET_RATE_LIMIT_PER_MINUTE = 2
    settings.TRUSTED_PROXIES = []
    statuses = [widget(widget_key, HTTP_X_FORWARDED_FOR=f"203.0.113.{n}").post(
        f"{WIDGET}/conversations", {}, format="json").status_code for n in range(6)]
    assert statuses == [201, 201, 429, 429, 429, 429]


def test_a_trusted_proxy_forwards_the_visitor_address(
        acme: TenantSetup, widget_key: str, settings) -> None:
    """Behind the ingress (trusted), the address it appended is the visitor; what the
    visitor wrote before it is not believed."""
    settings.WIDGET_RATE_LIMIT_PER_MINUTE = 1
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]

    def post(forwarded: str) -> int:
        return widget(widget_key, REMOTE_ADDR="10.0.0.7", HTTP_X_FORWARDED_FOR=forwarded).post(
            f"{WIDGET}/conversations", {}, format="json").status_code

    assert post("198.51.100.1") == 201
    assert post("198.51.100.2") == 201  # another visitor behind the same proxy
    assert post("1.1.1.1, 198.51.100.1") == 429  # a forged first entry changes nothing


def test_the_widget_post_answer_hides_intents_confidences_and_articles(
        acme: TenantSetup, widget_key: str) -> None:
    started = _start(widget_key)
    with tenant_context(acme.tenant.pk):
        conversation = Conversation.objects.get(pk=started["id"])
        services.conversation_handoff(conversation=conversation)  # a person has it: no model
    posted = widget(widget_key, HTTP_X_CONVERSATION_TOKEN=started["token"]).post(
        f"{WIDGET}/conversations/{started['id']}/messages", {"text": "Hello?"}, format="json")
    assert posted.status_code == 201, posted.content
    body = posted.json()
    assert set(body) == {"message", "reply", "status"}
    assert set(body["message"]) == {"id", "role", "text", "author", "citations", "created_at"}
    assert body["reply"] is None

    # A bot reply as the worker would have recorded it: what the visitor gets of it.
    from apps.support_bot.widget import WidgetChatResponseSerializer

    with tenant_context(acme.tenant.pk):
        reply = services.message_receive(conversation=conversation, text="x")
        Message.objects.filter(pk=reply.pk).update(
            role=Message.Role.BOT, intent="card_arrival", confidence=0.93,
            retrieved=[{"article": 1, "similarity": 0.8}])
        reply.refresh_from_db()
        shown = WidgetChatResponseSerializer({"message": reply, "reply": reply,
                                              "status": "open"}).data
    assert set(shown["reply"]) == {"id", "role", "text", "author", "citations", "created_at"}
    assert "card_arrival" not in str(shown)
    assert "0.93" not in str(shown)


def test_an_agents_reply_carries_the_agents_first_name_never_the_email(
        acme: TenantSetup, widget_key: str) -> None:
    started = _start(widget_key)
    acme.owner.first_name = "Sam"
    acme.owner.save(update_fields=["first_name"])
    with tenant_context(acme.tenant.pk):
        conversation = Conversation.objects.get(pk=started["id"])
        services.message_receive(conversation=conversation, text="Hello?")
        services.conversation_handoff(conversation=conversation)
        services.agent_reply(conversation=conversation, text="On it.", author_id=acme.owner.pk)
    response = widget(widget_key, HTTP_X_CONVERSATION_TOKEN=started["token"]).get(
        f"{WIDGET}/conversations/{started['id']}/messages")

    assert [(m["role"], m["author"]) for m in response.json()] == [("user", None),
                                                                   ("agent", "Sam")]
    assert acme.owner.email not in response.content.decode()


def test_a_wrong_key_refusal_is_readable_by_the_page(widget_key: str) -> None:
    response = widget("wk_not-a-key").post(f"{WIDGET}/conversations", {}, format="json")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"
    assert response["Access-Control-Allow-Origin"] == SHOP


def test_the_widget_reads_its_look_and_the_settings_check_it(
        acme: TenantSetup, globex: TenantSetup, widget_key: str) -> None:
    shown = widget(widget_key).get(f"{WIDGET}/config")
    assert shown.status_code == 200
    assert shown["Access-Control-Allow-Origin"] == SHOP
    assert shown.json() == {"title": acme.tenant.name, "greeting": "", "colour": "#2456d6",
                            "avatar_url": ""}
    refused = widget(widget_key, origin="https://evil.example.com").get(f"{WIDGET}/config")
    assert refused.status_code == 403
    assert refused["Access-Control-Allow-Origin"] == "https://evil.example.com"

    admin = APIClient()
    admin.credentials(HTTP_AUTHORIZATION=f"Bearer {acme.raw_key}")
    changed = admin.patch("/api/v1/bot/settings", {
        "widget_colour": "#AA3300", "widget_greeting": "Hi!", "widget_title": "Acme help",
        "widget_avatar_url": "https://cdn.example.com/a.png"}, format="json")
    assert changed.status_code == 200, changed.content
    assert changed.json()["widget_colour"] == "#aa3300"
    for field, value in (("widget_colour", "red"), ("widget_colour", "#12345"),
                         ("widget_avatar_url", "http://cdn.example.com/a.png"),
                         ("widget_avatar_url", "javascript:alert(1)")):
        bad = admin.patch("/api/v1/bot/settings", {field: value}, format="json")
        assert bad.status_code == 400, (field, value)
        assert field in bad.json()["error"]["fields"], bad.content
    assert widget(widget_key).get(f"{WIDGET}/config").json() == {
        "title": "Acme help", "greeting": "Hi!", "colour": "#aa3300",
        "avatar_url": "https://cdn.example.com/a.png"}
    # Another tenant's key reads its own look only.
    with tenant_context(globex.tenant.pk):
        globex_key = services.bot_settings_update(changes={"widget_origins": [SHOP]}).widget_key
    assert widget(globex_key).get(f"{WIDGET}/config").json()["title"] == globex.tenant.name


def test_the_settings_page_sets_the_widgets_look_for_its_tenant_only(
        acme: TenantSetup, globex: TenantSetup) -> None:
    from django.urls import reverse

    form = {"intent_threshold": 0.6, "article_threshold": 0.5, "followup_max_words": 4,
            "fallback_message": "Bye", "target_false_handoff": 0.03, "ambiguity_margin": 0.1,
            "widget_title": "Acme help", "widget_greeting": "Hello!",
            "widget_colour": "#aa3300", "widget_avatar_url": "https://cdn.example.com/a.png"}
    browser = acme.browser()
    assert browser.post(reverse("bot:settings"), form).status_code == 302
    refused = browser.post(reverse("bot:settings"), {**form, "widget_colour": "blue"})
    assert refused.status_code == 400
    assert "#rrggbb" in refused.content.decode()
    assert browser.post(reverse("bot:settings"), {
        **form, "widget_avatar_url": "http://cdn.example.com/a.png"}).status_code == 400
    with tenant_context(acme.tenant.pk):
        mine = services.bot_settings_get()
        assert (mine.widget_title, mine.widget_greeting, mine.widget_colour,
                mine.widget_avatar_url) == ("Acme help", "Hello!", "#aa3300",
                                            "https://cdn.example.com/a.png")
    with tenant_context(globex.tenant.pk):
        theirs = services.bot_settings_get()
        assert (theirs.widget_title, theirs.widget_colour) == ("", "#2456d6")
