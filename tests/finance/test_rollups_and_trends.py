"""Rollups are maintained incrementally and always equal a recomputation from the documents'
current labels: after first scores, rescoring by another job, repeated chunks and deletions.
Trends from rollups equal trends from raw scores; the trends endpoint."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from apps.finance_sentiment.models import Document, SentimentScore
from apps.finance_sentiment.selectors import sentiment_trend, trend_from_raw_scores
from apps.finance_sentiment.services import document_delete
from tenancy.context import tenant_context
from tests.conftest import TenantSetup
from tests.finance.conftest import assert_rollups_match, doc, ingest, score, scoring_job, stored

T0 = datetime(2024, 5, 1, 9, 15, tzinfo=UTC)
LABELS = ("positive", "neutral", "negative")


def test_first_scores_fill_the_rollups_per_ticker_hour_and_day(acme: TenantSetup) -> None:
    ids = ingest(acme, [
        doc("ACME", T0, tickers=["ACME", "GLBX"]),
        doc("ACME", T0 + timedelta(minutes=30)),
        doc("ACME", T0 + timedelta(hours=1)),
        doc("ACME", T0 + timedelta(days=1)),
    ])
    touched = score(acme, dict(zip(ids, ["negative", "positive", "negative", "neutral"],
                                   strict=True)))
    assert touched == {"ACME", "GLBX"}
    rollups = stored(acme)
    hour = T0.replace(minute=0)
    day = T0.replace(hour=0, minute=0)
    assert rollups[("ACME", "hour", hour)][:3] == (1, 0, 1)
    assert rollups[("ACME", "hour", hour + timedelta(hours=1))][:3] == (0, 0, 1)
    assert rollups[("ACME", "day", day)][:3] == (1, 0, 2)
    assert rollups[("ACME", "day", day + timedelta(days=1))][:3] == (0, 1, 0)
    assert rollups[("GLBX", "day", day)][:3] == (0, 0, 1)
    assert rollups[("ACME", "hour", hour)][3] == pytest.approx(0.75 - 0.6)
    assert_rollups_match(acme)
    with tenant_context(acme.tenant.pk):
        first = Document.objects.get(pk=ids[0])
    assert (first.label, first.score) == ("negative", pytest.approx(-0.6))
    assert first.scored_at is not None


def test_rescoring_moves_contributions_and_history_is_kept(acme: TenantSetup) -> None:
    ids = ingest(acme, [doc("ACME", T0 + timedelta(minutes=i)) for i in range(6)])
    score(acme, dict.fromkeys(ids, "negative"))
    second_job = scoring_job(acme)
    score(acme, {ids[0]: "positive", ids[1]: "neutral", ids[2]: "negative"}, job=second_job)
    hour = T0.replace(minute=0)
    assert stored(acme)[("ACME", "hour", hour)][:3] == (1, 1, 4)
    assert_rollups_match(acme)
    # The same chunk again (a retried task) changes nothing.
    score(acme, {ids[0]: "positive", ids[1]: "neutral", ids[2]: "negative"}, job=second_job)
    assert stored(acme)[("ACME", "hour", hour)][:3] == (1, 1, 4)
    with tenant_context(acme.tenant.pk):
        assert SentimentScore.objects.filter(document_id=ids[0]).count() == 2
        assert SentimentScore.objects.filter(job=second_job).count() == 3
    assert_rollups_match(acme)


def test_deleting_a_document_takes_it_out_of_the_rollups(acme: TenantSetup) -> None:
    ids = ingest(acme, [doc("ACME", T0), doc("ACME", T0), doc("ACME", T0 + timedelta(days=2))])
    score(acme, {ids[0]: "negative", ids[1]: "positive"})  # ids[2] stays unscored
    with tenant_context(acme.tenant.pk):
        document_delete(document=Document.objects.get(pk=ids[0]))
        document_delete(document=Document.objects.get(pk=ids[2]))
        assert not SentimentScore.objects.filter(document_id=ids[0]).exists()
    assert stored(acme)[("ACME", "day", T0.replace(hour=0, minute=0))][:3] == (1, 0, 0)
    assert_rollups_match(acme)


def test_random_rescoring_rounds_keep_rollups_equal_to_raw_recomputation(
    acme: TenantSetup, globex: TenantSetup
) -> None:
    rng = random.Random(7)
    tickers = ["ACME", "GLBX", "INIT", "HOOL"]
    rows = [
        doc(rng.choice(tickers), T0 + timedelta(minutes=rng.randrange(0, 5 * 24 * 60)),
            title=f"doc {i}", tickers=rng.sample(tickers, rng.randint(1, 3)))
        for i in range(300)
    ]
    ids = ingest(acme, rows)
    ingest(globex, rows[:50])  # another tenant's rollups never mix in
    score(globex, dict.fromkeys(ingest(globex, rows[:50]), "positive"))
    for _round in range(4):
        chosen = rng.sample(ids, 150)
        score(acme, {document_id: rng.choice(LABELS) for document_id in chosen})
        assert_rollups_match(acme)
    with tenant_context(acme.tenant.pk):
        for document in Document.objects.filter(pk__in=rng.sample(ids, 40)):
            document_delete(document=document)
    assert_rollups_match(acme)
    assert_rollups_match(globex)


@pytest.mark.parametrize("granularity", ["hour", "day"])
def test_trend_from_rollups_equals_trend_from_raw_scores(acme: TenantSetup,
                                                         granularity: str) -> None:
    rng = random.Random(3)
    ids = ingest(acme, [doc("ACME", T0 + timedelta(minutes=rng.randrange(0, 3 * 24 * 60)),
                            title=f"d{i}") for i in range(200)])
    score(acme, {document_id: rng.choice(LABELS) for document_id in ids})
    score(acme, {document_id: rng.choice(LABELS) for document_id in ids[:60]})
    start, end = T0 - timedelta(hours=5), T0 + timedelta(days=3, hours=2)
    with tenant_context(acme.tenant.pk):
        from_rollups = sentiment_trend(ticker="ACME", granularity=granularity, start=start,
                                       end=end)
        from_raw = trend_from_raw_scores(ticker="ACME", granularity=granularity, start=start,
                                         end=end)
    assert [p.as_dict() for p in from_rollups] == [p.as_dict() for p in from_raw]
    assert sum(p.total for p in from_rollups) == 200
    step = timedelta(hours=1) if granularity == "hour" else timedelta(days=1)
    assert all(b.bucket_start - a.bucket_start == step
               for a, b in zip(from_rollups, from_rollups[1:], strict=False))


def test_trends_endpoint(acme: TenantSetup, globex: TenantSetup) -> None:
    ids = ingest(acme, [doc("ACME", T0), doc("ACME", T0), doc("ACME", T0),
                        doc("ACME", T0 + timedelta(days=2))])
    score(acme, dict(zip(ids, ["positive", "positive", "negative", "neutral"], strict=True)))
    response = acme.api().get("/api/v1/finance/trends", {
        "ticker": "acme", "granularity": "day", "from": "2024-05-01", "to": "2024-05-04"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["ticker"], body["granularity"]) == ("ACME", "day")
    points = body["points"]
    assert [p["bucket_start"][:10] for p in points] == ["2024-05-01", "2024-05-02", "2024-05-03"]
    first = points[0]
    assert (first["positive"], first["neutral"], first["negative"], first["total"]) == (2, 0, 1, 3)
    assert first["index"] == pytest.approx(1 / 3)
    assert first["mean_score"] == pytest.approx((0.75 + 0.75 - 0.6) / 3)
    assert points[1] == {**points[1], "total": 0, "index": None, "mean_score": None}
    assert points[2]["index"] == 0.0
    # Another tenant asking about the same ticker sees nothing of acme's.
    other = globex.api().get("/api/v1/finance/trends", {
        "ticker": "ACME", "granularity": "day", "from": "2024-05-01", "to": "2024-05-04"})
    assert [p["total"] for p in other.json()["points"]] == [0, 0, 0]


@pytest.mark.parametrize(("query", "field"), [
    ({}, "ticker"),
    ({"ticker": "not a ticker"}, "ticker"),
    ({"ticker": "ACME", "granularity": "week"}, "granularity"),
    ({"ticker": "ACME", "from": "soon"}, "from"),
    ({"ticker": "ACME", "from": "2024-05-02", "to": "2024-05-01"}, "to"),
    ({"ticker": "ACME", "granularity": "hour", "from": "2000-01-01", "to": "2024-01-01"}, "from"),
])
def test_trends_endpoint_validates_its_query(acme: TenantSetup, query: dict, field: str) -> None:
    response = acme.api().get("/api/v1/finance/trends", query)
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_trends_default_range(acme: TenantSetup) -> None:
    response = acme.api().get("/api/v1/finance/trends", {"ticker": "ACME", "granularity": "hour"})
    assert response.status_code == 200
    assert len(response.json()["points"]) == 7 * 24
