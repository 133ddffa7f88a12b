"""The topic dimension: per-topic rollups equal a recomputation from the documents (each story
counted once, topics moved by ``document_topics_record``), the trend API's topic filter, the
ticker page's topic mix and sentiment per topic, the topics overview; tenants never see each
other's topics."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from apps.finance_sentiment.models import Document, TopicRollup
from apps.finance_sentiment.services import document_delete, document_topics_record
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
