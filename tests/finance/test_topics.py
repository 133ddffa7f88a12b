"""The topic dimension: per-topic rollups equal a recomputation from the documents (each story
counted once, topics moved by ``document_topics_record``), the trend API's topic filter, the
ticker page's topic mix and sentiment per topic, the topics overview; tenants never see each
other's topics."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.finance_sentiment.models import Document, SentimentRollup, TopicRollup
from apps.finance_sentiment.services import (
    document_delete,
    document_topics_record,
    source_weight_set,
)
from apps.finance_sentiment.topic_selectors import topics_overview
from tenancy.context import tenant_context
from tests.conftest import TenantSetup
from tests.finance.conftest import ROLLUP_LABELS, doc, ingest, score, scoring_job, watch

T0 = datetime(2024, 5, 1, 9, 15, tzinfo=UTC)
STORY = "$ACME Acme Corp shares plunge after the quarterly earnings miss estimates badly"
COPIES = [f"RT @trader: {STORY}", f"{STORY} (Reuters)", f"{STORY}!"]

TopicKey = tuple[str, str, str, datetime]


def topics(setup: TenantSetup, assignment: dict[int, str | None]) -> None:
    with tenant_context(setup.tenant.pk):
        document_topics_record(topics={key: (topic, 0.9 if topic else None)
                                       for key, topic in assignment.items()})


def recomputed(setup: TenantSetup) -> dict[TopicKey, tuple[int, int, int]]:
    sums: dict[TopicKey, list[int]] = defaultdict(lambda: [0, 0, 0])
    with tenant_context(setup.tenant.pk):
        for document in Document.objects.exclude(label="").filter(
                duplicate_of__isnull=True, topic__isnull=False):
            moment = document.published_at.astimezone(UTC)
            for ticker in document.tickers:
                for granularity, bucket in (
                    ("hour", moment.replace(minute=0, second=0, microsecond=0)),
                    ("day", moment.replace(hour=0, minute=0, second=0, microsecond=0)),
                ):
                    sums[(ticker, document.topic, granularity, bucket)][
                        ROLLUP_LABELS.index(document.label)] += 1
    return {key: (v[0], v[1], v[2]) for key, v in sums.items()}


def stored(setup: TenantSetup) -> dict[TopicKey, tuple[int, int, int]]:
    with tenant_context(setup.tenant.pk):
        return {(r.ticker, r.topic, r.granularity, r.bucket_start):
                (r.positive, r.neutral, r.negative)
                for r in TopicRollup.objects.all() if r.total}


def assert_topic_rollups_match(setup: TenantSetup) -> None:
    assert stored(setup) == recomputed(setup)


def test_topic_rollups_follow_scores_topics_copies_and_deletions(
        acme: TenantSetup, globex: TenantSetup) -> None:
    story = ingest(acme, [doc("ACME", T0, STORY), doc("ACME", T0 + timedelta(minutes=5)),
                          doc("ACME", T0 + timedelta(hours=1), tickers=["ACME", "GLBX"])])
    copies = ingest(acme, [doc("ACME", T0 + timedelta(minutes=9), text) for text in COPIES],
                    source="feed:2")
    topics(acme, {story[0]: "Earnings", story[1]: "Earnings", story[2]: "Macro",
                  **dict.fromkeys(copies, "Earnings")})
    score(acme, {story[0]: "negative", story[1]: "positive", story[2]: "negative",
                 **dict.fromkeys(copies, "negative")})
    hour = T0.replace(minute=0)
    rollups = stored(acme)
    # The story and its three copies count once.
    assert rollups[("ACME", "Earnings", "hour", hour)] == (1, 0, 1)
    assert rollups[("ACME", "Macro", "day", T0.replace(hour=0, minute=0))] == (0, 0, 1)
    assert rollups[("GLBX", "Macro", "hour", hour + timedelta(hours=1))] == (0, 0, 1)
    assert_topic_rollups_match(acme)
    # Rescoring, a topic change, a cleared topic, a deletion that promotes a copy.
    score(acme, {story[1]: "neutral"}, job=scoring_job(acme))
    topics(acme, {story[2]: "Politics", story[1]: None})
    assert_topic_rollups_match(acme)
    with tenant_context(acme.tenant.pk):
        document_delete(document=Document.objects.get(pk=story[0]))
    assert stored(acme)[("ACME", "Earnings", "hour", hour)] == (0, 0, 1)
    assert_topic_rollups_match(acme)
    # A topic set before scoring counts when the document is scored; globex has none of it.
    later = ingest(acme, [doc("ACME", T0 + timedelta(days=1))])
    topics(acme, {later[0]: "IPO"})
    assert ("ACME", "IPO", "day", T0.replace(hour=0, minute=0) + timedelta(days=1)) \
        not in stored(acme)
    score(acme, {later[0]: "positive"})
    assert_topic_rollups_match(acme)
    assert stored(globex) == {}


def test_unknown_topic_is_refused(acme: TenantSetup) -> None:
    ids = ingest(acme, [doc("ACME", T0)])
    with pytest.raises(ValueError, match="Sports"):
        topics(acme, {ids[0]: "Sports"})


def seed(setup: TenantSetup, ticker: str, when: datetime, labels: list[str],
         topic: str) -> list[int]:
    ids = ingest(setup, [doc(ticker, when + timedelta(minutes=i % 50))
                         for i in range(len(labels))])
    topics(setup, dict.fromkeys(ids, topic))
    score(setup, dict(zip(ids, labels, strict=True)))
    return ids


def test_trend_api_filters_by_topic(acme: TenantSetup, globex: TenantSetup) -> None:
    seed(acme, "ACME", T0, ["negative", "negative", "positive"], "Earnings")
    seed(acme, "ACME", T0, ["positive"], "Macro")
    seed(globex, "ACME", T0, ["positive"] * 4, "Earnings")
    query = {"ticker": "ACME", "granularity": "day", "from": "2024-05-01", "to": "2024-05-02"}
    body = acme.api().get("/api/v1/finance/trends", {**query, "topic": "Earnings"}).json()
    assert body["topic"] == "Earnings"
    point = body["points"][0]
    assert (point["positive"], point["negative"], point["total"]) == (1, 2, 3)
    assert point["index"] == pytest.approx(-1 / 3)
    everything = acme.api().get("/api/v1/finance/trends", query).json()
    assert (everything["topic"], everything["points"][0]["total"]) == (None, 4)
    theirs = globex.api().get("/api/v1/finance/trends", {**query, "topic": "Macro"}).json()
    assert theirs["points"][0]["total"] == 0


@pytest.mark.parametrize("topic", ["Sports", "earnings", "x" * 300])
def test_trend_api_unknown_topic_is_a_400_naming_topic(acme: TenantSetup, topic: str) -> None:
    response = acme.api().get("/api/v1/finance/trends", {"ticker": "ACME", "topic": topic})
    assert response.status_code == 400
    assert "topic" in response.json()["error"]["fields"]


def test_topics_overview_compares_the_last_day_with_the_week_before(
        acme: TenantSetup, globex: TenantSetup) -> None:
    watch(acme, "ACME")
    watch(acme, "GLBX")
    now = timezone.now()
    recent = now - timedelta(hours=2)
    week = now - timedelta(days=3)
    seed(acme, "ACME", recent, ["negative"] * 5 + ["positive"], "Legal | Regulation")
    seed(acme, "GLBX", week, ["positive"] * 6, "Legal | Regulation")
    seed(acme, "ACME", recent, ["positive"] * 2, "Dividend")
    seed(acme, "ACME", week, ["positive"] * 2, "Dividend")
    seed(acme, "UNWATCHED", recent, ["negative"] * 9, "Macro")
    seed(globex, "ACME", recent, ["negative"] * 9, "Politics")
    with tenant_context(acme.tenant.pk):
        turns = {turn.topic: turn for turn in topics_overview(now=now)}
    assert set(turns) == {"Legal | Regulation", "Dividend"}
    legal = turns["Legal | Regulation"]
    assert (legal.recent.total, legal.baseline.total) == (6, 6)
    assert legal.recent.index == pytest.approx(-4 / 6)
    assert legal.change == pytest.approx(-4 / 6 - 1)
    assert not legal.is_thin
    assert turns["Dividend"].is_thin
    with tenant_context(acme.tenant.pk):
        assert topics_overview(now=now)[0].topic == "Legal | Regulation"


def ticker_url(ticker: str) -> str:
    return reverse("finance:ticker", args=[ticker])


def test_ticker_page_shows_the_topic_mix_sentiment_per_topic_and_filters_by_topic(
        acme: TenantSetup, globex: TenantSetup) -> None:
    yesterday = (timezone.now() - timedelta(days=1)).replace(hour=12, minute=0)
    seed(acme, "ACME", yesterday, ["negative"] * 4 + ["positive"] * 2, "Earnings")
    seed(acme, "ACME", yesterday - timedelta(days=2), ["positive"], "Dividend")
    seed(globex, "ACME", yesterday, ["positive"] * 3, "Politics")
    client = acme.browser()
    html = client.get(ticker_url("ACME")).content.decode()
    assert 'data-testid="topic-mix-chart" data-stories="7" data-topics="2"' in html
    assert html.count('class="mix-bar mix-0"') == 1  # Earnings, on one day
    assert 'data-topic="Dividend"' in html
    assert "Politics" not in html.split('data-testid="topic-mix"')[1].split("</section>")[0]
    table = html.split('data-testid="topic-sentiment"')[1].split("</table>")[0]
    assert table.index("Earnings") < table.index("Dividend")
    assert "n=6" in table
    assert "-0.33" in table
    assert "is-thin" in table  # Dividend rests on one story
    # One topic: the trend and the documents are that topic's.
    only = client.get(ticker_url("ACME"), {"topic": "Dividend", "range": "7"}).content.decode()
    assert 'data-testid="trend-topic">Dividend' in only
    assert 'data-testid="trend-chart" data-points="1"' in only
    assert only.count('id="document-') == 1
    # An unknown topic narrows nothing rather than failing the page.
    assert client.get(ticker_url("ACME"), {"topic": "Sports"}).status_code == 200
    # Another tenant sees only its own topics.
    theirs = globex.browser().get(ticker_url("ACME")).content.decode()
    assert 'data-testid="topic-mix-chart" data-stories="3" data-topics="1"' in theirs
    assert "Earnings" not in theirs.split('data-testid="topic-mix"')[1].split("</section>")[0]


def test_topics_page_lists_topics_turning_negative_per_tenant(
        acme: TenantSetup, globex: TenantSetup) -> None:
    watch(acme, "ACME")
    watch(globex, "ACME")
    now = timezone.now()
    seed(acme, "ACME", now - timedelta(hours=2), ["negative"] * 6, "Legal | Regulation")
    seed(acme, "ACME", now - timedelta(days=3), ["positive"] * 6, "Legal | Regulation")
    seed(acme, "ACME", now - timedelta(hours=2), ["negative"], "IPO")
    response = acme.browser().get(reverse("finance:topics"))
    assert response.status_code == 200
    html = response.content.decode()
    table = html.split('data-testid="topics-overview"')[1].split("</table>")[0]
    assert table.index("Legal | Regulation") < table.index("IPO")
    assert "-2.00" in table
    assert "n=6" in table
    assert "is-thin" in table
    other = globex.browser().get(reverse("finance:topics")).content.decode()
    assert "Legal | Regulation" not in other
    assert 'data-testid="topics-overview"' not in other
    assert Client().get(reverse("finance:topics")).status_code in (302, 403)


def test_source_weights_move_the_topic_rollups_with_the_rollups(acme: TenantSetup) -> None:
    seed(acme, "ACME", T0, ["negative", "positive", "positive"], "Earnings")
    with tenant_context(acme.tenant.pk):
        source_weight_set(source="api", weight=2.5)
        everything = SentimentRollup.objects.get(ticker="ACME", granularity="day")
        earnings = TopicRollup.objects.get(ticker="ACME", topic="Earnings", granularity="day")
    assert (earnings.weight_sum, earnings.weighted_net) == pytest.approx((7.5, 2.5))
    assert (earnings.weight_sum, earnings.weighted_net) == pytest.approx(
        (everything.weight_sum, everything.weighted_net))
