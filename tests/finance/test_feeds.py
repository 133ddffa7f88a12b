"""RSS/Atom feeds served by a real local HTTP server: entries become documents, conditional GET,
malformed feeds and HTTP errors recorded with nothing half-written, SSRF checks (redirects
too), the beat task's claim of due feeds; the feeds endpoint."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from apps.finance_sentiment import tasks
from apps.finance_sentiment.models import Document, Feed
from apps.finance_sentiment.services import feed_create, feed_poll, feeds_due_claim
from config.redis import redis_client
from tenancy.context import tenant_context
from tests.conftest import TenantSetup
from tests.finance.conftest import FeedServer, documents, rss, watch

ITEMS = [
    {"title": "Acme Corp beats estimates", "link": "https://news.example.com/a",
     "guid": "urn:news:a", "pubDate": "Wed, 01 May 2024 10:00:00 GMT",
     "description": "&lt;p&gt;Shares of &lt;b&gt;$ACME&lt;/b&gt; jump&lt;/p&gt;"},
    {"title": "Globex misses", "link": "https://news.example.com/b",
     "pubDate": "Wed, 01 May 2024 11:00:00 +0200"},
    {"description": "Only a description, no title", "guid": "urn:news:c"},
    {"link": "https://news.example.com/empty"},  # neither title nor text: skipped
]

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Atom news</title><id>urn:feed</id><updated>2024-05-01T12:00:00Z</updated>
  <entry><title>Initech layoffs</title><id>urn:atom:1</id>
    <link href="https://atom.example.com/1"/><updated>2024-05-01T12:00:00Z</updated>
    <content type="html">&lt;p&gt;Initech cuts 10%&lt;/p&gt;</content></entry>
</feed>"""


@pytest.fixture
def feed(acme: TenantSetup, feed_server: FeedServer, allow_loopback: None) -> Feed:
    with tenant_context(acme.tenant.pk):
        return feed_create(url=feed_server.url, name="")


def poll(setup: TenantSetup, feed: Feed):
    with tenant_context(setup.tenant.pk):
        result = feed_poll(feed=feed)
        feed.refresh_from_db()
    return result


def test_entries_become_documents_once(acme: TenantSetup, feed: Feed,
                                       feed_server: FeedServer) -> None:
    watch(acme, "GLBX", "Globex")
    feed_server.body = rss(*ITEMS)
    result = poll(acme, feed)
    assert (result.status, result.created, result.duplicates, result.skipped) == ("ok", 3, 0, 1)
    first, second, third = documents(acme)
    assert (first.source, first.external_id) == (f"feed:{feed.pk}", "urn:news:a")
    assert first.body == "Shares of $ACME jump"  # HTML stripped and unescaped
    assert first.tickers == ["ACME"]
    assert first.published_at == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert first.url == "https://news.example.com/a"
    assert first.language == "en"
    assert second.external_id == "https://news.example.com/b"  # no guid: the link
    assert second.published_at == datetime(2024, 5, 1, 9, tzinfo=UTC)
    assert second.tickers == ["GLBX"]
    assert (third.title, third.body) == ("", "Only a description, no title")
    assert (feed.name, feed.last_error, feed.documents_created) == ("Market news", "", 3)
    assert feed.next_poll_at > feed.last_polled_at
    again = poll(acme, feed)
    assert (again.created, again.duplicates) == (0, 3)
    assert len(documents(acme)) == 3


def test_atom_feeds_too(acme: TenantSetup, feed: Feed, feed_server: FeedServer) -> None:
    feed_server.body, feed_server.content_type = ATOM, "application/atom+xml"
    assert poll(acme, feed).created == 1
    [document] = documents(acme)
    assert (document.title, document.body) == ("Initech layoffs", "Initech cuts 10%")


def test_conditional_get_with_etag_and_last_modified(acme: TenantSetup, feed: Feed,
                                                     feed_server: FeedServer) -> None:
    feed_server.body = rss(*ITEMS[:1])
    feed_server.etag = '"v1"'
    feed_server.last_modified = "Wed, 01 May 2024 10:00:00 GMT"
    assert poll(acme, feed).created == 1
    assert (feed.etag, feed.modified) == ('"v1"', "Wed, 01 May 2024 10:00:00 GMT")
    result = poll(acme, feed)
    assert result.status == "not_modified"
    request = feed_server.requests[-1]
    assert request["If-None-Match"] == '"v1"'
    assert request["If-Modified-Since"] == "Wed, 01 May 2024 10:00:00 GMT"
    assert feed.last_error == ""
    feed_server.body, feed_server.etag = rss(*ITEMS[:2]), '"v2"'
    assert poll(acme, feed).created == 1
    assert feed.etag == '"v2"'


@pytest.mark.parametrize(("body", "fragment"), [
    # The first entry is complete, then the XML breaks: nothing may be stored.
    (rss(*ITEMS[:2])[:-60], "malformed"),
    (b"<rss><channel><item><title>Unclosed</item></channel>", "malformed"),
    (b"<html><body>Not a feed</body></html>", "not an RSS or Atom feed"),
    (b"", "not an RSS or Atom feed"),
])
def test_a_malformed_feed_records_the_error_and_writes_nothing(
    acme: TenantSetup, feed: Feed, feed_server: FeedServer, body: bytes, fragment: str
) -> None:
    feed_server.body = body
    result = poll(acme, feed)
    assert result.status == "error"
    assert fragment in feed.last_error
    assert feed.consecutive_failures == 1
    assert documents(acme) == []
    assert feed.documents_created == 0
    # It is retried later, backing off, and recovers.
    assert feed.next_poll_at - feed.last_polled_at == timedelta(minutes=feed.poll_minutes * 2)
    feed_server.body = rss(*ITEMS[:1])
    assert poll(acme, feed).created == 1
    assert (feed.last_error, feed.consecutive_failures) == ("", 0)


def test_http_errors_are_recorded(acme: TenantSetup, feed: Feed,
                                  feed_server: FeedServer) -> None:
    feed_server.status = 503
    result = poll(acme, feed)
    assert (result.status, feed.last_error) == ("error", "The feed answered HTTP 503.")


def test_feed_urls_must_be_public_even_after_redirects(
    acme: TenantSetup, feed_server: FeedServer, settings
) -> None:
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = False
    from apps.finance_sentiment.services import FinanceError

    with tenant_context(acme.tenant.pk), pytest.raises(FinanceError) as refused:
        feed_create(url=feed_server.url)
    assert "private" in str(refused.value) or "resolve" in str(refused.value)
    response = acme.api().post("/api/v1/finance/feeds",
                               {"url": "http://169.254.169.254/latest/meta-data"}, format="json")
    assert response.status_code == 400
    assert "url" in response.json()["error"]["fields"]
    # A feed registered while allowed, then redirecting to a private address, is refused.
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = True
    with tenant_context(acme.tenant.pk):
        feed = feed_create(url=f"{feed_server.base_url}/redirect?to=http://10.0.0.1/feed")
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = False
    result = poll(acme, feed)
    assert result.status == "error"
    assert "address" in feed.last_error


def test_beat_claims_due_feeds_of_every_tenant_once(
    acme: TenantSetup, globex: TenantSetup, feed_server: FeedServer, allow_loopback: None
) -> None:
    with tenant_context(acme.tenant.pk):
        due = feed_create(url=feed_server.url)
        later = feed_create(url=feed_server.url + "?later")
        Feed.objects.filter(pk=later.pk).update(next_poll_at=datetime.now(UTC) + timedelta(hours=1))
        feed_create(url=feed_server.url + "?off", is_active=False)
    with tenant_context(globex.tenant.pk):
        other = feed_create(url=feed_server.url)
    claimed = feeds_due_claim()
    assert sorted(claimed) == sorted([(due.pk, acme.tenant.pk), (other.pk, globex.tenant.pk)])
    assert feeds_due_claim() == []  # pushed to their next poll
    # The task polls a claimed feed in its tenant's context.
    feed_server.body = rss(*ITEMS[:1])
    assert tasks.poll_feed.apply(args=[other.pk, globex.tenant.pk]).get()["created"] == 1
    with tenant_context(globex.tenant.pk):
        assert Document.objects.count() == 1
    with tenant_context(acme.tenant.pk):
        assert Document.objects.count() == 0
        Feed.objects.filter(pk=due.pk).update(next_poll_at=None)
    redis_client().delete("default")
    assert tasks.poll_feeds.apply().get() == 1
    assert redis_client().llen("default") == 1  # one poll task per due feed


def test_feeds_api(acme: TenantSetup, feed_server: FeedServer, allow_loopback: None) -> None:
    api = acme.api()
    created = api.post("/api/v1/finance/feeds", {"url": feed_server.url, "name": "Wire",
                                                 "poll_minutes": 10}, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["name"], body["poll_minutes"], body["is_active"]) == ("Wire", 10, True)
    url = f"/api/v1/finance/feeds/{body['id']}"
    duplicate = api.post("/api/v1/finance/feeds", {"url": feed_server.url}, format="json")
    assert duplicate.status_code == 400
    assert api.patch(url, {"poll_minutes": 2}, format="json").status_code == 400
    assert api.patch(url, {"is_active": False}, format="json").json()["is_active"] is False
    redis_client().delete("default")
    assert api.post(f"{url}/poll").status_code == 202
    assert [f["id"] for f in api.get("/api/v1/finance/feeds").json()["results"]] == [body["id"]]
    assert api.delete(url).status_code == 204
    assert api.get(url).status_code == 404
