"""The overview page as the workspace's home: each application's live figures, and its
getting-started checklist ticked from the tenant's own data, never another tenant's."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.finance_sentiment.models import WatchlistEntry
from apps.recommendation.models import Impression, Item
from apps.support_bot import services as bot_services
from apps.support_bot.models import Conversation, Message
from jobs.models import ModelVersion
from tenancy.context import tenant_context
from tests.conftest import TenantSetup

pytestmark = pytest.mark.django_db

UTTERANCES = (b"text,intent\nwhere is my card,card_arrival\ncard not here yet,card_arrival\n"
              b"I lost my card,lost_card\nmy card is gone,lost_card\n")


def _home(client: Client) -> str:
    response = client.get(reverse("dashboard:home"))
    assert response.status_code == 200
    return response.content.decode()


def _step(page: str, app: str, key: str) -> str:
    found = re.search(rf'data-testid="step-{app}-{key}" data-done="(\w+)"', page)
    assert found, f"no step {app}/{key}"
    return found.group(1)


def _figure(page: str, app: str, key: str) -> str:
    found = re.search(rf'data-testid="figure-{app}-{key}">([^<]*)<', page)
    assert found, f"no figure {app}/{key}"
    return found.group(1)


def _bot_set_up(setup: TenantSetup) -> None:
    """Every step of the bot's checklist done, from real rows."""
    with tenant_context(setup.tenant.pk):
        bot_services.utterances_import_csv(data=UTTERANCES)
        ModelVersion.objects.create(app="support_bot", version=1, base_model="tiny",
                                    method="head", status=ModelVersion.Status.ACTIVE,
                                    label_map=["card_arrival", "lost_card"],
                                    artifact="models/x.zip")
        for channel, handed_off in ((Conversation.Channel.DASHBOARD, None),
                                    (Conversation.Channel.API, timezone.now()),
                                    (Conversation.Channel.API, None),
                                    (Conversation.Channel.WIDGET, None)):
            conversation = Conversation.objects.create(channel=channel, handed_off_at=handed_off)
            Message.objects.create(conversation=conversation, role=Message.Role.USER, text="hi")


def test_an_empty_workspace_gets_a_checklist_per_application_and_nothing_is_soon(
        acme: TenantSetup) -> None:
    page = _home(acme.browser())

    assert "Soon" not in page
    for app in ("support_bot", "finance_sentiment", "recommendation"):
        assert f'data-testid="checklist-{app}"' in page
        for key in ("load", "train", "try", "integrate"):
            assert _step(page, app, key) == "false"
    assert _figure(page, "support_bot", "conversations") == "0"
    assert _figure(page, "support_bot", "containment") == "—"
    assert _figure(page, "finance_sentiment", "tickers") == "0"
    assert _figure(page, "finance_sentiment", "open_alerts") == "0"
    assert _figure(page, "recommendation", "served_lists") == "0"
    assert _figure(page, "recommendation", "ctr") == "—"
    # The integrate step shows the API call with this site's address.
    assert "http://testserver/api/v1/bot/conversations" in page
    for url in (reverse("bot:overview"), reverse("finance:overview"), reverse("recs:overview")):
        assert f'href="{url}"' in page


def test_steps_tick_from_the_tenants_data_and_the_checklist_goes_when_all_are_done(
        acme: TenantSetup) -> None:
    client = acme.browser()
    with tenant_context(acme.tenant.pk):
        bot_services.utterances_import_csv(data=UTTERANCES)
    page = _home(client)
    assert _step(page, "support_bot", "load") == "true"
    assert _step(page, "support_bot", "train") == "false"
    assert "1 of 4 steps done" in page

    _bot_set_up(acme)
    page = _home(client)

    assert 'data-testid="checklist-support_bot"' not in page
    assert _figure(page, "support_bot", "conversations") == "4"
    assert _figure(page, "support_bot", "containment") == "75%"
    assert 'data-testid="checklist-finance_sentiment"' in page  # the others are not set up


def test_finance_and_recommendation_figures(acme: TenantSetup) -> None:
    response = acme.api().post("/api/v1/finance/watchlist", {"ticker": "ACME"}, format="json")
    assert response.status_code == 201, response.content
    with tenant_context(acme.tenant.pk):
        item = Item.objects.create(external_id="i1", title="Item 1")
        now = timezone.now()
        for request_id in ("r1", "r1", "r2"):
            Impression.objects.create(request_id=request_id, user_external_id="u1", item=item,
                                      position=0, source="popular", served_at=now)

    page = _home(acme.browser())

    assert _figure(page, "finance_sentiment", "tickers") == "1"
    assert _figure(page, "recommendation", "served_lists") == "2"
    assert _figure(page, "recommendation", "ctr") == "0%"
    assert _step(page, "recommendation", "integrate") == "true"


def test_another_tenants_data_neither_shows_nor_ticks(acme: TenantSetup,
                                                      globex: TenantSetup) -> None:
    _bot_set_up(globex)
    with tenant_context(globex.tenant.pk):
        WatchlistEntry.objects.create(ticker="GLBX")
    before = _home(globex.browser())
    assert 'data-testid="checklist-support_bot"' not in before
    assert _figure(before, "finance_sentiment", "tickers") == "1"

    page = _home(acme.browser())

    assert _figure(page, "support_bot", "conversations") == "0"
    assert _figure(page, "finance_sentiment", "tickers") == "0"
    for key in ("load", "train", "try", "integrate"):
        assert _step(page, "support_bot", key) == "false"
    # Globex's own figures are unchanged by acme's visit.
    after = _home(globex.browser())
    assert re.findall(r'data-testid="figure-[^"]+">[^<]*', after) == \
        re.findall(r'data-testid="figure-[^"]+">[^<]*', before)


def test_the_home_needs_a_signed_in_member(acme: TenantSetup) -> None:
    response = Client().get(reverse("dashboard:home"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))
