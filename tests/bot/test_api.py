"""``/api/v1/bot/``: resources, bad input, the 503 when no worker answers, and every endpoint
against another tenant's credentials (404, nothing changes)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.support_bot.models import Article, Conversation, Intent, Message, Utterance
from tenancy.context import tenant_context
from tests.bot.conftest import add_article, add_intent, answer, start
from tests.conftest import TenantSetup

pytestmark = pytest.mark.django_db

BOT = "/api/v1/bot"


def _error(response: Any) -> dict[str, Any]:
    return response.json()["error"]


def test_intents_and_utterances_round_trip(acme: TenantSetup) -> None:
    api = acme.api()
    created = api.post(f"{BOT}/intents", {"name": "card_arrival",
                                          "answer_template": "Hi {name}!"}, format="json")
    assert created.status_code == 201, created.json()
    intent_id = created.json()["id"]
    utterance = api.post(f"{BOT}/utterances", {"intent": intent_id, "text": "Where is my card?"},
                         format="json")
    assert utterance.status_code == 201
    changed = api.patch(f"{BOT}/intents/{intent_id}", {"handoff": True}, format="json")
    listed = api.get(f"{BOT}/intents").json()["results"]

    assert changed.json()["handoff"] is True
    assert [(i["name"], i["utterance_count"]) for i in listed] == [("card_arrival", 1)]
    assert api.get(f"{BOT}/utterances", {"intent": intent_id}).json()["results"][0][
        "intent_name"] == "card_arrival"
    duplicate = api.post(f"{BOT}/intents", {"name": "card_arrival"}, format="json")
    assert duplicate.status_code == 409
    assert "name" in _error(duplicate)["fields"]
    bad_template = api.post(f"{BOT}/intents", {"name": "x", "answer_template": "{a b}"},
                            format="json")
    assert bad_template.status_code == 400
    assert "answer_template" in _error(bad_template)["fields"]
    assert api.delete(f"{BOT}/intents/{intent_id}").status_code == 204
    with tenant_context(acme.tenant.pk):
        assert not Utterance.objects.exists()


def test_article_csv_import_names_the_bad_row_and_column_and_stores_nothing(
        acme: TenantSetup) -> None:
    api = acme.api()
    bad = SimpleUploadedFile("kb.csv", b"question,answer,tags\nFees?,None.,money\nHours?,,\n")
    refused = api.post(f"{BOT}/articles/import", {"file": bad}, format="multipart")
    latin1 = api.post(f"{BOT}/articles/import",
                      {"file": SimpleUploadedFile("kb.csv", "question,answer\nCafé?,Oui\n"
                                                  .encode("latin-1"))}, format="multipart")
    good = SimpleUploadedFile("kb.csv", b"question,answer,tags\nFees?,None.,money;Cards\n"
                                        b"Hours?,9 to 5,\n")
    imported = api.post(f"{BOT}/articles/import", {"file": good}, format="multipart")
    missing = api.post(f"{BOT}/articles/import", {}, format="multipart")

    assert refused.status_code == 400
    assert _error(refused)["problems"] == [{"row": 2, "column": "answer",
                                            "message": "is required"}]
    assert latin1.status_code == 400
    assert "UTF-8" in _error(latin1)["message"]
    assert missing.status_code == 400
    assert "file" in _error(missing)["fields"]
    assert imported.status_code == 201
    assert imported.json()["created"] == 2
    with tenant_context(acme.tenant.pk):
        assert sorted(Article.objects.values_list("question", "tags")) == [
            ("Fees?", ["cards", "money"]), ("Hours?", [])]
    listed = api.get(f"{BOT}/articles", {"search": "hours"}).json()["results"]
    assert [(a["question"], a["embedded"]) for a in listed] == [("Hours?", False)]


def test_chat_input_is_validated(acme: TenantSetup, globex: TenantSetup) -> None:
    api = acme.api()
    conversation = api.post(f"{BOT}/conversations", {"context": {"name": "Ann"}},
                            format="json").json()
    theirs = start(globex)
    url = f"{BOT}/conversations/{conversation['id']}/messages"

    empty = api.post(url, {"text": "   "}, format="json")
    huge = api.post(url, {"text": "x" * 20_000}, format="json")
    absent = api.post(url, {}, format="json")
    unknown = api.post(f"{BOT}/conversations/987654321/messages", {"text": "hi"}, format="json")
    other = api.post(f"{BOT}/conversations/{theirs.pk}/messages", {"text": "hi"}, format="json")
    bad_context = api.post(f"{BOT}/conversations", {"context": ["not", "an", "object"]},
                           format="json")

    assert empty.status_code == 400
    assert "text" in _error(empty)["fields"]
    assert huge.status_code == 400
    assert "text" in _error(huge)["fields"]
    assert absent.status_code == 400
    assert "text" in _error(absent)["fields"]
    assert unknown.status_code == 404
    assert other.status_code == 404
    assert bad_context.status_code == 400
    assert "context" in _error(bad_context)["fields"]
    with tenant_context(acme.tenant.pk):
        assert not Message.objects.exists()
    with tenant_context(globex.tenant.pk):
        assert not Message.objects.exists()


def test_no_worker_answers_503_and_the_message_is_kept(acme: TenantSetup, settings) -> None:
    settings.ONLINE_TIMEOUT_SECONDS = 0.5
    conversation = start(acme)

    response = acme.api().post(f"{BOT}/conversations/{conversation.pk}/messages",
                               {"text": "Where is my card?"}, format="json")

    assert response.status_code == 503
    assert _error(response)["code"] == "inference_unavailable"
    with tenant_context(acme.tenant.pk):
        [kept] = Message.objects.all()
    assert (kept.text, kept.role) == ("Where is my card?", "user")
    assert _error(response)["message_id"] == kept.pk


def test_conversation_detail_agent_reply_feedback_and_analytics(acme: TenantSetup) -> None:
    add_intent(acme, "card_arrival", "Cards arrive within 5 days.")
    conversation = start(acme)
    reply = answer(acme, conversation, "Where is my card?", intent="card_arrival",
                   confidence=0.9)
    api = acme.api()
    base = f"{BOT}/conversations/{conversation.pk}"

    detail = api.get(base).json()
    rated = api.post(f"{base}/feedback", {"rating": "up", "message": reply.pk}, format="json")
    bad_rating = api.post(f"{base}/feedback", {"rating": "meh"}, format="json")
    handed = api.post(f"{base}/handoff")
    inbox = api.get(f"{BOT}/conversations", {"status": "handed_off"}).json()["results"]
    agent = api.post(f"{base}/reply", {"text": "Let me check.", "save_as": "article"},
                     format="json")
    resolved = api.post(f"{base}/resolve")
    bad_status = api.get(f"{BOT}/conversations", {"status": "lost"})
    stats = api.get(f"{BOT}/analytics").json()

    assert [m["role"] for m in detail["messages"]] == ["user", "bot"]
    assert detail["messages"][1]["reply_kind"] == "template"
    assert rated.status_code == 201
    assert bad_rating.status_code == 400
    assert "rating" in _error(bad_rating)["fields"]
    assert handed.json()["status"] == "handed_off"
    assert [c["id"] for c in inbox] == [conversation.pk]
    assert agent.status_code == 201
    assert agent.json()["role"] == "agent"
    assert resolved.json()["status"] == "resolved"
    assert bad_status.status_code == 400
    assert stats["conversations"] == 1
    assert stats["satisfaction"] == 1.0
    assert stats["handoff_rate"] == 1.0
    assert stats["top_intents"] == [{"intent": "card_arrival", "replies": 1}]
    with tenant_context(acme.tenant.pk):
        assert Article.objects.get().question == "Where is my card?"


def test_settings_need_admin_to_change_and_validate(acme: TenantSetup) -> None:
    from accounts.services import api_key_create

    with tenant_context(acme.tenant.pk):
        reader = api_key_create(name="reader", scopes=["read", "write"],
                                created_by_id=acme.owner.pk).raw_key
    api = acme.api()
    current = api.get(f"{BOT}/settings").json()
    forbidden = acme.api(reader).patch(f"{BOT}/settings", {"intent_threshold": 0.1},
                                       format="json")
    invalid = api.patch(f"{BOT}/settings", {"intent_threshold": 2}, format="json")
    changed = api.patch(f"{BOT}/settings", {"widget_origins": ["https://Shop.example.com/"]},
                        format="json")
    rotated = api.post(f"{BOT}/settings/rotate-widget-key")

    assert current["widget_key"].startswith("wk_")
    assert forbidden.status_code == 403
    assert invalid.status_code == 400
    assert "intent_threshold" in _error(invalid)["fields"]
    assert changed.json()["widget_origins"] == ["https://shop.example.com"]
    assert rotated.json()["widget_key"] != current["widget_key"]


def _theirs(globex: TenantSetup) -> dict[str, Any]:
    intent = add_intent(globex, "secret_intent", "Globex template")
    with tenant_context(globex.tenant.pk):
        utterance = Utterance.objects.create(intent=intent, text="globex utterance")
    article = add_article(globex, "Globex question", "Globex answer", 1)
    conversation = start(globex)
    answer(globex, conversation, "globex customer message", intent="secret_intent",
           confidence=0.9)
    return {"intents": intent.pk, "utterances": utterance.pk, "articles": article.pk,
            "conversations": conversation.pk}


def _snapshot(globex: TenantSetup) -> Any:
    with tenant_context(globex.tenant.pk):
        return (list(Intent.objects.values_list("name", "answer_template", "handoff")),
                list(Utterance.objects.values_list("text", flat=True)),
                list(Article.objects.values_list("question", "answer")),
                list(Conversation.objects.values_list("status", "last_intent")),
                list(Message.objects.values_list("role", "text")))


def test_another_tenants_objects_cannot_be_read_changed_or_deleted(
        acme: TenantSetup, globex: TenantSetup) -> None:
    ids = _theirs(globex)
    before = _snapshot(globex)
    api = acme.api()
    attempts = []
    for resource in ("intents", "utterances", "articles", "conversations"):
        url = f"{BOT}/{resource}/{ids[resource]}"
        attempts += [api.get(url), api.patch(url, {"name": "x", "question": "x", "answer": "x"},
                                             format="json"), api.delete(url)]
        assert api.get(f"{BOT}/{resource}").json()["results"] == []
    conversation = f"{BOT}/conversations/{ids['conversations']}"
    attempts += [api.post(f"{conversation}/{action}", body, format="json")
                 for action, body in (("messages", {"text": "hi"}), ("reply", {"text": "hi"}),
                                      ("resolve", {}), ("handoff", {}),
                                      ("feedback", {"rating": "down"}))]

    # Utterances cannot be changed and conversations neither changed nor deleted by anyone
    # (405 whatever the id); everything else is the 404 of a missing object.
    not_offered = {("PATCH", f"{BOT}/utterances/{ids['utterances']}"),
                   ("PATCH", conversation), ("DELETE", conversation)}
    for response in attempts:
        request = (response.request["REQUEST_METHOD"], response.request["PATH_INFO"])
        assert response.status_code == (405 if request in not_offered else 404), request
    assert _snapshot(globex) == before
    utterance = api.post(f"{BOT}/utterances", {"intent": ids["intents"], "text": "sneaky"},
                         format="json")
    assert utterance.status_code == 400
    assert "intent" in _error(utterance)["fields"]
    assert api.get(f"{BOT}/analytics").json()["conversations"] == 0
    assert _snapshot(globex) == before
