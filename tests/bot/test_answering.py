"""The answering decision (``services.message_answer``), with the worker's analysis given:
template, article, fallback with handoff and its webhook, follow-ups, per-tenant thresholds,
nearest articles through pgvector, agents and feedback."""

from __future__ import annotations

import json

import pytest

from apps.support_bot import selectors, services
from apps.support_bot.models import Article, Conversation, Feedback, Intent, Message, Utterance
from apps.support_bot.text import MAX_RENDERED_CHARS, render_template, template_variables
from tenancy.context import tenant_context
from tests.bot.conftest import add_article, add_intent, answer, start, unit_vector
from tests.conftest import TenantSetup
from webhooks.models import WebhookDelivery
from webhooks.services import webhook_endpoint_create

pytestmark = pytest.mark.django_db


def test_confident_intent_answers_with_its_template_and_the_context_variables(
        acme: TenantSetup) -> None:
    add_intent(acme, "card_arrival", "Hi {name}, cards arrive within 5 days. {unknown} stays.")
    conversation = start(acme, context={"name": "Ann"})

    reply = answer(acme, conversation, "Where is my card?", intent="card_arrival",
                   confidence=0.93)

    assert reply.role == Message.Role.BOT
    assert reply.reply_kind == Message.ReplyKind.TEMPLATE
    assert reply.text == "Hi Ann, cards arrive within 5 days. {unknown} stays."
    assert (reply.intent, reply.confidence, reply.latency_ms) == ("card_arrival", 0.93, 12)
    with tenant_context(acme.tenant.pk):
        conversation.refresh_from_db()
        question = conversation.messages.get(role=Message.Role.USER)
    assert conversation.last_intent == "card_arrival"
    assert conversation.status == Conversation.Status.OPEN
    assert (question.intent, question.confidence) == ("card_arrival", 0.93)


def test_without_a_template_the_best_article_above_the_threshold_answers(
        acme: TenantSetup) -> None:
    add_intent(acme, "exchange_rate")  # no template
    article = add_article(acme, "What exchange rate do you use?", "The interbank rate.", 0)
    conversation = start(acme)
    found = [{"id": article.pk, "similarity": 0.81}, {"id": 999, "similarity": 0.2}]

    reply = answer(acme, conversation, "Which rate do I get?", intent="exchange_rate",
                   confidence=0.95, articles=found)

    assert reply.reply_kind == Message.ReplyKind.ARTICLE
    assert reply.text == "The interbank rate."
    assert reply.article_id == article.pk
    assert reply.retrieved == found


def test_low_confidence_and_weak_articles_fall_back_and_hand_off_with_a_webhook(
        acme: TenantSetup, settings) -> None:
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = True
    add_intent(acme, "card_arrival", "Cards arrive within 5 days.")
    article = add_article(acme, "Opening hours", "We are open 9 to 5.", 0)
    with tenant_context(acme.tenant.pk):
        webhook_endpoint_create(url="http://127.0.0.1:9/hook", events=["conversation.handoff"])
    conversation = start(acme, external_user_id="cust-7")

    reply = answer(acme, conversation, "My cat ate the statement, what now?",
                   intent="card_arrival", confidence=0.31,
                   articles=[{"id": article.pk, "similarity": 0.3}])

    assert reply.reply_kind == Message.ReplyKind.FALLBACK
    with tenant_context(acme.tenant.pk):
        assert reply.text == services.bot_settings_get().fallback_message
        conversation.refresh_from_db()
        [delivery] = WebhookDelivery.objects.all()
    assert conversation.status == Conversation.Status.HANDED_OFF
    assert conversation.handed_off_at is not None
    assert conversation.last_intent == ""  # an unsure guess is not remembered
    assert delivery.event == "conversation.handoff"
    assert delivery.payload["id"] == conversation.pk
    assert delivery.payload["external_user_id"] == "cust-7"
    assert delivery.payload["reason"] == "low_confidence"
    assert delivery.payload["last_message"] == "My cat ate the statement, what now?"


def test_an_intent_flagged_for_handoff_goes_to_a_person(acme: TenantSetup) -> None:
    add_intent(acme, "compromised_card", "never used", handoff=True)
    conversation = start(acme)

    reply = answer(acme, conversation, "Someone stole my card", intent="compromised_card",
                   confidence=0.99)

    assert reply.reply_kind == Message.ReplyKind.HANDOFF
    with tenant_context(acme.tenant.pk):
        conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.HANDED_OFF


def test_a_short_low_confidence_follow_up_uses_the_previous_intent(acme: TenantSetup) -> None:
    add_intent(acme, "card_arrival", "Cards arrive within 5 days.")
    conversation = start(acme)
    answer(acme, conversation, "When will my card arrive?", intent="card_arrival",
           confidence=0.9)

    follow_up = answer(acme, conversation, "and the PIN?", intent="exchange_rate",
                       confidence=0.2)
    long_unsure = answer(acme, conversation,
                         "I would like to know something completely different please",
                         intent="exchange_rate", confidence=0.2)

    assert follow_up.reply_kind == Message.ReplyKind.TEMPLATE
    assert (follow_up.intent, follow_up.used_previous_intent) == ("card_arrival", True)
    assert follow_up.confidence == 0.2  # the model's own confidence stays on record
    assert long_unsure.reply_kind == Message.ReplyKind.FALLBACK
    assert long_unsure.used_previous_intent is False


def test_thresholds_are_per_tenant(acme: TenantSetup, globex: TenantSetup) -> None:
    for setup in (acme, globex):
        add_intent(setup, "card_arrival", "Cards arrive within 5 days.")
    with tenant_context(acme.tenant.pk):
        services.bot_settings_update(changes={"intent_threshold": 0.5})
    with tenant_context(globex.tenant.pk):
        services.bot_settings_update(changes={"intent_threshold": 0.8})

    at_acme = answer(acme, start(acme), "Where is my new card today?", intent="card_arrival",
                     confidence=0.7)
    at_globex = answer(globex, start(globex), "Where is my new card today?",
                       intent="card_arrival", confidence=0.7)

    assert at_acme.reply_kind == Message.ReplyKind.TEMPLATE
    assert at_globex.reply_kind == Message.ReplyKind.FALLBACK


def test_invalid_settings_and_templates_are_refused(acme: TenantSetup) -> None:
    with tenant_context(acme.tenant.pk):
        with pytest.raises(services.BotError) as threshold:
            services.bot_settings_update(changes={"article_threshold": 1.5})
        with pytest.raises(services.BotError) as origin:
            services.bot_settings_update(changes={"widget_origins": ["shop.example.com/path"]})
        with pytest.raises(services.BotError) as template:
            services.intent_create(name="x", answer_template="Hi {first name}")
        assert services.bot_settings_get().article_threshold == 0.55
    assert "article_threshold" in threshold.value.fields
    assert "widget_origins" in origin.value.fields
    assert "answer_template" in template.value.fields


def test_nearest_articles_are_ranked_by_cosine_similarity_within_the_tenant(
        acme: TenantSetup, globex: TenantSetup) -> None:
    exact = add_article(acme, "Fees", "No fees.", 3)
    other = add_article(acme, "Cards", "Cards.", 7)
    add_article(globex, "Globex fees", "Globex secret answer.", 3)
    with tenant_context(acme.tenant.pk):
        services.article_create(question="Not embedded yet", answer="Pending.")
        found = selectors.articles_nearest(vector=unit_vector(3, lean=7, amount=0.5), limit=5)

    assert [row["id"] for row in found] == [exact.pk, other.pk]
    assert found[0]["similarity"] == pytest.approx(1 / (1.25 ** 0.5), abs=1e-4)
    assert found[1]["similarity"] == pytest.approx(0.5 / (1.25 ** 0.5), abs=1e-4)


def test_editing_an_article_makes_its_embedding_stale(acme: TenantSetup) -> None:
    article = add_article(acme, "Fees", "No fees.", 3)
    assert article.is_embedded
    with tenant_context(acme.tenant.pk):
        services.article_update(article=article, changes={"answer": "A small fee."})
        stale = services.articles_stale()
    assert [a.pk for a in stale] == [article.pk]


def test_a_handed_off_conversation_gets_no_bot_reply_and_agents_answer(
        acme: TenantSetup) -> None:
    conversation = start(acme)
    answer(acme, conversation, "gibberish question here now", confidence=0.1)
    with tenant_context(acme.tenant.pk):
        result = services.chat(conversation=Conversation.objects.get(pk=conversation.pk),
                               text="Hello? Anyone?")
        reply = services.agent_reply(conversation=conversation, text="Yes, I am here.",
                                     author_id=acme.owner.pk, save_as="utterance",
                                     intent_name="human_check")
        services.agent_reply(conversation=conversation, text="Our hotline is 0800 123.",
                             author_id=acme.owner.pk, save_as="article",
                             question="What is the hotline number?")
        services.conversation_resolve(conversation=conversation)
        conversation.refresh_from_db()
        utterance = Utterance.objects.get(intent__name="human_check")
        article = Article.objects.get(question="What is the hotline number?")
        with pytest.raises(services.BotError):
            services.agent_reply(conversation=conversation, text="late", author_id=None)
        roles = list(conversation.messages.values_list("role", flat=True))

    assert result.reply is None
    assert reply.role == Message.Role.AGENT
    assert reply.author_id == acme.owner.pk
    assert (utterance.text, utterance.source) == ("Hello? Anyone?", Utterance.Source.AGENT)
    assert (article.answer, article.tags) == ("Our hotline is 0800 123.", ["agent"])
    assert conversation.status == Conversation.Status.RESOLVED
    assert roles == ["user", "bot", "user", "agent", "agent"]


def test_feedback_rates_a_bot_reply_once_and_feeds_the_analytics(acme: TenantSetup) -> None:
    add_intent(acme, "card_arrival", "Cards arrive within 5 days.")
    first, second = start(acme), start(acme)
    reply = answer(acme, first, "Where is my card?", intent="card_arrival", confidence=0.9)
    answer(acme, second, "blah blah blah blah blah", intent="card_arrival", confidence=0.1)
    with tenant_context(acme.tenant.pk):
        services.feedback_create(conversation=first, message_id=reply.pk, rating="down")
        services.feedback_create(conversation=first, message_id=reply.pk, rating="up",
                                 comment="quick")
        services.feedback_create(conversation=second, rating="down")
        with pytest.raises(services.BotError):  # a customer message cannot be rated
            services.feedback_create(conversation=first, rating="up",
                                     message_id=first.messages.get(role="user").pk)
        stats = selectors.analytics(low_confidence_below=0.6)
        feedback_count = Feedback.objects.count()

    assert feedback_count == 2
    assert (stats.conversations, stats.handed_off) == (2, 1)
    assert stats.containment_rate == 0.5
    assert stats.handoff_rate == 0.5
    assert (stats.up, stats.down, stats.satisfaction) == (1, 1, 0.5)
    assert stats.top_intents == [("card_arrival", 1)]
    assert [m.text for m in stats.low_confidence] == ["blah blah blah blah blah"]
    assert stats.replies_by_kind == {"template": 1, "fallback": 1}
    assert stats.days[-1].conversations == 2
    assert stats.days[-1].handed_off == 1
    assert len(stats.days) == 30


def test_utterance_csv_import_is_all_or_nothing_and_creates_intents(acme: TenantSetup) -> None:
    from jobs.datasets import DatasetInvalid

    good = b"text,intent\nWhere is my card?,card_arrival\nWhat rate?,exchange_rate\n" \
           b"Where is my card?,card_arrival\n"
    bad = b"text,intent\nFine row,card_arrival\n,exchange_rate\n"
    with tenant_context(acme.tenant.pk):
        with pytest.raises(DatasetInvalid) as refused:
            services.utterances_import_csv(data=bad)
        assert not Intent.objects.exists()
        assert not Utterance.objects.exists()
        result = services.utterances_import_csv(data=good)
        names = sorted(Intent.objects.values_list("name", flat=True))
    [problem] = refused.value.problems
    assert (problem.row, problem.column) == (2, "text")
    assert (result.created, result.duplicates, result.intents_created) == (2, 1, 2)
    assert names == ["card_arrival", "exchange_rate"]


def test_nearest_articles_survive_a_shared_index_crowded_by_another_tenant(
        acme: TenantSetup, globex: TenantSetup) -> None:
    """The HNSW index on articles is shared by every tenant, and a scan yields a bounded
    number of candidates (``hnsw.ef_search``, 40) before the tenant filter: when another
    tenant's articles crowd the neighbourhood, the caller's own nearest articles still come
    back (else the bot would hand off a question it has an answer for)."""
    import numpy as np
    from django.db import connection

    from apps.support_bot.text import text_hash
    from tests.bot.conftest import EMBEDDING_DIMENSIONS

    near = add_article(acme, "Fees", "No fees.", 3)
    far = add_article(acme, "Cards", "Cards.", 7)
    rng = np.random.default_rng(0)
    with tenant_context(globex.tenant.pk):
        crowd = [services.article_create(question=f"Globex {n}", answer="Theirs.")
                 for n in range(300)]
        vectors = []
        for article in crowd:  # all nearer to the query than acme's nearest article is
            vector = np.zeros(EMBEDDING_DIMENSIONS)
            vector[3], vector[5] = 1.0, 0.2
            vector[10:14] = rng.random(4) * 0.05
            vectors.append((article.pk, text_hash(article.embedding_text),
                            list(vector / np.linalg.norm(vector))))
        services.article_embeddings_record(embeddings=vectors)
    query = unit_vector(5, lean=3, amount=3.0)
    with tenant_context(acme.tenant.pk), connection.cursor() as cursor:
        # Plans as on a large knowledge base: a table this small would be scanned exactly.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        found = selectors.articles_nearest(vector=query, limit=2)
        cursor.execute("SHOW hnsw.ef_search")
        assert cursor.fetchone()[0] == "40"  # the wider scan's setting does not outlive it

    assert [row["id"] for row in found] == [near.pk, far.pk]


@pytest.mark.parametrize("template", [
    "{intent:>999999999999999999999}", "{user.__class__}", "{user[0]}", "{intent!r}",
    "{0}", "{}", "unclosed {intent", "stray } brace",
])
def test_templates_allow_only_plain_name_substitution(template: str) -> None:
    with pytest.raises(ValueError, match="not a variable"):
        template_variables(template)


def test_template_rendering_is_plain_substitution_and_capped() -> None:
    assert render_template("Hi {user}, {{literal}} {unknown}", {"user": "Ann"}) == (
        "Hi Ann, {literal} {unknown}")
    # Format specs are never interpreted, even if one reached the renderer.
    assert render_template("{intent:>99999999999}", {"intent": "x"}) == "{intent:>99999999999}"
    assert len(render_template("{user}" * 10, {"user": "y" * 4000})) == MAX_RENDERED_CHARS


def test_an_answer_template_with_a_format_spec_is_refused_with_the_field(
    acme: TenantSetup
) -> None:
    response = acme.api().post("/api/v1/bot/intents", {
        "name": "greeting", "answer_template": "{intent:>999999999999999999999}"},
        format="json")
    assert response.status_code == 400
    assert "answer_template" in json.dumps(response.json())
