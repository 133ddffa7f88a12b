"""Out-of-scope handling, ambiguity and linked articles (issue 15, items 4 and 10), through the
services and pages with the analysis given (no model): an applied scope threshold hands off a
message below it whatever its confidence; two close intents make the customer choose; an
intent without a template answers with its linked article; the intents page flags an intent
with neither; the settings page shows a version's recommendation and applies it in one click
(admins only; another tenant's version is a 404 and changes nothing)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from apps.support_bot import services
from apps.support_bot.models import BotSettings, Conversation, Message
from jobs.models import Job, ModelVersion
from jobs.services import model_version_create
from tenancy.context import tenant_context
from tenancy.models import Role
from tests.bot.conftest import add_article, add_intent, start
from tests.conftest import TenantSetup

pytestmark = pytest.mark.django_db

RECOMMENDATION = {
    "threshold": 0.5123, "target_false_handoff": 0.03, "false_handoff": 0.03,
    "oos_precision": 0.91, "oos_recall": 0.87, "answered_accuracy": 0.95,
    "score": "centroid similarity", "method": "threshold", "rejection_weight": 0.0,
    "curve": [{"threshold": 0.0, "coverage": 1.0, "accuracy": 0.93, "oos_recall": 0.0},
              {"threshold": 0.5123, "coverage": 0.97, "accuracy": 0.95, "oos_recall": 0.87}],
}


def _version(setup: TenantSetup, metrics: dict[str, Any] | None = None) -> ModelVersion:
    with tenant_context(setup.tenant.pk):
        job = Job.objects.create(app="support_bot", kind="fine_tune", status="succeeded")
        return model_version_create(
            job=job, label_map=["card_arrival", "lost_card"], artifact_name="artifact.zip",
            artifact=b"zip", base_model="all-MiniLM-L6-v2", method="head",
            metrics=metrics if metrics is not None else {
                "accuracy": 0.9, "macro_f1": 0.9, "out_of_scope": RECOMMENDATION})


def _answer(setup: TenantSetup, conversation: Conversation, text: str, **analysis: Any
            ) -> Message:
    with tenant_context(setup.tenant.pk):
        message = services.message_receive(conversation=conversation, text=text)
        return services.message_answer(
            message=message, latency_ms=5,
            analysis=services.Analysis(**{"intent": "", "confidence": None, "articles": [],
                                          **analysis}))


def _settings(setup: TenantSetup, **changes: Any) -> BotSettings:
    with tenant_context(setup.tenant.pk):
        return services.bot_settings_update(changes=changes)


def test_an_applied_scope_threshold_hands_off_a_confident_out_of_scope_message(
        acme: TenantSetup) -> None:
    add_intent(acme, "card_arrival", "Your card arrives in 5 days.")
    _settings(acme, scope_threshold=0.5, ambiguity_margin=0.0)
    conversation = start(acme)

    inside = _answer(acme, conversation, "when does my card come", intent="card_arrival",
                     confidence=0.998, scope_score=0.71)
    outside = _answer(acme, conversation, "what is the weather like in Paris tomorrow",
                      intent="card_arrival", confidence=0.998, scope_score=0.21)

    assert inside.reply_kind == Message.ReplyKind.TEMPLATE
    assert outside.reply_kind == Message.ReplyKind.FALLBACK
    assert outside.scope_score == pytest.approx(0.21)
    with tenant_context(acme.tenant.pk):
        conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.HANDED_OFF


def test_without_an_applied_threshold_the_confidence_decides(acme: TenantSetup) -> None:
    add_intent(acme, "card_arrival", "Your card arrives in 5 days.")
    _settings(acme, ambiguity_margin=0.0)
    reply = _answer(acme, start(acme), "what is the weather like in Paris tomorrow",
                    intent="card_arrival", confidence=0.9, scope_score=0.1)
    assert reply.reply_kind == Message.ReplyKind.TEMPLATE


def test_two_close_intents_make_the_customer_choose_then_the_choice_answers(
        acme: TenantSetup) -> None:
    add_intent(acme, "card_arrival", "Your card arrives in 5 days.")
    with tenant_context(acme.tenant.pk):
        services.intent_create(name="card_linking", description="Link a card you have",
                               answer_template="Open Cards > Add existing card.")
    _settings(acme, scope_threshold=0.5)  # in scope, but which intent?
    conversation = start(acme)

    asked = _answer(acme, conversation, "I have a question about my card",
                    intent="card_arrival", confidence=0.46, runner_up="card_linking",
                    runner_up_confidence=0.41, scope_score=0.8)
    assert asked.reply_kind == Message.ReplyKind.CHOICE
    assert asked.choices == ["card_arrival", "card_linking"]
    assert "card arrival" in asked.text
    assert "Link a card you have" in asked.text
    with tenant_context(acme.tenant.pk):
        conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.OPEN
    assert conversation.last_intent == ""

    # "2" picks the second, whatever the model makes of the word.
    chosen = _answer(acme, conversation, "2", intent="card_arrival", confidence=0.3)
    assert chosen.reply_kind == Message.ReplyKind.TEMPLATE
    assert chosen.text == "Open Cards > Add existing card."
    assert chosen.intent == "card_linking"


def test_a_clear_winner_is_answered_without_a_choice(acme: TenantSetup) -> None:
    add_intent(acme, "card_arrival", "Your card arrives in 5 days.")
    reply = _answer(acme, start(acme), "when does my card come", intent="card_arrival",
                    confidence=0.8, runner_up="card_linking", runner_up_confidence=0.1)
    assert reply.reply_kind == Message.ReplyKind.TEMPLATE


def test_an_intent_without_a_template_answers_with_its_linked_article(
        acme: TenantSetup) -> None:
    article = add_article(acme, "Where is my card?", "Cards arrive within 5 working days.", 3)
    with tenant_context(acme.tenant.pk):
        services.intent_create(name="card_arrival", article=article.pk)
    # Retrieval found nothing close: before the link, this was a handoff at 0.998.
    reply = _answer(acme, start(acme), "my card has not come yet", intent="card_arrival",
                    confidence=0.998, articles=[{"id": article.pk, "similarity": 0.2}])
    assert reply.reply_kind == Message.ReplyKind.ARTICLE
    assert reply.text == "Cards arrive within 5 working days."
    assert reply.article_id == article.pk


def test_the_intents_page_flags_an_intent_with_neither_template_nor_article(
        acme: TenantSetup) -> None:
    article = add_article(acme, "Where is my card?", "Cards arrive within 5 days.", 3)
    add_intent(acme, "exchange_rate", "We use the interbank rate.")
    add_intent(acme, "lost_card")  # neither: the bot can only hand it off
    with tenant_context(acme.tenant.pk):
        services.intent_create(name="card_arrival", article=article)
        services.intent_create(name="out_of_scope")  # examples, not an intent to answer

    page = acme.browser().get(reverse("bot:intents")).content.decode()

    assert page.count('data-testid="no-answer"') == 1
    lost_row = page[page.index("<code>lost_card</code>"):]
    assert lost_row.index('data-testid="no-answer"') < lost_row.index("</tr>")
    assert 'data-testid="linked-article"' in page
    assert 'data-testid="unanswerable-warning"' in page


def test_an_intent_links_only_its_own_tenants_article(acme: TenantSetup,
                                                      globex: TenantSetup) -> None:
    theirs = add_article(globex, "Globex question", "Globex answer", 1)
    intent = add_intent(acme, "card_arrival")
    response = acme.api().patch(f"/api/v1/bot/intents/{intent.pk}", {"article": theirs.pk},
                                format="json")
    assert response.status_code == 400
    assert "article" in response.json()["error"]["fields"]
    with tenant_context(acme.tenant.pk):
        intent.refresh_from_db()
        assert intent.article_id is None


def test_settings_refuse_thresholds_outside_0_1(acme: TenantSetup) -> None:
    api = acme.api()
    for field, value in (("scope_threshold", 1.5), ("scope_threshold", -0.1),
                         ("ambiguity_margin", 2), ("target_false_handoff", 0)):
        response = api.patch("/api/v1/bot/settings", {field: value}, format="json")
        assert response.status_code == 400, (field, value)
        assert field in response.json()["error"]["fields"]
    page = acme.browser().post(reverse("bot:settings"), {
        "intent_threshold": 0.6, "article_threshold": 0.5, "followup_max_words": 4,
        "fallback_message": "Bye", "target_false_handoff": 0.03, "scope_threshold": 1.7,
        "ambiguity_margin": 0.1})
    assert page.status_code == 400
    with tenant_context(acme.tenant.pk):
        assert services.bot_settings_get().scope_threshold is None
    with tenant_context(acme.tenant.pk), pytest.raises(services.BotError) as refused:
        services.bot_settings_update(changes={"scope_threshold": 3.0})
    assert "scope_threshold" in refused.value.fields


def test_the_settings_page_shows_the_recommendation_and_applies_it_in_one_click(
        acme: TenantSetup) -> None:
    version = _version(acme)
    browser = acme.browser()

    page = browser.get(reverse("bot:settings")).content.decode()
    assert 'data-testid="recommended-threshold">0.5123<' in page
    assert 'data-testid="oos-recall">0.87<' in page
    assert 'data-testid="coverage-curve"' in page
    assert reverse("bot:scope_apply", args=[version.pk]) in page

    response = browser.post(reverse("bot:scope_apply", args=[version.pk]))

    assert response.status_code == 302
    with tenant_context(acme.tenant.pk):
        config = services.bot_settings_get()
    assert config.scope_threshold == pytest.approx(0.5123)
    assert config.scope_threshold_version == version.version
    page = browser.get(reverse("bot:settings")).content.decode()
    assert 'data-testid="applied-threshold">0.5123<' in page
    assert 'data-testid="apply-threshold"' not in page  # already applied


def test_a_version_without_a_recommendation_cannot_be_applied(acme: TenantSetup) -> None:
    version = _version(acme, metrics={"accuracy": 0.9})
    response = acme.browser().post(reverse("bot:scope_apply", args=[version.pk]))
    assert response.status_code == 302
    with tenant_context(acme.tenant.pk):
        assert services.bot_settings_get().scope_threshold is None


def test_only_admins_apply_a_threshold(acme: TenantSetup) -> None:
    version = _version(acme)
    member = acme.add_member(Role.MEMBER)
    browser = Client()
    browser.force_login(member.user)
    assert browser.post(reverse("bot:scope_apply", args=[version.pk])).status_code == 403
    with tenant_context(acme.tenant.pk):
        assert services.bot_settings_get().scope_threshold is None


def test_another_tenants_version_is_a_404_and_changes_nothing(acme: TenantSetup,
                                                            globex: TenantSetup) -> None:
    theirs = _version(globex)
    response = acme.browser().post(reverse("bot:scope_apply", args=[theirs.pk]))
    assert response.status_code == 404
    for setup in (acme, globex):
        with tenant_context(setup.tenant.pk):
            assert services.bot_settings_get().scope_threshold is None
    page = acme.browser().get(reverse("bot:settings")).content.decode()
    assert "0.5123" not in page
    # Their version cannot be deleted or read through this page either.
    assert acme.browser().get(reverse("bot:scope_apply", args=[theirs.pk])).status_code == 405
    with tenant_context(globex.tenant.pk):
        assert ModelVersion.objects.filter(pk=theirs.pk).exists()
