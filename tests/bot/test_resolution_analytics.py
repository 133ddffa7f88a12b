"""Resolution analytics (``apps.support_bot.analytics``): seeded conversations with known
outcomes give exactly the hand-computed figures, the 24 h rule holds at its boundary, the
intent filter narrows every figure, and another tenant's conversations never count."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from apps.support_bot import analytics, services
from apps.support_bot.handoff import customer_handoff_request
from apps.support_bot.models import Conversation, Message
from tenancy.context import tenant_context
from tests.bot.conftest import add_intent, answer, start
from tests.conftest import TenantSetup

pytestmark = pytest.mark.django_db


def _at(setup: TenantSetup, conversation: Conversation, moment: datetime) -> None:
    """Move the conversation and all its messages and feedback to ``moment``."""
    with tenant_context(setup.tenant.pk):
        Conversation.objects.filter(pk=conversation.pk).update(created_at=moment)
        for offset, message in enumerate(Message.objects.filter(conversation=conversation)
                                         .order_by("id")):
            Message.objects.filter(pk=message.pk).update(
                created_at=moment + timedelta(seconds=offset))


def seed(setup: TenantSetup, now: datetime) -> dict[str, Conversation]:
    """Six conversations with known outcomes (two days, two intents)."""
    add_intent(setup, "card_arrival", "Cards arrive within 5 days.")
    add_intent(setup, "refund", "Refunds take 3 days.")
    day1 = now - timedelta(days=3)
    day2 = now - timedelta(days=2)
    made: dict[str, Conversation] = {}
    # a: answered, thumbs up -> confirmed, automated.
    made["a"] = start(setup, external_user_id="ann")
    reply = answer(setup, made["a"], "Where is my card?", intent="card_arrival", confidence=0.9)
    with tenant_context(setup.tenant.pk):
        services.feedback_create(conversation=made["a"], rating="up", message_id=reply.pk)
    _at(setup, made["a"], day1)
    # b: answered twice, nobody comes back -> assumed, automated.
    made["b"] = start(setup, external_user_id="bob")
    answer(setup, made["b"], "Where is my card?", intent="card_arrival", confidence=0.9)
    answer(setup, made["b"], "Thanks, and a refund?", intent="refund", confidence=0.9)
    _at(setup, made["b"], day1)
    # c: fallback -> handed off (low confidence), agent replies; not resolved.
    made["c"] = start(setup, external_user_id="cat")
    answer(setup, made["c"], "blah blah something", intent="refund", confidence=0.2)
    with tenant_context(setup.tenant.pk):
        services.agent_reply(conversation=made["c"], text="Hello", author_id=None)
    _at(setup, made["c"], day1)
    # d: answered, but the same user starts e 1 h later -> not assumed.
    made["d"] = start(setup, external_user_id="dan")
    answer(setup, made["d"], "My refund?", intent="refund", confidence=0.9)
    _at(setup, made["d"], day2)
    # e: answered, thumbs down -> neither resolved; satisfaction 1 of 2.
    made["e"] = start(setup, external_user_id="dan")
    reply = answer(setup, made["e"], "Refund again?", intent="refund", confidence=0.9)
    with tenant_context(setup.tenant.pk):
        services.feedback_create(conversation=made["e"], rating="down", message_id=reply.pk)
    _at(setup, made["e"], day2 + timedelta(hours=1))
    # f: customer asked for a person at once (no bot answer), on day 2.
    made["f"] = start(setup, external_user_id="fay")
    with tenant_context(setup.tenant.pk):
        services.message_receive(conversation=made["f"], text="agent please")
        customer_handoff_request(conversation=made["f"])
    _at(setup, made["f"], day2)
    # An empty conversation (no customer message) never counts.
    start(setup, external_user_id="ghost")
    return made


def report(setup: TenantSetup, **kwargs: object) -> analytics.ResolutionReport:
    with tenant_context(setup.tenant.pk):
        return analytics.resolution_report(**kwargs)  # type: ignore[arg-type]


def test_seeded_outcomes_give_the_hand_computed_figures(acme: TenantSetup,
                                                        globex: TenantSetup) -> None:
    now = timezone.now()
    seed(acme, now)
    seed(globex, now)  # another tenant's identical data: never counted
    found = report(acme, days=7, now=now)
    totals = found.totals
    assert totals.conversations == 6
    assert totals.involved == 6  # every one got a bot reply (f: the handoff notice)
    assert totals.customer_messages == 7  # b has two
    assert totals.answered == 5  # a, b x2, d, e (c fell back, f handed off)
    assert totals.confirmed == 1  # a
    assert totals.assumed == 1  # b (d came back, e disliked, c and f handed off)
    assert totals.automated == 2  # a and b
    assert totals.handed_off == 2
    assert (totals.thumbs_up, totals.thumbs_down) == (1, 1)
    assert totals.involvement == 1.0
    assert totals.answer_rate == pytest.approx(5 / 7)
    assert totals.confirmed_rate == pytest.approx(1 / 6)
    assert totals.assumed_rate == pytest.approx(1 / 6)
    assert totals.automation_rate == pytest.approx(2 / 6)
    assert totals.satisfaction == 0.5
    assert dict(found.handoff_reasons) == {"low_confidence": 1, "customer_request": 1}

    assert len(found.per_day) == 7
    days = {day: figures for day, figures in found.per_day if figures.conversations}
    first, second = (now - timedelta(days=3)).date(), (now - timedelta(days=2)).date()
    assert sorted(days) == [first, second]
    assert (days[first].conversations, days[first].confirmed, days[first].assumed) == (3, 1, 1)
    assert (days[second].conversations, days[second].answered, days[second].thumbs_down) == (
        3, 2, 1)

    intents = dict(found.per_intent)
    # A conversation's intent is its first analysed customer message's: b is card_arrival.
    assert intents["card_arrival"].conversations == 2
    assert intents["refund"].conversations == 3
    assert intents[""].conversations == 1  # f: never analysed
    assert intents["card_arrival"].automation_rate == 1.0


def test_intent_filter_narrows_every_figure(acme: TenantSetup) -> None:
    now = timezone.now()
    seed(acme, now)
    found = report(acme, days=7, intent="refund", now=now)
    assert found.totals.conversations == 3  # c, d, e
    assert found.totals.answered == 2
    assert found.totals.assumed == 0
    assert dict(found.handoff_reasons) == {"low_confidence": 1}
    assert [name for name, _ in found.per_intent] == ["refund"]


def test_assumed_resolution_waits_24_hours_and_for_no_return(acme: TenantSetup) -> None:
    now = timezone.now().replace(microsecond=0)
    add_intent(acme, "card_arrival", "Cards arrive within 5 days.")

    def conversation(user: str, at: datetime) -> Conversation:
        made = start(acme, external_user_id=user)
        answer(acme, made, "Where is my card?", intent="card_arrival", confidence=0.9)
        with tenant_context(acme.tenant.pk):
            # The reply a second after the message; the last customer message is at ``at``.
            Conversation.objects.filter(pk=made.pk).update(created_at=at)
            Message.objects.filter(conversation=made, role="user").update(created_at=at)
            Message.objects.filter(conversation=made, role="bot").update(
                created_at=at + timedelta(seconds=1))
        return made

    window = timedelta(hours=24)
    conversation("exactly", now - window)  # exactly 24 h: not yet (pending)
    conversation("past", now - window - timedelta(seconds=1))  # assumed
    conversation("back", now - timedelta(hours=60))
    conversation("back", now - timedelta(hours=36))  # 24 h after the first, inclusive: back
    conversation("late", now - timedelta(hours=70))
    conversation("late", now - timedelta(hours=46) + timedelta(seconds=1))  # 24h+1s: assumed
    found = report(acme, days=7, now=now).totals
    # assumed: past, the second "back", both "late"; pending: exactly.
    assert found.conversations == 6
    assert found.pending == 1
    assert found.assumed == 4


def test_bad_range_is_refused() -> None:
    with pytest.raises(ValueError, match="days"):
        analytics.resolution_report(days=0)
    with pytest.raises(ValueError, match="days"):
        analytics.resolution_report(days=91)


# --- The API and the page ----------------------------------------------------------------------

API = "/api/v1/bot/analytics/resolution"


def test_api_gives_the_figures_of_its_own_tenant_only(acme: TenantSetup,
                                                      globex: TenantSetup) -> None:
    now = timezone.now()
    seed(acme, now)
    globex_made = seed(globex, now)
    with tenant_context(globex.tenant.pk):  # one more: globex's figures differ from acme's
        answer(globex, start(globex, external_user_id="zed"), "Where is my card?",
               intent="card_arrival", confidence=0.9)
        before = (Conversation.objects.count(), Message.objects.count())

    mine = acme.api().get(API, {"days": 7}).json()
    theirs = globex.api().get(API, {"days": 7}).json()
    refund = acme.api().get(API, {"days": 7, "intent": "refund"}).json()

    assert mine["totals"]["conversations"] == 6
    assert mine["totals"]["answer_rate"] == pytest.approx(5 / 7)
    assert mine["totals"]["automation_rate"] == pytest.approx(2 / 6)
    assert mine["totals"]["satisfaction"] == 0.5
    assert len(mine["per_day"]) == 7
    assert {row["reason"]: row["conversations"] for row in mine["handoff_reasons"]} == {
        "low_confidence": 1, "customer_request": 1}
    assert theirs["totals"]["conversations"] == 7
    assert refund["totals"]["conversations"] == 3
    assert [row["intent"] for row in refund["per_intent"]] == ["refund"]
    # Reading changes nothing, and another tenant cannot write or delete here.
    assert acme.api().post(API, {"days": 7}).status_code == 405
    assert acme.api().delete(API).status_code == 405
    with tenant_context(globex.tenant.pk):
        assert (Conversation.objects.count(), Message.objects.count()) == before
        assert Conversation.objects.filter(pk=globex_made["a"].pk).exists()


@pytest.mark.parametrize(("params", "field"), [
    ({"days": 0}, "days"), ({"days": 1000}, "days"), ({"days": "week"}, "days"),
    ({"intent": "no_such_intent"}, "intent"),
])
def test_api_refuses_bad_input_naming_the_field(acme: TenantSetup, globex: TenantSetup,
                                                params: dict[str, object], field: str) -> None:
    from tests.conftest import error_of

    add_intent(globex, "no_such_intent")  # another tenant's intent is unknown here too
    response = acme.api().get(API, params)
    assert response.status_code == 400
    assert field in error_of(response)["error"]["fields"]


def test_page_shows_figures_chart_intents_and_reasons(acme: TenantSetup,
                                                      globex: TenantSetup) -> None:
    from django.urls import reverse

    now = timezone.now()
    seed(acme, now)
    seed(globex, now)
    browser = acme.browser()
    page = browser.get(reverse("bot:resolution"), {"days": 7})
    html = page.content.decode()
    assert page.status_code == 200
    assert 'data-testid="stat-conversations">6<' in html
    assert 'data-testid="resolution-chart"' in html
    assert html.count('class="axis" x=') >= 7  # dated ticks under the bars
    assert "<code>card_arrival</code>" in html
    assert "The customer asked for a person" in html
    filtered = browser.get(reverse("bot:resolution"), {"days": 7, "intent": "refund"})
    assert 'data-testid="stat-conversations">3<' in filtered.content.decode()
    assert browser.get(reverse("bot:resolution"), {"days": 1000}).status_code == 400
    assert browser.get(reverse("bot:resolution"), {"intent": "nope"}).status_code == 400
    # Another tenant's member sees their own figures on the same URL, never acme's.
    with tenant_context(globex.tenant.pk):
        Conversation.objects.all().delete()
    theirs = globex.browser().get(reverse("bot:resolution"), {"days": 7}).content.decode()
    assert 'data-testid="stat-conversations">0<' in theirs


def test_handoffs_keep_their_reason_and_older_ones_get_it_from_their_reply(
        acme: TenantSetup) -> None:
    import importlib

    from django.apps import apps as django_apps

    add_intent(acme, "lost_card", handoff=True)
    made = {name: start(acme) for name in ("intent", "fallback", "scope", "asked", "api")}
    answer(acme, made["intent"], "I lost my card", intent="lost_card", confidence=0.9)
    answer(acme, made["fallback"], "hmm what", intent="lost_card", confidence=0.1)
    answer(acme, made["scope"], "the weather?", intent="out_of_scope", confidence=0.9)
    with tenant_context(acme.tenant.pk):
        services.message_receive(conversation=made["asked"], text="agent please")
        customer_handoff_request(conversation=made["asked"])
        services.message_receive(conversation=made["api"], text="hello")
        services.conversation_handoff(conversation=made["api"])
        stored = dict(Conversation.objects.values_list("pk", "handoff_reason"))
        Conversation.objects.update(handoff_reason="")  # as before the migration
    expected = {made["intent"].pk: "intent:lost_card", made["fallback"].pk: "low_confidence",
                made["scope"].pk: "out_of_scope", made["asked"].pk: "customer_request",
                made["api"].pk: "requested"}
    assert stored == expected

    migration = importlib.import_module(
        "apps.support_bot.migrations.0007_conversation_handoff_reason")
    migration.reasons_from_replies(django_apps, None)
    with tenant_context(acme.tenant.pk):
        assert dict(Conversation.objects.values_list("pk", "handoff_reason")) == expected
        found = analytics.resolution_report(days=1)
    assert dict(found.handoff_reasons) == {"intent": 1, "low_confidence": 1, "out_of_scope": 1,
                                           "customer_request": 1, "requested": 1}


def test_days_are_the_viewers_days(acme: TenantSetup) -> None:
    import zoneinfo

    add_intent(acme, "card_arrival", "Cards arrive within 5 days.")
    made = start(acme)
    answer(acme, made, "Where is my card?", intent="card_arrival", confidence=0.9)
    evening = (timezone.now() - timedelta(days=2)).replace(hour=20, minute=0, second=0,
                                                           microsecond=0)
    _at(acme, made, evening)  # 20:00 UTC is 04:00 the next day in Shanghai
    with timezone.override(zoneinfo.ZoneInfo("Asia/Shanghai")):
        shanghai = [day for day, figures in report(acme, days=7).per_day
                    if figures.conversations]
    utc = [day for day, figures in report(acme, days=7).per_day if figures.conversations]
    assert utc == [evening.date()]
    assert shanghai == [evening.date() + timedelta(days=1)]
