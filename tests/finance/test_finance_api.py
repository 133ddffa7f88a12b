"""``/api/v1/finance``: watchlist, documents (list filters, detail with scores, delete), scores,
scoring jobs, the OpenAPI schema; and cross-tenant: another tenant's key reads, changes and
deletes nothing of acme's, with the same 404 as a missing object."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from apps.finance_sentiment.models import (
    Alert,
    AlertRule,
    Document,
    Feed,
    SentimentRollup,
    WatchlistEntry,
)
from apps.finance_sentiment.services import alert_rule_create, alert_rules_evaluate, feed_create
from jobs.models import Job
from tenancy.context import tenant_context
from tests.conftest import TenantSetup, error_of
from tests.finance.conftest import doc, ingest, score, watch

BASE = "/api/v1/finance"
T0 = datetime(2024, 5, 1, 9, tzinfo=UTC)


def test_watchlist_crud(acme: TenantSetup) -> None:
    api = acme.api()
    created = api.post(f"{BASE}/watchlist", {"ticker": "$aapl", "company_name": "Apple",
                                             "aliases": ["Apple Inc", "apple inc", " "]},
                       format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["ticker"], body["aliases"]) == ("AAPL", ["Apple Inc"])
    duplicate = api.post(f"{BASE}/watchlist", {"ticker": "AAPL"}, format="json")
    assert duplicate.status_code == 400
    assert duplicate.json()["error"]["fields"] == {"ticker": ["already on the watchlist"]}
    invalid = api.post(f"{BASE}/watchlist", {"ticker": "not valid"}, format="json")
    assert "ticker" in invalid.json()["error"]["fields"]
    url = f"{BASE}/watchlist/{body['id']}"
    changed = api.patch(url, {"aliases": ["iPhone maker"]}, format="json")
    assert changed.json()["aliases"] == ["iPhone maker"]
    assert [e["ticker"] for e in api.get(f"{BASE}/watchlist").json()] == ["AAPL"]
    overview = api.get(f"{BASE}/watchlist/overview").json()
    assert overview == [{"ticker": "AAPL", "company_name": "Apple", "index": None, "volume": 0,
                         "sparkline": [None] * 7, "open_alerts": 0}]
    assert api.delete(url).status_code == 204
    assert api.get(url).status_code == 404


def test_watchlist_overview_reads_recent_rollups(acme: TenantSetup) -> None:
    watch(acme, "ACME")
    now = datetime.now(UTC)
    stamps = [now - timedelta(hours=1), now - timedelta(hours=2), now - timedelta(days=3)]
    ids = ingest(acme, [doc("ACME", stamp) for stamp in stamps])
    score(acme, dict(zip(ids, ["positive", "positive", "negative"], strict=True)))
    [row] = acme.api().get(f"{BASE}/watchlist/overview").json()
    assert (row["index"], row["volume"]) == (1.0, 2)  # the last 24 hours
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    expected: list[float | None] = [None] * 7
    for stamp, value in zip(stamps, [1.0, 1.0, -1.0], strict=True):
        expected[6 - (today - stamp.replace(hour=0, minute=0, second=0, microsecond=0)).days] \
            = value
    assert row["sparkline"] == expected


def test_documents_list_filters_and_detail(acme: TenantSetup) -> None:
    ids = ingest(acme, [
        doc("ACME", T0, body="body one"),
        doc("GLBX", T0 + timedelta(hours=1)),
        doc("ACME", T0 + timedelta(days=1)),
    ])
    ingest(acme, [{"external_id": "c1", "title": "From CSV", "published_at": T0.isoformat()}],
           source="csv")
    score(acme, {ids[0]: "negative", ids[1]: "positive"})
    score(acme, {ids[0]: "neutral"})
    api = acme.api()

    def listed(**query) -> list[int]:
        response = api.get(f"{BASE}/documents", query)
        assert response.status_code == 200, response.content
        return [row["id"] for row in response.json()["results"]]

    assert listed(source="api") == [ids[2], ids[1], ids[0]]  # newest published first
    assert len(listed()) == 4
    assert listed(ticker="acme") == [ids[2], ids[0]]
    assert listed(label="neutral") == [ids[0]]
    assert listed(**{"from": "2024-05-01T09:30:00Z", "to": "2024-05-02"}) == [ids[1]]
    assert len(listed(source="csv")) == 1
    assert listed(scored="false")[:1] == [ids[2]]
    assert "body" not in api.get(f"{BASE}/documents").json()["results"][0]
    assert api.get(f"{BASE}/documents", {"label": "angry"}).status_code == 400
    assert api.get(f"{BASE}/documents", {"from": "tomorrow"}).status_code == 400
    detail = api.get(f"{BASE}/documents/{ids[0]}").json()
    assert (detail["body"], detail["label"], detail["tickers"]) == ("body one", "neutral",
                                                                    ["ACME"])
    assert [s["label"] for s in detail["scores"]] == ["neutral", "negative"]
    assert detail["scores"][0]["probabilities"]["neutral"] == 0.6
    page = api.get(f"{BASE}/documents", {"page_size": 2}).json()
    assert len(page["results"]) == 2
    assert page["next"]


def test_scores_list(acme: TenantSetup) -> None:
    ids = ingest(acme, [doc("ACME", T0), doc("GLBX", T0)])
    score(acme, {ids[0]: "negative", ids[1]: "positive"})
    api = acme.api()
    rows = api.get(f"{BASE}/scores").json()["results"]
    assert {row["document"] for row in rows} == set(ids)
    [row] = api.get(f"{BASE}/scores", {"ticker": "GLBX"}).json()["results"]
    assert (row["label"], row["score"], row["document_source"]) == ("positive", 0.75, "api")
    assert api.get(f"{BASE}/scores", {"document": ids[0]}).json()["results"][0]["label"] == \
        "negative"
    assert api.get(f"{BASE}/scores/{row['id']}").json()["id"] == row["id"]


def test_delete_document_updates_rollups(acme: TenantSetup) -> None:
    [document_id] = ingest(acme, [doc("ACME", T0)])
    score(acme, {document_id: "negative"})
    assert acme.api().delete(f"{BASE}/documents/{document_id}").status_code == 204
    with tenant_context(acme.tenant.pk):
        assert not Document.objects.exists()
        assert all(r.total == 0 for r in SentimentRollup.objects.all())


def test_score_endpoint_submits_debounced_jobs(acme: TenantSetup) -> None:
    api = acme.api()
    nothing = api.post(f"{BASE}/score", {}, format="json")
    assert nothing.status_code == 409
    assert nothing.json()["error"]["code"] == "nothing_to_score"
    ingest(acme, [doc("ACME", T0), doc("ACME", T0 + timedelta(days=3))])
    first = api.post(f"{BASE}/score", {"selection": "unscored"}, format="json")
    assert first.status_code == 201, first.content
    job = first.json()
    assert (job["app"], job["kind"], job["status"]) == ("finance_sentiment", "score_documents",
                                                        "queued")
    again = api.post(f"{BASE}/score", {}, format="json")
    assert (again.status_code, again.json()["id"]) == (200, job["id"])
    ranged = api.post(f"{BASE}/score", {"selection": "range", "from": "2024-05-01",
                                        "to": "2024-05-02T00:00:00+00:00"}, format="json")
    assert ranged.status_code == 201, ranged.content
    assert ranged.json()["params"] == {"selection": "range", "batch_size": 64,
                                       "from": "2024-05-01T00:00:00+00:00",
                                       "to": "2024-05-02T00:00:00+00:00"}
    keyed = {"HTTP_IDEMPOTENCY_KEY": "rescore-may"}
    body = {"selection": "range", "from": "2024-05-01", "to": "2024-05-05"}
    one = api.post(f"{BASE}/score", body, format="json", **keyed)
    two = api.post(f"{BASE}/score", body, format="json", **keyed)
    assert (one.status_code, two.status_code, one.json()["id"]) == (201, 200, two.json()["id"])
    empty = api.post(f"{BASE}/score", {"selection": "range", "from": "2020-01-01",
                                       "to": "2020-02-01"}, format="json")
    assert empty.status_code == 409


@pytest.mark.parametrize(("payload", "field"), [
    ({"selection": "range"}, "from"),
    ({"selection": "range", "from": "2024-05-02", "to": "2024-05-01"}, "to"),
    ({"selection": "range", "from": "someday", "to": "2024-05-01"}, "from"),
    ({"selection": "dataset"}, "dataset"),
    ({"selection": "unscored", "dataset": 1}, "dataset"),
    ({"selection": "everything"}, "selection"),
])
def test_score_endpoint_validation(acme: TenantSetup, payload: dict, field: str) -> None:
    ingest(acme, [doc("ACME", T0)])
    response = acme.api().post(f"{BASE}/score", payload, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]
    with tenant_context(acme.tenant.pk):
        assert not Job.objects.exists()


def test_read_scope_cannot_write(acme: TenantSetup) -> None:
    from accounts.services import api_key_create

    with tenant_context(acme.tenant.pk):
        reader = api_key_create(name="reader", scopes=["read"], created_by_id=None)
    api = acme.api(reader.raw_key)
    assert api.get(f"{BASE}/documents").status_code == 200
    response = api.post(f"{BASE}/documents", {"documents": [{"title": "x"}]}, format="json")
    assert response.status_code == 403
    assert api.post(f"{BASE}/watchlist", {"ticker": "X"}, format="json").status_code == 403


def test_finance_endpoints_are_in_the_openapi_schema(acme: TenantSetup) -> None:
    schema = acme.api().get("/api/v1/schema/", {"format": "json"}).json()
    paths = set(schema["paths"])
    for path in ("/api/v1/finance/documents", "/api/v1/finance/documents/upload",
                 "/api/v1/finance/documents/{id}", "/api/v1/finance/scores",
                 "/api/v1/finance/trends", "/api/v1/finance/alerts/{id}/acknowledge",
                 "/api/v1/finance/alerts/{id}/resolve", "/api/v1/finance/rules/{id}",
                 "/api/v1/finance/watchlist", "/api/v1/finance/feeds/{id}/poll",
                 "/api/v1/finance/score"):
        assert path in paths, path
    assert "truncated" in schema["paths"]["/api/v1/finance/documents"]["post"]["description"]


def test_unauthenticated_requests_are_refused(db: None) -> None:
    from rest_framework.test import APIClient

    assert APIClient().get(f"{BASE}/documents").status_code == 401


# --- Cross-tenant ------------------------------------------------------------------------------


@pytest.fixture
def acme_objects(acme: TenantSetup, feed_server, allow_loopback: None) -> dict[str, int]:
    watch(acme, "ACME", "Acme Corp")
    ids = ingest(acme, [doc("ACME", datetime.now(UTC) - timedelta(hours=1)) for _ in range(5)])
    score(acme, dict.fromkeys(ids, "negative"))
    with tenant_context(acme.tenant.pk):
        feed = feed_create(url=feed_server.url)
        rule = alert_rule_create(name="r", ticker="ACME", kind="negative_share", threshold=0.5,
                                 min_volume=1, notify_webhook=False)
        [alert] = alert_rules_evaluate(tickers=["ACME"])
        from apps.finance_sentiment.models import SentimentScore

        score_id = SentimentScore.objects.values_list("pk", flat=True).first()
    return {"watchlist": _entry_id(acme), "feeds": feed.pk, "documents": ids[0],
            "rules": rule.pk, "alerts": alert.pk, "scores": score_id}


def _entry_id(setup: TenantSetup) -> int:
    with tenant_context(setup.tenant.pk):
        return WatchlistEntry.objects.get().pk


def _state(setup: TenantSetup) -> tuple:
    with tenant_context(setup.tenant.pk):
        return (
            list(WatchlistEntry.objects.values_list("ticker", "aliases")),
            list(Feed.objects.values_list("url", "is_active", "poll_minutes")),
            list(Document.objects.order_by("id").values_list("id", "label")),
            list(AlertRule.objects.values_list("name", "threshold", "is_active")),
            list(Alert.objects.values_list("status", "acknowledged_at")),
            list(SentimentRollup.objects.values_list("ticker", "negative")),
        )


CHANGES = {
    "watchlist": {"aliases": ["stolen"]},
    "feeds": {"is_active": False},
    "rules": {"threshold": 0.9},
}


@pytest.mark.parametrize("resource", ["watchlist", "feeds", "documents", "rules", "alerts",
                                      "scores"])
def test_another_tenant_cannot_read_change_or_delete(
    acme: TenantSetup, globex: TenantSetup, acme_objects: dict[str, int], resource: str
) -> None:
    before = _state(acme)
    url = f"{BASE}/{resource}/{acme_objects[resource]}"
    thief = globex.api()
    missing = thief.get(f"{BASE}/{resource}/999999999")
    response = thief.get(url)
    assert response.status_code == 404
    assert error_of(response) == error_of(missing)  # the same answer as a missing object
    if resource in CHANGES:
        assert thief.patch(url, CHANGES[resource], format="json").status_code == 404
        assert thief.put(url, CHANGES[resource], format="json").status_code == 404
    if resource in ("watchlist", "feeds", "documents", "rules"):
        assert thief.delete(url).status_code == 404
    if resource == "alerts":
        assert thief.post(f"{url}/acknowledge").status_code == 404
        assert thief.post(f"{url}/resolve").status_code == 404
    if resource == "feeds":
        assert thief.post(f"{url}/poll").status_code == 404
    listed = thief.get(f"{BASE}/{resource}").json()
    rows = listed if isinstance(listed, list) else listed["results"]
    assert rows == []
    assert _state(acme) == before
    assert acme.api().get(url).status_code == 200


def test_another_tenant_sees_no_trends_overview_or_jobs(
    acme: TenantSetup, globex: TenantSetup, acme_objects: dict[str, int]
) -> None:
    thief = globex.api()
    trend = thief.get(f"{BASE}/trends", {"ticker": "ACME", "granularity": "hour"}).json()
    assert sum(point["total"] for point in trend["points"]) == 0
    assert acme.api().get(f"{BASE}/trends", {"ticker": "ACME", "granularity": "hour"}
                          ).json()["points"][-2:] != trend["points"][-2:]
    assert thief.get(f"{BASE}/watchlist/overview").json() == []
    assert thief.get(f"{BASE}/documents", {"ticker": "ACME"}).json()["results"] == []
    assert thief.get(f"{BASE}/scores", {"document": acme_objects["documents"]}
                     ).json()["results"] == []
    assert thief.post(f"{BASE}/score", {}, format="json").status_code == 409
    # globex's own document with acme's external id is a separate document.
    response = thief.post(f"{BASE}/documents", {"documents": [
        {"external_id": "doc-1", "title": "globex"}]}, format="json")
    assert response.json()["created"] == 1
