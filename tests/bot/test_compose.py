"""Composed answers (``apps.support_bot.compose``): the reply quotes the retrieved articles'
most relevant sentences and cites them, through the API, the widget and the conversation page;
end to end, the article job embeds the sentences with the real MiniLM and the worker's
analysis scores them in pgvector. Bad input: an empty knowledge base, a 20,000-character
question, an article whose sentences are not embedded yet, a link that is not http(s)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse

from apps.support_bot import selectors, services
from apps.support_bot.compose import Passage, compose
from apps.support_bot.models import Article, ArticleSentence, Conversation, Message
from apps.support_bot.text import sentences_split, text_hash
from tenancy.context import tenant_context
from tests.bot.conftest import start, unit_vector
from tests.conftest import TenantSetup

pytestmark = pytest.mark.django_db

BOT = "/api/v1/bot"


def _mix(*weights: tuple[int, float]) -> list[float]:
    """A unit vector with these weights on these axes."""
    vector = [0.0] * len(unit_vector(0))
    for axis, weight in weights:
        vector[axis] = weight
    norm = sum(v * v for v in vector) ** 0.5
    return [v / norm for v in vector]


def _article(setup: TenantSetup, question: str, sentences: list[tuple[str, int]], axis: int,
             url: str = "") -> Article:
    """An article embedded along ``axis`` whose answer's sentences lie along their axes."""
    with tenant_context(setup.tenant.pk):
        article = services.article_create(question=question, url=url,
                                          answer=" ".join(text for text, _ in sentences))
        assert sentences_split(article.answer) == [text for text, _ in sentences]
        services.article_embeddings_record(
            embeddings=[(article.pk, text_hash(article.embedding_text), unit_vector(axis))],
            sentences={article.pk: [(text, unit_vector(a)) for text, a in sentences]})
        return article


def _ask(setup: TenantSetup, conversation: Any, text: str, vector: list[float]) -> Message:
    """Answer ``text`` with the worker's reads for a message whose vector is ``vector``."""
    with tenant_context(setup.tenant.pk):
        articles = selectors.articles_nearest(vector=vector, limit=3)
        passages = selectors.sentences_scored(vector=vector,
                                              article_ids=[a["id"] for a in articles])
        message = services.message_receive(conversation=conversation, text=text)
        return services.message_answer(message=message, latency_ms=5, analysis=services.Analysis(
            intent="", confidence=None, articles=articles, passages=passages))


CARDS = [("New cards arrive within 5 working days.", 1),
         ("Our offices are closed on public holidays.", 2)]
FEES = [("Delivery is free of charge.", 11), ("Premium plans include metal cards.", 12)]
# Near both articles and their first sentences, far from the second ones.
QUESTION = _mix((0, 1.0), (1, 1.0), (10, 0.9), (11, 0.9))


def test_a_reply_is_composed_from_two_articles_and_cites_them(acme: TenantSetup) -> None:
    cards = _article(acme, "When does my card arrive?", CARDS, 0,
                     url="https://help.example.com/cards")
    fees = _article(acme, "Does delivery cost anything?", FEES, 10)
    with tenant_context(acme.tenant.pk):
        services.bot_settings_update(changes={"article_threshold": 0.3})
    conversation = start(acme)

    reply = _ask(acme, conversation, "When will my free card come?", QUESTION)

    assert reply.reply_kind == Message.ReplyKind.COMPOSED
    assert reply.composer == "extractive"
    # The relevant sentence of each, in the articles' order; the unrelated ones left out.
    assert reply.text == "New cards arrive within 5 working days. Delivery is free of charge."
    assert reply.citations == [
        {"id": cards.pk, "title": "When does my card arrive?",
         "url": "https://help.example.com/cards"},
        {"id": fees.pk, "title": "Does delivery cost anything?", "url": ""}]
    assert reply.article_id == cards.pk

    shown = acme.api().get(f"{BOT}/conversations/{conversation.pk}").json()["messages"][-1]
    assert shown["citations"] == reply.citations
    assert shown["reply_kind"] == "composed"
    page = acme.browser().get(reverse("bot:conversation", args=[conversation.pk]))
    assert page.status_code == 200
    assert b'href="https://help.example.com/cards"' in page.content
    assert b"Does delivery cost anything?" in page.content


def test_the_widget_shows_a_composed_replys_sources(acme: TenantSetup) -> None:
    from tests.bot.test_widget import SHOP, _start, widget

    _article(acme, "When does my card arrive?", CARDS, 0, url="https://help.example.com/c")
    with tenant_context(acme.tenant.pk):
        services.bot_settings_update(changes={"article_threshold": 0.3,
                                              "widget_origins": [SHOP]})
        key = services.bot_settings_get().widget_key
    started = _start(key)
    with tenant_context(acme.tenant.pk):
        conversation = Conversation.objects.get(pk=started["id"])
    _ask(acme, conversation, "When will my card come?", _mix((0, 1.0), (1, 1.0)))
    client = widget(key, HTTP_X_CONVERSATION_TOKEN=started["token"])
    shown = client.get(f"/api/v1/bot/widget/conversations/{started['id']}/messages").json()
    assert shown[-1]["citations"] == [{"title": "When does my card arrive?",
                                       "url": "https://help.example.com/c"}]


def test_an_empty_knowledge_base_hands_off_without_citations(acme: TenantSetup) -> None:
    conversation = start(acme)
    reply = _ask(acme, conversation, "Where is my card?", QUESTION)
    assert reply.reply_kind == Message.ReplyKind.FALLBACK
    assert reply.citations == []
    with tenant_context(acme.tenant.pk):
        assert selectors.sentences_scored(vector=QUESTION, article_ids=[]) == []


def test_an_article_without_embedded_sentences_is_answered_whole_and_is_stale(
        acme: TenantSetup) -> None:
    with tenant_context(acme.tenant.pk):
        article = services.article_create(question="When does my card arrive?",
                                          answer="In 5 days. Tracking is in the app.")
        # Embedded before sentences were stored: the article's vector only.
        services.article_embeddings_record(embeddings=[
            (article.pk, text_hash(article.embedding_text), unit_vector(0))])
        assert [a.pk for a in services.articles_stale()] == [article.pk]
    reply = _ask(acme, start(acme), "card?", unit_vector(0))
    assert reply.reply_kind == Message.ReplyKind.ARTICLE
    assert reply.text == article.answer


def test_a_long_question_and_a_bad_link_are_refused_naming_the_field(
        acme: TenantSetup) -> None:
    api = acme.api()
    conversation = api.post(f"{BOT}/conversations", {}, format="json").json()
    too_long = api.post(f"{BOT}/conversations/{conversation['id']}/messages",
                        {"text": "x" * 20_000}, format="json")
    assert too_long.status_code == 400
    assert "text" in too_long.json()["error"]["fields"]
    bad = api.post(f"{BOT}/articles", {"question": "Q?", "answer": "A.",
                                       "url": "javascript:alert(1)"}, format="json")
    assert bad.status_code == 400
    assert "url" in bad.json()["error"]["fields"]
    with tenant_context(acme.tenant.pk):
        assert not Article.objects.exists()


def test_compose_keeps_the_budget_and_drops_repeated_sentences() -> None:
    passages = [Passage(1, 0, "Cards arrive in five days.", 0.9),
                Passage(2, 0, "Cards arrive in five days!", 0.89),  # the same words
                Passage(2, 1, "x" * 590, 0.88),  # past the budget with the first
                Passage(2, 2, "Tracking is in the app.", 0.85)]
    quoted = compose(articles=[(1, 0.8), (2, 0.7)], passages=passages)
    assert [(q.article_id, q.text) for q in quoted] == [(1, "Cards arrive in five days."),
                                                       (2, "Tracking is in the app.")]
    assert compose(articles=[], passages=passages) == []


def test_sentences_are_split_bounded_and_keep_decimals() -> None:
    assert sentences_split("We charge 0.5% at weekends. E.g. on Sundays!\nSee the app") == [
        "We charge 0.5% at weekends.", "E.g. on Sundays!", "See the app"]
    many = sentences_split(" ".join(f"Sentence {i}." for i in range(100)))
    assert len(many) == 40
    assert len(sentences_split("y" * 5000)[0]) == 1000


@pytest.mark.slow
def test_the_article_job_embeds_sentences_and_the_analysis_composes(
        acme: TenantSetup, tmp_path: Path, settings: Any) -> None:
    """With the real MiniLM, in this process: two articles → the ``embed_articles`` job →
    the worker's analysis of a question → a reply quoting both, with citations."""
    pytest.importorskip("torch")
    from workers.execution import execute
    from workers.handlers import support_bot as handler

    settings.DEFAULT_MODELS_DIR = tmp_path / "no-defaults"
    with tenant_context(acme.tenant.pk):
        services.article_create(
            question="How long does card delivery take?", url="https://help.example.com/d",
            answer="Your new card arrives within five working days. "
                   "Our branches are closed on Sundays.")
        services.article_create(
            question="What does a replacement card cost?",
            answer="A replacement card costs 5 euros. We never charge for the first card.")
        services.bot_settings_update(changes={"article_threshold": 0.2})
        job = services.embedding_schedule()
        assert job is not None
    execute(job_id=job.pk, worker="test-worker")
    with tenant_context(acme.tenant.pk):
        assert ArticleSentence.objects.count() == 4
        assert services.articles_stale() == []
        conversation = services.conversation_start()
        found = handler.analyse("how many days until my new card arrives and what does it cost",
                                3)
        message = services.message_receive(conversation=conversation, text="card?")
        reply = services.message_answer(message=message, latency_ms=1,
                                        analysis=services.Analysis.from_worker(found))
    assert reply.reply_kind == Message.ReplyKind.COMPOSED
    assert "Your new card arrives within five working days." in reply.text
    assert "closed on Sundays" not in reply.text
    titles = [c["title"] for c in reply.citations]
    assert titles[0] == "How long does card delivery take?"
    assert reply.citations[0]["url"] == "https://help.example.com/d"


def test_another_tenants_sentences_and_citations_are_never_read(
        acme: TenantSetup, globex: TenantSetup) -> None:
    theirs = _article(globex, "When does my card arrive?", CARDS, 0,
                      url="https://globex.example.com/cards")
    with tenant_context(acme.tenant.pk):
        assert selectors.sentences_scored(vector=QUESTION, article_ids=[theirs.pk]) == []
        assert selectors.citations_of([theirs.pk]) == []
        assert ArticleSentence.objects.count() == 0
    # Acme's reply to the same question hands off: it has no articles of its own.
    reply = _ask(acme, start(acme), "When will my card come?", QUESTION)
    assert reply.reply_kind == Message.ReplyKind.FALLBACK
    assert "globex" not in str(acme.api().get(f"{BOT}/conversations/{reply.conversation_id}"
                                              ).json())
