"""The headline stream: the latest scored stories, most recently scored first, each story once
with its cluster size; a cursor for the ones scored since; bounded parameters (400 naming
them); another tenant sees none of it, through the API or the page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import TenantSetup
from tests.finance.conftest import doc, ingest, score, watch

API = "/api/v1/finance/stream"
PAGE = "/finance/stream/"
T0 = datetime(2024, 5, 1, 9, tzinfo=UTC)


def seed(setup: TenantSetup) -> dict[str, int]:
    """Three stories scored one after the other (the first with two copies) and one that is
    not scored yet."""
    watch(setup, "ACME", "Acme Corp")
    first = ingest(setup, [doc("ACME", T0, "Acme recalls its rockets after a launch failure",
                               url="https://news.example.com/recall", external_id=f"r{i}")
                           for i in range(3)])
    score(setup, dict.fromkeys(first, "negative"))
    [second] = ingest(setup, [doc("ACME", T0 - timedelta(days=2))])  # older news, scored later
    score(setup, {second: "positive"})
    [third] = ingest(setup, [doc("ACME", T0 + timedelta(hours=1))])
    score(setup, {third: "neutral"})
    [unscored] = ingest(setup, [doc("ACME", T0 + timedelta(hours=2))])
    return {"story": first[0], "second": second, "third": third, "unscored": unscored}


def test_latest_scored_stories_newest_first_with_cluster_sizes(acme: TenantSetup) -> None:
    ids = seed(acme)
    body = acme.api().get(API).json()
    results = body["results"]
    assert [item["id"] for item in results] == [ids["third"], ids["second"], ids["story"]]
    story = results[-1]
    assert story["cluster_size"] == 3  # the first document and its two copies, once
    assert story["label"] == "negative"
    assert story["score"] == pytest.approx(-0.6)
    assert story["url"] == "https://news.example.com/recall"
    assert story["topic"] is None
    assert story["tickers"] == ["ACME"]
    assert results[0]["cluster_size"] == 1
    assert body["cursor"] > 0
    limited = acme.api().get(API, {"limit": 1}).json()["results"]
    assert [item["id"] for item in limited] == [ids["third"]]


def test_the_cursor_returns_only_stories_scored_since(acme: TenantSetup) -> None:
    ids = seed(acme)
    api = acme.api()
    cursor = api.get(API).json()["cursor"]
    again = api.get(API, {"since": cursor}).json()
    assert again == {"cursor": cursor, "results": []}
    score(acme, {ids["unscored"]: "positive"})
    newer = api.get(API, {"since": cursor}).json()
    assert [item["id"] for item in newer["results"]] == [ids["unscored"]]
    assert newer["cursor"] > cursor
    assert api.get(API, {"since": newer["cursor"]}).json()["results"] == []
    # A rescored story comes again, with its new label.
    score(acme, {ids["second"]: "negative"})
    rescored = api.get(API, {"since": newer["cursor"]}).json()["results"]
    assert [(item["id"], item["label"]) for item in rescored] == [(ids["second"], "negative")]


@pytest.mark.parametrize(("query", "field"), [
    ({"since": -1}, "since"),
    ({"since": 2**53}, "since"),
    ({"since": "yesterday"}, "since"),
    ({"limit": 0}, "limit"),
    ({"limit": 101}, "limit"),
])
def test_bad_parameters_are_refused_naming_them(acme: TenantSetup, query: dict,
                                                field: str) -> None:
    response = acme.api().get(API, query)
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    page = acme.browser().get(PAGE, query)
    assert page.status_code == 400
    assert field in page.json()["errors"]


def test_the_page_fragment_and_the_watchlist_page(acme: TenantSetup) -> None:
    ids = seed(acme)
    browser = acme.browser()
    body = browser.get(PAGE).json()
    assert body["count"] == 3
    html = body["html"]
    assert html.index(f'id="headline-{ids["third"]}"') < html.index(
        f'id="headline-{ids["story"]}"')
    assert "and 2 similar" in html
    assert "Negative" in html
    assert 'href="https://news.example.com/recall"' in html
    assert browser.get(PAGE, {"since": body["cursor"]}).json()["count"] == 0
    overview = browser.get("/finance/").content.decode()
    assert 'data-testid="headline-stream"' in overview
    assert f'data-cursor="{body["cursor"]}"' in overview
    assert f'id="headline-{ids["story"]}"' in overview
    assert "js/finance-stream.js" in overview


def test_another_tenant_sees_no_headlines(acme: TenantSetup, globex: TenantSetup) -> None:
    seed(acme)
    assert globex.api().get(API).json() == {"cursor": 0, "results": []}
    assert globex.api().get(API, {"since": 0}).json()["results"] == []
    page = globex.browser().get(PAGE).json()
    assert page["count"] == 0
    assert '<li class="headline"' not in globex.browser().get("/finance/").content.decode()
    # Acme's own stream is untouched by the look.
    assert len(acme.api().get(API).json()["results"]) == 3
