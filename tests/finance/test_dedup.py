"""Near-duplicates: copies of one story (other feeds, retweets, edits) form one cluster that
counts once in the index, the overview and the alerts; the pages say "and N similar"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.finance_sentiment import dedup
from apps.finance_sentiment.models import Document, SourceWeight
from apps.finance_sentiment.selectors import (
    sentiment_trend,
    trend_from_raw_scores,
    watchlist_overview,
)
from apps.finance_sentiment.services import (
    alert_rule_create,
    alert_rules_evaluate,
    document_delete,
)
from tenancy.context import tenant_context
from tests.conftest import TenantSetup, error_of
from tests.finance.conftest import assert_rollups_match, doc, ingest, score, watch

STORY = "$ACME - Acme Corp cuts its full-year outlook as quarterly sales fall short"
COPIES = [
    f"RT @newsbot: {STORY}",
    f"{STORY} https://t.co/abc123XYZ",
    STORY.upper(),
    "$ACME - Acme Corp slashes its full-year outlook as quarterly sales fall short!",
    "Acme Corp cuts its full-year outlook as quarterly…",
]
OTHER = "$ACME - Acme Corp names a new chief financial officer from a rival bank"


def test_signatures_find_copies_and_tell_stories_apart() -> None:
    rows = dedup.signatures([STORY, *COPIES, OTHER, ""])
    assert all(dedup.similarity(rows[0], rows[i]) >= dedup.THRESHOLD for i in range(1, 6))
    assert dedup.similarity(rows[0], rows[6]) < dedup.THRESHOLD
    assert dedup.normalise("RT @a: $ACME Up! https://x.y/z") == "acme up"
    # Stored values: the same text gives the same signature in every process.
    assert (dedup.signatures([STORY]) == rows[:1]).all()
    assert dedup.from_stored(dedup.as_stored(rows[0])).tolist() == rows[0].tolist()
    keys = dedup.band_keys(rows[:1], namespace=1)
    assert keys.shape == (1, dedup.BANDS)
    assert not set(keys[0]) & set(dedup.band_keys(rows[:1], namespace=2)[0])


def test_ingest_duplicates_one_cluster_index_moves_once(acme: TenantSetup) -> None:
    watch(acme, "ACME")
    now = timezone.now().replace(minute=30)
    hour = now - timedelta(hours=1)
    # The story from three feeds and as retweets, in two requests, plus one other story.
    first = ingest(acme, [doc("ACME", hour, STORY), doc("ACME", hour, OTHER)], source="feed:1")
    later = ingest(acme, [doc("ACME", hour + timedelta(minutes=5), text) for text in COPIES],
                   source="feed:2")
    with tenant_context(acme.tenant.pk):
        root = Document.objects.get(pk=first[0])
        assert root.duplicate_of_id is None
        assert root.similar_count == len(COPIES)
        assert set(Document.objects.filter(pk__in=later).values_list(
            "duplicate_of_id", flat=True)) == {root.pk}
        assert Document.objects.get(pk=first[1]).duplicate_of_id is None
    score(acme, {first[0]: "negative", first[1]: "positive",
                 **dict.fromkeys(later, "negative")})
    assert_rollups_match(acme)
    with tenant_context(acme.tenant.pk):
        points = sentiment_trend(ticker="ACME", granularity="hour", start=hour - timedelta(
            hours=1), end=now + timedelta(hours=1))
        bucket = next(point for point in points if point.total)
        # Two stories, not seven documents: the story's copies do not move the index.
        assert (bucket.total, bucket.negative, bucket.positive, bucket.index) == (2, 1, 1, 0.0)
        [row] = watchlist_overview(now=now)
        assert (row.volume, row.index, row.is_thin) == (2, 0.0, True)
        rule = alert_rule_create(name="r", ticker="ACME", kind="negative_share",
                                 threshold=0.4, min_volume=1, notify_webhook=False)
        [alert] = alert_rules_evaluate(tickers=["ACME"], now=now)
        assert (alert.rule_id, alert.volume, alert.value) == (rule.pk, 2, 0.5)


def test_copies_outside_the_window_or_of_another_tenant_are_new_stories(
    acme: TenantSetup, globex: TenantSetup
) -> None:
    start = datetime(2026, 11, 1, 12, tzinfo=UTC)
    [original] = ingest(acme, [doc("ACME", start, STORY)])
    [late] = ingest(acme, [doc("ACME", start + dedup.WINDOW + timedelta(hours=1), COPIES[0])])
    [theirs] = ingest(globex, [doc("ACME", start, COPIES[0])])
    with tenant_context(acme.tenant.pk):
        assert Document.objects.get(pk=late).duplicate_of_id is None
        assert Document.objects.get(pk=original).similar_count == 0
    with tenant_context(globex.tenant.pk):
        assert Document.objects.get(pk=theirs).duplicate_of_id is None


def test_copies_within_one_request_and_dedup_off(acme: TenantSetup) -> None:
    moment = timezone.now() - timedelta(hours=2)
    with tenant_context(acme.tenant.pk):
        from apps.finance_sentiment.services import documents_ingest

        result = documents_ingest(rows=[doc("ACME", moment, STORY), doc("ACME", moment,
                                                                        COPIES[0])],
                                  source="api")
        assert result.copies == 1
        assert result.documents[1].duplicate_of == result.documents[0].id
        plain = documents_ingest(rows=[doc("ACME", moment, COPIES[1])], source="api",
                                 dedup=False)
        assert plain.copies == 0
        assert Document.objects.get(pk=plain.documents[0].id).lsh_keys == []


def test_deleting_a_story_promotes_its_first_copy(acme: TenantSetup) -> None:
    moment = timezone.now() - timedelta(hours=3)
    ids = ingest(acme, [doc("ACME", moment, text) for text in (STORY, *COPIES[:3])])
    score(acme, dict.fromkeys(ids, "positive"))
    with tenant_context(acme.tenant.pk):
        document_delete(document=Document.objects.get(pk=ids[0]))
        successor = Document.objects.get(pk=ids[1])
        assert (successor.duplicate_of_id, successor.similar_count) == (None, 2)
        assert set(Document.objects.filter(pk__in=ids[2:]).values_list(
            "duplicate_of_id", flat=True)) == {ids[1]}
    assert_rollups_match(acme)
    # The new first document is found by later copies.
    [later] = ingest(acme, [doc("ACME", moment, COPIES[3])])
    with tenant_context(acme.tenant.pk):
        assert Document.objects.get(pk=later).duplicate_of_id == ids[1]
        assert Document.objects.get(pk=ids[1]).similar_count == 3
    with tenant_context(acme.tenant.pk):
        document_delete(document=Document.objects.get(pk=ids[3]))
        assert Document.objects.get(pk=ids[1]).similar_count == 2
    assert_rollups_match(acme)


def test_api_reports_copies_and_another_tenant_sees_none(
    acme: TenantSetup, globex: TenantSetup
) -> None:
    moment = (timezone.now() - timedelta(hours=1)).isoformat()
    response = acme.api().post("/api/v1/finance/documents", {"documents": [
        {"title": STORY, "published_at": moment, "tickers": ["ACME"]},
        {"title": COPIES[0], "published_at": moment, "tickers": ["ACME"]}]}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["created"], body["copies"]) == (2, 1)
    first, copy = body["documents"]
    assert (first["duplicate_of"], copy["duplicate_of"]) == (None, first["id"])
    detail = acme.api().get(f"/api/v1/finance/documents/{first['id']}").json()
    assert (detail["similar_count"], detail["duplicate_of"]) == (1, None)
    thief = globex.api()
    assert thief.get(f"/api/v1/finance/documents/{first['id']}").status_code == 404
    assert thief.delete(f"/api/v1/finance/documents/{copy['id']}").status_code == 404
    assert thief.get("/api/v1/finance/documents").json()["results"] == []
    with tenant_context(acme.tenant.pk):
        assert Document.objects.get(pk=first["id"]).similar_count == 1
        assert Document.objects.filter(duplicate_of_id=first["id"]).count() == 1


def test_pages_show_similar_and_sample_size_and_another_tenant_sees_none(
    acme: TenantSetup, globex: TenantSetup
) -> None:
    watch(acme, "ACME")
    watch(globex, "ACME")
    moment = timezone.now() - timedelta(hours=1)
    ids = ingest(acme, [doc("ACME", moment, text) for text in (STORY, *COPIES, OTHER)])
    score(acme, dict.fromkeys(ids, "positive"))
    ticker = acme.browser().get(reverse("finance:ticker", args=["ACME"]))
    html = ticker.content.decode()
    assert f"and {len(COPIES)} similar" in html
    assert f'id="document-{ids[0]}"' in html
    assert f'id="document-{ids[1]}"' not in html
    assert "n=2" in html
    assert "is-thin" in html
    overview = acme.browser().get(reverse("finance:overview")).content.decode()
    assert "n=2" in overview
    assert "is-thin" in overview
    # The other tenant: no similar documents, nothing of acme's stories.
    theirs = globex.browser().get(reverse("finance:ticker", args=["ACME"])).content.decode()
    assert "similar" not in theirs
    assert f"document-{ids[0]}" not in theirs
    assert "n=0" in globex.browser().get(reverse("finance:overview")).content.decode()


def test_index_is_not_greyed_out_from_five_stories(acme: TenantSetup) -> None:
    watch(acme, "ACME")
    moment = timezone.now() - timedelta(hours=1)
    ids = ingest(acme, [doc("ACME", moment) for _ in range(5)])
    score(acme, dict.fromkeys(ids, "negative"))
    overview = acme.browser().get(reverse("finance:overview")).content.decode()
    assert "n=5" in overview
    assert "is-thin" not in overview



def test_source_weights_move_the_index_not_the_counts(acme: TenantSetup) -> None:
    watch(acme, "ACME")
    now = timezone.now().replace(minute=30)
    hour = now - timedelta(hours=1)
    wire = ingest(acme, [doc("ACME", hour) for _ in range(3)], source="feed:1")
    blog = ingest(acme, [doc("ACME", hour)], source="feed:2")
    score(acme, {**dict.fromkeys(wire, "positive"), **dict.fromkeys(blog, "negative")})

    def bucket() -> tuple[int, float | None]:
        with tenant_context(acme.tenant.pk):
            [point] = [point for point in sentiment_trend(
                ticker="ACME", granularity="hour", start=hour, end=now) if point.total]
            raw = [p for p in trend_from_raw_scores(ticker="ACME", granularity="hour",
                                                    start=hour, end=now) if p.total]
        assert raw[0].index == pytest.approx(point.index)  # the rollups equal a recount
        return point.total, point.index

    assert bucket() == (4, 0.5)
    api = acme.api()
    created = api.post("/api/v1/finance/source-weights", {"source": "feed:2", "weight": 3},
                       format="json")
    assert created.status_code == 201, created.json()
    assert bucket() == (4, 0.0)  # (3 − 3) / 6
    url = f"/api/v1/finance/source-weights/{created.json()['id']}"
    assert api.patch(url, {"weight": 0.5}, format="json").json()["weight"] == 0.5
    assert bucket()[1] == pytest.approx(2.5 / 3.5)
    # Setting it again through POST changes the one row.
    again = api.post("/api/v1/finance/source-weights", {"source": "feed:2", "weight": 3},
                     format="json").json()
    assert again["id"] == created.json()["id"]
    assert [row["source"] for row in api.get("/api/v1/finance/source-weights").json()] == [
        "feed:2"]
    assert api.delete(url).status_code == 204
    assert bucket() == (4, 0.5)
    assert_rollups_match(acme)


@pytest.mark.parametrize(("payload", "field"), [
    ({"source": "feed:1", "weight": 0}, "weight"),
    ({"source": "feed:1", "weight": 10.5}, "weight"),
    ({"source": "feed:1", "weight": "heavy"}, "weight"),
    ({"source": "feed:1"}, "weight"),
    ({"source": "", "weight": 2}, "source"),
    ({"source": "x" * 65, "weight": 2}, "source"),
])
def test_a_bad_source_weight_is_a_400_naming_the_field(
    acme: TenantSetup, payload: dict, field: str
) -> None:
    response = acme.api().post("/api/v1/finance/source-weights", payload, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    with tenant_context(acme.tenant.pk):
        assert not SourceWeight.objects.exists()


def test_another_tenant_cannot_read_change_or_delete_a_source_weight(
    acme: TenantSetup, globex: TenantSetup
) -> None:
    row = acme.api().post("/api/v1/finance/source-weights", {"source": "feed:1", "weight": 2},
                          format="json").json()
    url = f"/api/v1/finance/source-weights/{row['id']}"
    thief = globex.api()
    missing = thief.get("/api/v1/finance/source-weights/999999999")
    assert thief.get(url).status_code == 404
    assert error_of(thief.get(url)) == error_of(missing)
    assert thief.patch(url, {"weight": 9}, format="json").status_code == 404
    assert thief.delete(url).status_code == 404
    assert thief.get("/api/v1/finance/source-weights").json() == []
    # Their own weight for the same source is theirs alone.
    assert thief.post("/api/v1/finance/source-weights", {"source": "feed:1", "weight": 5},
                      format="json").status_code == 201
    assert acme.api().get(url).json()["weight"] == 2
