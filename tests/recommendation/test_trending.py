"""The trending list: decayed event counts over a window, through the API; a burst moves an
item to the top, events outside the window do not count, another tenant's events never do."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.conftest import TenantSetup
from tests.recommendation.conftest import add_events, add_items, item_row

pytestmark = pytest.mark.django_db


def _events(item: str, count: int, hours_ago: float, tag: str) -> list[dict]:
    at = (timezone.now() - timedelta(hours=hours_ago)).isoformat()
    return [{"event_id": f"{tag}-{item}-{n}", "user": f"u{n}", "item": item, "kind": "view",
             "occurred_at": at} for n in range(count)]


def _trending(setup: TenantSetup, **query: object) -> list[str]:
    response = setup.api().get("/api/v1/recommendations/trending", query)
    assert response.status_code == 200, response.json()
    items = response.json()["items"]
    assert all(row["source"] == "trending" for row in items)
    return [row["item"] for row in items]


def test_a_burst_moves_an_item_to_the_top(acme: TenantSetup) -> None:
    add_items(acme, [item_row("steady", categories=["a"]), item_row("new", categories=["b"]),
                     item_row("old", categories=["a"])])
    add_events(acme, _events("steady", 6, hours_ago=48, tag="s")
               + _events("old", 30, hours_ago=24 * 30, tag="o"))
    # Outside the default seven-day window, "old" does not count at all.
    assert _trending(acme) == ["steady"]
    assert _trending(acme, window_days=60, half_life_hours=720)[0] == "old"  # 15 against 5.7
    add_events(acme, _events("new", 3, hours_ago=1, tag="n"))
    # Three events an hour old outweigh six of two days (a day's half-life: 6/4 = 1.5 < 2.9).
    assert _trending(acme) == ["new", "steady"]
    # With a week's half-life, the six older events win again.
    assert _trending(acme, half_life_hours=168) == ["steady", "new"]
    assert _trending(acme, category="a") == ["steady"]
    assert _trending(acme, exclude=["new"]) == ["steady"]
    assert _trending(acme, k=1) == ["new"]


def test_another_tenants_events_never_count(acme: TenantSetup, globex: TenantSetup) -> None:
    add_items(acme, [item_row("x"), item_row("y")])
    add_items(globex, [item_row("x"), item_row("y"), item_row("theirs")])
    add_events(acme, _events("x", 2, hours_ago=1, tag="a"))
    add_events(globex, _events("y", 20, hours_ago=1, tag="g")
               + _events("theirs", 20, hours_ago=1, tag="t"))
    assert _trending(acme) == ["x"]
    assert set(_trending(globex)) == {"y", "theirs"}


def test_bad_trending_parameters_are_400_naming_the_field(acme: TenantSetup) -> None:
    for query in ({"k": 0}, {"window_days": 0}, {"window_days": 400}, {"half_life_hours": 0},
                  {"half_life_hours": "soon"}, {"exclude": [f"i{n}" for n in range(101)]}):
        response = acme.api().get("/api/v1/recommendations/trending", query)
        assert response.status_code == 400
        assert list(response.json()["error"]["fields"]) == list(query)
