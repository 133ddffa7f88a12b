"""Serving: precomputed lists, then content-based from the user's recent items, then popular
items; filters and exclusions; similar items through pgvector; reranking; impressions and
click-through by day."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.recommendation.api import ServedSerializer
from apps.recommendation.models import Impression, Item
from apps.recommendation.selectors import ctr_by_day
from apps.recommendation.services import item_popularity_record
from tenancy.context import tenant_context
from tests.conftest import TenantSetup
from tests.recommendation.conftest import (
    add_events,
    add_items,
    item_row,
    precompute,
    set_embeddings,
    unit,
)

CATALOGUE = [
    item_row("space-1", "Dune", ["science-fiction"]),
    item_row("space-2", "Hyperion", ["science-fiction"]),
    item_row("space-3", "Foundation", ["science-fiction"], available=False),
    item_row("love-1", "Emma", ["romance"]),
    item_row("love-2", "Persuasion", ["romance"]),
    item_row("crime-1", "The Big Sleep", ["crime"]),
]
EMBEDDINGS = {"space-1": [1, 0, 0], "space-2": [0.9, 0.1, 0], "space-3": [0.95, 0, 0.05],
              "love-1": [0, 1, 0], "love-2": [0.1, 0.9, 0], "crime-1": [0, 0, 1]}


def _setup(setup: TenantSetup) -> dict[str, Item]:
    items = add_items(setup, CATALOGUE)
    set_embeddings(setup, EMBEDDINGS)
    with tenant_context(setup.tenant.pk):
        item_popularity_record(popularity={items["crime-1"].pk: 3.0, items["love-2"].pk: 2.0,
                                           items["space-2"].pk: 1.0, items["space-3"].pk: 4.0})
    return items


def _served(setup: TenantSetup, user: str, **query: object) -> list[dict]:
    response = setup.api().get(f"/api/v1/recommendations/users/{user}", query)
    assert response.status_code == 200, response.json()
    return response.json()["items"]


def test_a_cold_user_gets_popular_available_items(acme: TenantSetup) -> None:
    _setup(acme)
    served = _served(acme, "nobody", k=3)
    # space-3 is the most popular but unavailable.
    assert [row["item"] for row in served] == ["crime-1", "love-2", "space-2"]
    assert {row["source"] for row in served} == {"popular"}
    assert served[0]["reason"] == "Popular"
    with_unavailable = _served(acme, "nobody", k=1, available="false")
    assert with_unavailable[0]["item"] == "space-3"
    in_romance = _served(acme, "nobody", k=5, category="Romance")
    assert [row["item"] for row in in_romance] == ["love-2", "love-1"]
    assert in_romance[0]["reason"] == "Popular in romance"


def test_served_items_have_the_documented_shape(acme: TenantSetup) -> None:
    _setup(acme)
    add_events(acme, [("reader", "space-1", "purchase")])
    precompute(acme, {"reader": ["love-1"]})
    served = _served(acme, "reader", k=3)
    assert [row["source"] for row in served] == ["precomputed", "content", "content"]
    for rank, row in enumerate(served, start=1):
        assert set(row) == set(ServedSerializer().fields)
        assert row["rank"] == rank
        assert isinstance(row["score"], float)
    assert served[0] == {"rank": 1, "item": "love-1", "title": "Emma",
                         "categories": ["romance"], "score": 1.0,
                         "reason": "Because you liked “reader”", "reasons": [],
                         "source": "precomputed"}
    schema = acme.api().get("/api/v1/schema/", {"format": "json"}).json()
    documented = schema["components"]["schemas"]["Served"]
    assert set(documented["properties"]) == set(served[0])


def test_a_user_with_history_gets_items_like_their_recent_ones(acme: TenantSetup) -> None:
    _setup(acme)
    add_events(acme, [("reader", "space-1", "purchase")])
    served = _served(acme, "reader", k=2)
    # Nearest to Dune, excluding Dune itself (consumed) and Foundation (unavailable).
    assert served[0]["item"] == "space-2"
    assert served[0]["source"] == "content"
    assert served[0]["reason"] == "Because you liked “Dune”"
    assert "space-1" not in [row["item"] for row in served]
    # Topped up from the popular list once the content list is used.
    assert served[1]["source"] in ("content", "popular")


def test_a_low_rating_does_not_describe_the_user(acme: TenantSetup) -> None:
    _setup(acme)
    add_events(acme, [{"event_id": "r1", "user": "critic", "item": "love-1", "kind": "rating",
                       "value": 1}])
    served = _served(acme, "critic", k=1)
    assert served[0]["source"] == "popular"
    assert served[0]["item"] == "crime-1"


def test_the_profile_is_the_mean_of_recent_items_and_names_the_latest(
        acme: TenantSetup) -> None:
    _setup(acme)
    add_events(acme, [
        {"event_id": "e1", "user": "reader", "item": "love-1", "kind": "view",
         "occurred_at": "2024-05-01T10:00:00Z"},
        {"event_id": "e2", "user": "reader", "item": "crime-1", "kind": "purchase",
         "occurred_at": "2024-05-02T10:00:00Z"},
        # The latest event, a low rating: neither in the profile nor the reason.
        {"event_id": "e3", "user": "reader", "item": "space-2", "kind": "rating", "value": 1,
         "occurred_at": "2024-05-03T10:00:00Z"}])
    served = _served(acme, "reader", k=2)
    # Between romance and crime: Persuasion first, well ahead of anything in space.
    assert [row["item"] for row in served] == ["love-2", "space-1"]
    assert served[0]["reason"] == "Because you liked “The Big Sleep”"
    assert served[0]["score"] == pytest.approx(0.9 / (0.82 ** 0.5) / 2 ** 0.5, abs=1e-4)


def test_precomputed_lists_come_first_then_filters_top_them_up(acme: TenantSetup) -> None:
    _setup(acme)
    add_events(acme, [("reader", "space-1", "view")])
    precompute(acme, {"reader": ["love-1", "crime-1", "space-3"]})
    served = _served(acme, "reader", k=3)
    assert [row["item"] for row in served[:2]] == ["love-1", "crime-1"]
    assert served[0]["source"] == "precomputed"
    assert served[0]["reason"] == "Because you liked “reader”"
    # space-3 is unavailable: the third place comes from the content fallback.
    assert served[2]["item"] == "space-2"
    assert served[2]["source"] == "content"
    romance = _served(acme, "reader", k=1, category="romance")
    assert [row["item"] for row in romance] == ["love-1"]
    # An item consumed since the list was computed is left out.
    add_events(acme, [("reader", "love-1", "purchase")])
    assert _served(acme, "reader", k=1)[0]["item"] == "crime-1"
    # A newer job's list replaces the older one.
    precompute(acme, {"reader": ["love-2"]})
    assert _served(acme, "reader", k=1)[0]["item"] == "love-2"


def test_an_excluded_item_never_appears_from_any_source(acme: TenantSetup) -> None:
    _setup(acme)
    add_events(acme, [("reader", "space-1", "view")])
    precompute(acme, {"reader": ["love-1", "crime-1"]})
    excluded = ["love-1", "space-2", "crime-1"]
    # All that is left (space-3 is unavailable): for the reader love-2 (space-1 was read),
    # through the precomputed, content and popular sources; for a cold user love-2 and space-1.
    for user, left in (("reader", {"love-2"}), ("nobody", {"love-2", "space-1"})):
        served = _served(acme, user, k=3, exclude=excluded)
        assert {row["item"] for row in served} == left
    # Unknown external ids exclude nothing; another tenant's item of the same id neither.
    assert len(_served(acme, "nobody", k=3, exclude=["no-such-item"])) == 3


def test_a_per_category_cap_diversifies_every_source(acme: TenantSetup) -> None:
    _setup(acme)
    # Popular: crime-1, love-2, space-2, then space-1 and love-1 (no popularity, by id).
    assert [row["item"] for row in _served(acme, "nobody", k=4, max_per_category=1)] == [
        "crime-1", "love-2", "space-2"]  # nothing else is left under the cap
    assert [row["item"] for row in _served(acme, "nobody", k=5, max_per_category=2)] == [
        "crime-1", "love-2", "space-2", "space-1", "love-1"]
    add_events(acme, [("reader", "space-1", "view")])
    precompute(acme, {"reader": ["love-1", "love-2", "crime-1"]})
    served = _served(acme, "reader", k=3, max_per_category=1)
    assert [(row["item"], row["source"]) for row in served] == [
        ("love-1", "precomputed"), ("crime-1", "precomputed"), ("space-2", "content")]


def test_bad_serving_parameters_are_400(acme: TenantSetup) -> None:
    for query in ({"k": 0}, {"k": 101}, {"k": "ten"}, {"available": "maybe"},
                  {"exclude": [f"item-{n}" for n in range(101)]}, {"exclude": ["x" * 201]},
                  {"max_per_category": 0}, {"max_per_category": 101}):
        response = acme.api().get("/api/v1/recommendations/users/u1", query)
        assert response.status_code == 400
        assert list(response.json()["error"]["fields"]) == list(query)


def test_similar_items_through_pgvector(acme: TenantSetup) -> None:
    _setup(acme)
    response = acme.api().get("/api/v1/items/space-1/similar", {"k": 2, "available": "false"})
    assert response.status_code == 200
    similar = [row["item"] for row in response.json()["items"]]
    assert similar == ["space-3", "space-2"]
    available = acme.api().get("/api/v1/items/space-1/similar", {"k": 2}).json()["items"]
    assert [row["item"] for row in available] == ["space-2", "love-2"]
    assert available[0]["score"] > available[1]["score"]
    add_items(acme, [item_row("new")])
    assert acme.api().get("/api/v1/items/new/similar").status_code == 409


def test_similar_items_never_cross_tenants(acme: TenantSetup, globex: TenantSetup) -> None:
    _setup(acme)
    add_items(globex, [item_row("g-1", "Globex book"), item_row("g-2", "Another")])
    # Globex's vectors are the closest possible to acme's Dune.
    set_embeddings(globex, {"g-1": [1, 0, 0], "g-2": [1, 0.01, 0]})
    similar = acme.api().get("/api/v1/items/space-1/similar", {"k": 10, "available": "false"})
    assert {row["item"] for row in similar.json()["items"]} == set(EMBEDDINGS) - {"space-1"}
    theirs = globex.api().get("/api/v1/items/g-1/similar", {"k": 10}).json()["items"]
    assert [row["item"] for row in theirs] == ["g-2"]
    # Serving a globex user never reaches acme's items either.
    add_events(globex, [("gu", "g-1", "view")])
    assert {row["item"] for row in _served(globex, "gu", k=10)} == {"g-2"}


def test_rerank_orders_candidates_for_the_user(acme: TenantSetup) -> None:
    _setup(acme)
    add_events(acme, [("reader", "space-1", "view")])
    precompute(acme, {"reader": ["crime-1"]})
    response = acme.api().post("/api/v1/recommendations/rerank", {
        "user": "reader", "items": ["love-1", "space-2", "crime-1"]}, format="json")
    assert response.status_code == 200
    rows = response.json()["items"]
    assert [row["item"] for row in rows] == ["crime-1", "space-2", "love-1"]
    assert [row["source"] for row in rows] == ["precomputed", "content", "content"]
    cold = acme.api().post("/api/v1/recommendations/rerank", {
        "user": "new", "items": ["love-1", "love-2"]}, format="json").json()["items"]
    assert [row["item"] for row in cold] == ["love-2", "love-1"]  # by popularity
    unknown = acme.api().post("/api/v1/recommendations/rerank", {
        "user": "reader", "items": ["love-1", "zzz"]}, format="json")
    assert unknown.status_code == 400
    assert list(unknown.json()["error"]["fields"]) == ["items[1]"]


def test_impressions_and_click_through_by_day(acme: TenantSetup) -> None:
    _setup(acme)
    first = acme.api().get("/api/v1/recommendations/users/u1", {"k": 2}).json()
    acme.api().get("/api/v1/recommendations/users/u2", {"k": 2})
    with tenant_context(acme.tenant.pk):
        assert Impression.objects.count() == 4
        assert set(Impression.objects.filter(request_id=first["request_id"])
                   .values_list("position", flat=True)) == {1, 2}
    clicked = first["items"][0]["item"]
    add_events(acme, [{"event_id": "c1", "user": "u1", "item": clicked, "kind": "click"},
                      # Not shown to u2: does not count.
                      {"event_id": "c2", "user": "u2", "item": "love-1", "kind": "click"}])
    days = acme.api().get("/api/v1/recommendations/ctr", {"days": 3}).json()
    assert len(days) == 3
    assert days[-1] == {"day": timezone.now().date().isoformat(), "impressions": 4,
                        "clicks": 1, "ctr": 0.25}
    assert days[0]["impressions"] == 0
    assert days[0]["ctr"] is None
    # A click more than a day after the impression does not count.
    with tenant_context(acme.tenant.pk):
        Impression.objects.update(served_at=timezone.now() - timedelta(days=2))
        assert sum(day.clicks for day in ctr_by_day(days=5)) == 0


@pytest.fixture
def planned_as_at_scale(db: None) -> None:
    """Plans as on a large catalogue: a table this small would be scanned and sorted exactly,
    so the planner is steered to the HNSW index (for this test's transaction only)."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_sort = off")


def _crowd(setup: TenantSetup, count: int, near: list[float], spread: float = 0.05,
           dimensions: int = 3) -> None:
    """``count`` items of ``setup``'s tenant whose embeddings lie around ``near``: ``spread``
    times uniform noise in ``dimensions`` further coordinates."""
    rng = np.random.default_rng(0)
    add_items(setup, [item_row(f"crowd-{n}", f"Crowd {n}") for n in range(count)])
    set_embeddings(setup, {f"crowd-{n}": [*near, *(rng.random(dimensions) * spread)]
                           for n in range(count)})


def _ef_search() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW hnsw.ef_search")
        return str(cursor.fetchone()[0])


def test_content_lists_survive_a_shared_index_crowded_by_another_tenant(
        acme: TenantSetup, globex: TenantSetup, planned_as_at_scale: None) -> None:
    """The HNSW index is shared by every tenant and a scan yields a bounded number of
    candidates (``hnsw.ef_search``: 40, then 400) before the tenant filter: when
    more of another tenant's items than that crowd the neighbourhood, the caller's own
    nearest items must still come back."""
    _setup(acme)
    _crowd(globex, 500, [1, 0, 0])  # all nearer to Dune than Hyperion is
    add_events(acme, [("reader", "space-1", "purchase")])
    served = _served(acme, "reader", k=2)
    assert [row["item"] for row in served] == ["space-2", "love-2"]
    assert [row["source"] for row in served] == ["content", "content"]
    similar = acme.api().get("/api/v1/items/space-1/similar", {"k": 2}).json()["items"]
    assert [row["item"] for row in similar] == ["space-2", "love-2"]


def test_content_lists_survive_a_selective_filter(acme: TenantSetup,
                                                  planned_as_at_scale: None) -> None:
    """A category filter applied after the index's candidates: the nearest items of the
    category still come back, not the popular ones; the wider scan's setting does not
    outlive it."""
    _setup(acme)
    _crowd(acme, 200, [1, 0, 0])
    add_events(acme, [("reader", "space-1", "purchase")])
    assert _ef_search() == "40"
    served = _served(acme, "reader", k=2, category="romance")
    assert [(row["item"], row["source"]) for row in served] == [("love-2", "content"),
                                                                 ("love-1", "content")]
    assert _ef_search() == "40"


@pytest.mark.django_db(transaction=True)
def test_lists_longer_than_the_default_scan_come_from_the_wider_scan(
        acme: TenantSetup) -> None:
    """A scan yields at most ``hnsw.ef_search`` candidates, 40 by default: fifty nearest
    items come from the scan with 400 candidates, in exact order, and no exact search is
    needed."""
    with connection.cursor() as cursor:
        # Rolled-back and flushed rows of earlier tests stay in the HNSW graph until a vacuum,
        # taking candidate places; and the planner is steered to the index as on a large
        # catalogue (a table this small would be scanned and sorted).
        cursor.execute(f"VACUUM {Item._meta.db_table}")  # noqa: S608
        cursor.execute("SET enable_seqscan = off")
        cursor.execute("SET enable_sort = off")
    try:
        rng = np.random.default_rng(0)
        vectors = {f"b-{n}": list(rng.random(30)) for n in range(60)}
        seen = list(rng.random(30))
        add_items(acme, [item_row(key) for key in [*vectors, "seen"]])
        set_embeddings(acme, {**vectors, "seen": seen})
        add_events(acme, [("reader", "seen", "purchase")])
        with CaptureQueriesContext(connection) as queries:
            served = _served(acme, "reader", k=50)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET enable_seqscan")
            cursor.execute("RESET enable_sort")
    profile = np.asarray(unit(seen))
    expected = sorted(vectors, key=lambda key: -float(np.dot(profile, unit(vectors[key]))))
    assert [row["item"] for row in served] == expected[:50]
    assert {row["source"] for row in served} == {"content"}
    statements = [query["sql"] for query in queries.captured_queries]
    assert "SET LOCAL hnsw.ef_search = 400" in statements
    assert not any("+ 0.0" in sql for sql in statements)
    assert _ef_search() == "40"
