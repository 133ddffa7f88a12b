"""The improvement loop: the "needs review" queue holds handed-off, 👎 and low-confidence
customer messages and not answered ones; one click labels a message (a training utterance)
or turns the agent's reply into an article, and the message leaves the queue; containment
before and after the promoted version, checked by hand; bad input; and every endpoint and
page against another tenant (404, nothing changes)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.support_bot import review, services
from apps.support_bot.models import (
    Article,
    ContentGap,
    Conversation,
    Message,
    ReviewItem,
    Utterance,
)
from jobs.models import Job, ModelVersion
from tenancy.context import tenant_context
from tenancy.models import Role
from tests.bot.conftest import add_article, add_intent, answer, start
from tests.conftest import TenantSetup

pytestmark = pytest.mark.django_db

BOT = "/api/v1/bot"


def _queue(setup: TenantSetup) -> dict[str, list[str]]:
    with tenant_context(setup.tenant.pk):
        return {m.text: review.review_reasons(m) for m in review.review_queue()}


def _seed(setup: TenantSetup) -> dict[str, Message]:
    """One message of each kind, each in a conversation of its own."""
    add_intent(setup, "card_arrival", "Cards arrive within 5 days.")
    article = add_article(setup, "What are the fees?", "There are none.", 2)
    sent: dict[str, Message] = {}

    def say(key: str, text: str, **analysis: Any) -> Message:
        conversation = start(setup)
        reply = answer(setup, conversation, text, **analysis)
        with tenant_context(setup.tenant.pk):
            sent[key] = Message.objects.filter(conversation=conversation,
                                               role=Message.Role.USER).get()
        return reply

    say("handed_off", "my parcel vanished into thin air", confidence=0.1)
    disliked = say("disliked", "when does my card come", intent="card_arrival", confidence=0.9)
    say("unsure", "any charges for this?", intent="card_arrival", confidence=0.3,
        articles=[{"id": article.pk, "similarity": 0.9}])
    say("answered", "where is my new card", intent="card_arrival", confidence=0.95)
    liked = say("liked", "card arrival time", intent="card_arrival", confidence=0.9)
    with tenant_context(setup.tenant.pk):
        services.feedback_create(conversation=disliked.conversation, rating="down",
                                 message_id=disliked.pk)
        services.feedback_create(conversation=liked.conversation, rating="up",
                                 message_id=liked.pk)
        services.agent_reply(conversation=sent["handed_off"].conversation,
                             text="I have sent you a new parcel today.",
                             author_id=setup.owner.pk)
    return sent


def test_the_queue_holds_handed_off_disliked_and_unsure_messages_only(
        acme: TenantSetup) -> None:
    _seed(acme)
    assert _queue(acme) == {
        "my parcel vanished into thin air": ["handed_off", "low_confidence"],
        "when does my card come": ["thumbs_down"],
        "any charges for this?": ["low_confidence"],
    }
    listed = acme.api().get(f"{BOT}/review").json()["results"]
    assert [row["text"] for row in listed] == [
        "any charges for this?", "when does my card come", "my parcel vanished into thin air"]
    assert listed[2]["agent_reply"] == "I have sent you a new parcel today."
    assert listed[1]["agent_reply"] is None


def test_one_click_makes_an_utterance_and_an_article_and_empties_the_queue(
        acme: TenantSetup) -> None:
    sent = _seed(acme)
    api = acme.api()
    labelled = api.post(f"{BOT}/review/{sent['disliked'].pk}/label", {"intent": "card_arrival"},
                        format="json")
    turned = api.post(f"{BOT}/review/{sent['handed_off'].pk}/article", {}, format="json")
    dismissed = api.post(f"{BOT}/review/{sent['unsure'].pk}/dismiss")

    assert (labelled.status_code, turned.status_code, dismissed.status_code) == (201, 201, 201)
    assert labelled.json()["state"] == "labelled"
    assert turned.json()["state"] == "article"
    assert _queue(acme) == {}
    with tenant_context(acme.tenant.pk):
        utterance = Utterance.objects.get(pk=labelled.json()["utterance"])
        assert (utterance.intent.name, utterance.text) == ("card_arrival",
                                                           "when does my card come")
        article = Article.objects.get(pk=turned.json()["article"])
        assert (article.question, article.answer, article.tags) == (
            "my parcel vanished into thin air", "I have sent you a new parcel today.", ["agent"])
        assert ReviewItem.objects.count() == 3
    # Reviewed: no longer in the queue, so a second click is not found and stores nothing.
    again = api.post(f"{BOT}/review/{sent['disliked'].pk}/label", {"intent": "card_arrival"},
                     format="json")
    assert again.status_code == 404
    with tenant_context(acme.tenant.pk):
        assert Utterance.objects.count() == 1


def test_bad_input_names_the_field_and_changes_nothing(acme: TenantSetup) -> None:
    sent = _seed(acme)
    api = acme.api()
    unknown = api.post(f"{BOT}/review/{sent['disliked'].pk}/label", {"intent": "no_such"},
                       format="json")
    missing = api.post(f"{BOT}/review/{sent['disliked'].pk}/label", {}, format="json")
    no_agent = api.post(f"{BOT}/review/{sent['unsure'].pk}/article", {}, format="json")
    bad_days = api.get(f"{BOT}/review/containment", {"days": 0})
    bad_gaps = api.post(f"{BOT}/content-gaps", {"similarity": 2}, format="json")

    assert unknown.status_code == 400
    assert "intent" in unknown.json()["error"]["fields"]
    assert missing.status_code == 400
    assert "intent" in missing.json()["error"]["fields"]
    assert no_agent.status_code == 400
    assert "answer" in no_agent.json()["error"]["fields"]
    assert bad_days.status_code == 400
    assert "days" in bad_days.json()["error"]["fields"]
    assert bad_gaps.status_code == 400
    assert "similarity" in bad_gaps.json()["error"]["fields"]
    assert len(_queue(acme)) == 3
    with tenant_context(acme.tenant.pk):
        assert not Utterance.objects.exists()
        assert not ReviewItem.objects.exists()
        assert not Job.objects.filter(kind="content_gaps").exists()


def _conversation_at(setup: TenantSetup, when: Any, *, handed_off: bool) -> None:
    conversation = start(setup)
    if handed_off:
        answer(setup, conversation, "something nobody knows", confidence=0.1)
    else:
        answer(setup, conversation, "when will my card arrive", intent="card_arrival",
               confidence=0.9)
    with tenant_context(setup.tenant.pk):
        Conversation.objects.filter(pk=conversation.pk).update(created_at=when)


def test_containment_before_and_after_the_promoted_version(acme: TenantSetup) -> None:
    add_intent(acme, "card_arrival", "Soon.")
    promoted = timezone.now() - timedelta(days=5)
    with tenant_context(acme.tenant.pk):
        version = ModelVersion.objects.create(
            app="support_bot", version=3, base_model="tiny", status=ModelVersion.Status.ACTIVE,
            activated_at=promoted, artifact="models/v3.zip")
    # Before (14 days): 4 conversations, 3 handed off -> 25 %. After: 4, 1 handed off -> 75 %.
    for days, handed_off in ((1, True), (2, True), (10, True), (13, False)):
        _conversation_at(acme, promoted - timedelta(days=days), handed_off=handed_off)
    for days, handed_off in ((1, False), (2, False), (3, True), (4, False)):
        _conversation_at(acme, promoted + timedelta(days=days, hours=-12),
                         handed_off=handed_off)
    _conversation_at(acme, promoted - timedelta(days=20), handed_off=True)  # outside
    start(acme)  # no customer message: not a conversation the bot had

    with tenant_context(acme.tenant.pk):
        effect = review.loop_effect(days=14)
    assert effect.before is not None
    assert effect.after is not None
    assert (effect.before.conversations, effect.before.handed_off) == (4, 3)
    assert (effect.after.conversations, effect.after.handed_off) == (4, 1)
    assert effect.change == pytest.approx(0.5)
    body = acme.api().get(f"{BOT}/review/containment").json()
    assert (body["version"], body["version_number"]) == (version.pk, 3)
    assert (body["before"]["rate"], body["after"]["rate"]) == (0.25, 0.75)
    page = acme.browser().get(reverse("bot:review")).content.decode()
    assert 'data-testid="containment-before">25 %' in page
    assert 'data-testid="containment-after">75 %' in page


def test_the_pages_act_in_one_click(acme: TenantSetup) -> None:
    sent = _seed(acme)
    browser = acme.browser()
    page = browser.get(reverse("bot:review"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "my parcel vanished into thin air" in html
    assert "where is my new card" not in html
    assert html.count('data-testid="to-article"') == 1
    assert 'action="/bot/intents/train/"' in html  # retrain: the gated fine-tune

    assert browser.post(reverse("bot:review_label", args=[sent["disliked"].pk]),
                        {"intent": "card_arrival"}).status_code == 302
    assert browser.post(reverse("bot:review_article",
                                args=[sent["handed_off"].pk])).status_code == 302
    assert browser.post(reverse("bot:review_dismiss", args=[sent["unsure"].pk])).status_code == 302
    assert _queue(acme) == {}
    assert "Nothing needs review." in browser.get(reverse("bot:review")).content.decode()
    assert browser.get(reverse("bot:content_gaps")).status_code == 200


def test_another_tenants_queue_and_reports_are_not_found(acme: TenantSetup,
                                                         globex: TenantSetup) -> None:
    sent = _seed(acme)
    with tenant_context(acme.tenant.pk):
        job = Job.objects.create(app="support_bot", kind="content_gaps",
                                 status=Job.Status.SUCCEEDED)
        ContentGap.objects.create(job=job, rank=1, size=2, label="acme's secret question",
                                  examples=["acme's secret question"])
    add_intent(globex, "card_arrival")
    api, browser = globex.api(), globex.browser()
    message = sent["disliked"].pk

    assert api.get(f"{BOT}/review").json()["results"] == []
    assert api.get(f"{BOT}/review/{message}").status_code in (404, 405)
    assert api.post(f"{BOT}/review/{message}/label", {"intent": "card_arrival"},
                    format="json").status_code == 404
    assert api.post(f"{BOT}/review/{sent['handed_off'].pk}/article", {},
                    format="json").status_code == 404
    assert api.post(f"{BOT}/review/{message}/dismiss").status_code == 404
    assert api.get(f"{BOT}/content-gaps").json() == {"job": None, "status": None,
                                                     "clusters": []}
    assert api.get(f"{BOT}/review/containment").json()["version"] is None
    assert browser.post(reverse("bot:review_label", args=[message]),
                        {"intent": "card_arrival"}).status_code == 404
    assert browser.post(reverse("bot:review_article",
                                args=[sent["handed_off"].pk])).status_code == 404
    assert browser.post(reverse("bot:review_dismiss", args=[message])).status_code == 404
    assert "my parcel vanished" not in browser.get(reverse("bot:review")).content.decode()
    assert "acme&#x27;s secret" not in browser.get(reverse("bot:content_gaps")).content.decode()

    assert len(_queue(acme)) == 3
    with tenant_context(acme.tenant.pk):
        assert not ReviewItem.objects.exists()
        assert not Utterance.objects.exists()
        assert Article.objects.count() == 1
    with tenant_context(globex.tenant.pk):
        assert not ReviewItem.objects.exists()
        assert not Utterance.objects.exists()


def test_viewers_read_the_queue_but_cannot_act(acme: TenantSetup) -> None:
    sent = _seed(acme)
    viewer = acme.add_member(Role.VIEWER)
    browser = Client()
    browser.force_login(viewer.user)
    assert browser.get(reverse("bot:review")).status_code == 200
    assert browser.post(reverse("bot:review_dismiss",
                                args=[sent["unsure"].pk])).status_code == 403
    assert len(_queue(acme)) == 3
