"""Fetching and reading RSS/Atom feeds: HTTP and parsing only, no database.

- The URL is checked against private, loopback and link-local addresses (SSRF) when the feed
  is registered, before every poll and on every redirect hop, with the webhooks' check
  (``webhooks.urlcheck``), and each request connects to the address that was checked (no
  second DNS lookup). Feeds may use plain http (many news feeds still do); the address check
  is the same.
- Conditional GET: the last response's ``ETag`` and ``Last-Modified`` are sent back, and a
  ``304 Not Modified`` costs nothing.
- A malformed feed is refused as a whole (feedparser's "bozo" flag, except for a mislabelled
  encoding or content type, which it recovers from exactly): an entry list cut short by broken
  XML must not be stored as if it were the feed.
"""

from __future__ import annotations

import calendar
import hashlib
import html
import http.client
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.utils.html import strip_tags

from webhooks.urlcheck import (
    MAX_REDIRECTS,
    CheckedUrl,
    UnsafeUrl,
    check_webhook_url,
    pinned_request,
)

MAX_FEED_BYTES = 10 * 1024 * 1024
TIMEOUT_SECONDS = 15
USER_AGENT = "AIPlatform-FinanceFeeds/1"
EXTERNAL_ID_MAX_LENGTH = 300


class FeedError(Exception):
    """The feed could not be fetched or read; the message is shown to the user."""


def check_feed_url(url: str) -> CheckedUrl:
    """Raise ``UnsafeUrl`` for URLs that are not http(s) or resolve to non-public addresses.

    The webhooks' check insists on https for webhooks; for feeds only the address matters."""
    return check_webhook_url(url, require_https=False)


@dataclass(frozen=True)
class Fetched:
    not_modified: bool
    body: bytes = b""
    content_type: str = ""
    etag: str = ""
    modified: str = ""


def feed_fetch(url: str, *, etag: str = "", modified: str = "") -> Fetched:
    headers = {"User-Agent": USER_AGENT,
               "Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9, "
                         "text/xml;q=0.8, */*;q=0.1"}
    if etag:
        headers["If-None-Match"] = etag
    if modified:
        headers["If-Modified-Since"] = modified
    for hop in range(MAX_REDIRECTS + 1):
        try:
            checked = check_feed_url(url)
        except UnsafeUrl as error:
            if hop:
                raise FeedError(f"The feed redirects to a refused address: {error}") from error
            raise FeedError(str(error)) from error
        try:
            response = pinned_request(checked, headers=headers, timeout=TIMEOUT_SECONDS,
                                      max_bytes=MAX_FEED_BYTES)
        except (http.client.HTTPException, OSError, ValueError) as error:
            raise FeedError(f"The feed could not be fetched: {error}") from error
        location = response.headers.get("Location")
        if response.status in (301, 302, 303, 307, 308) and location:
            url = urljoin(url, location)
            continue
        if response.status == 304:
            return Fetched(not_modified=True, etag=etag, modified=modified)
        if not 200 <= response.status < 300:
            raise FeedError(f"The feed answered HTTP {response.status}.")
        if response.truncated:
            raise FeedError(f"The feed is larger than {MAX_FEED_BYTES // (1024 * 1024)} MB.")
        return Fetched(not_modified=False, body=response.body,
                       content_type=response.headers.get("Content-Type", ""),
                       etag=(response.headers.get("ETag") or "")[:500],
                       modified=(response.headers.get("Last-Modified") or "")[:100])
    raise FeedError(f"The feed redirects more than {MAX_REDIRECTS} times.")


def _text(value: str) -> str:
    return " ".join(html.unescape(strip_tags(value or "")).split())


def _entry_body(entry: Any) -> str:
    contents = entry.get("content") or []
    for content in contents:
        if content.get("value"):
            return _text(content["value"])
    return _text(entry.get("summary", ""))


def _entry_published(entry: Any) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        parsed = entry.get(key)
        if parsed:
            return datetime.fromtimestamp(calendar.timegm(parsed), tz=UTC)
    return None


def _entry_id(entry: Any) -> str:
    identifier = (entry.get("id") or entry.get("link") or "").strip()
    if not identifier or len(identifier) > EXTERNAL_ID_MAX_LENGTH:
        seed = identifier or f"{entry.get('title', '')}\n{entry.get('summary', '')}"
        identifier = "sha256:" + hashlib.sha256(seed.encode()).hexdigest()
    return identifier


_BENIGN = ("CharacterEncodingOverride", "NonXMLContentType")
_URL_VALIDATOR = URLValidator(schemes=["http", "https"])


def _link(entry: Any) -> str:
    link = (entry.get("link") or "").strip()
    if len(link) > 1000:
        return ""
    try:
        _URL_VALIDATOR(link)
    except ValidationError:
        return ""
    return link


@dataclass(frozen=True)
class ParsedFeed:
    title: str
    rows: list[dict[str, Any]]
    skipped: int  # entries with neither a title nor any text


def feed_parse(body: bytes, *, content_type: str = "", now: datetime) -> ParsedFeed:
    """The feed's entries as document rows (see ``services.documents_ingest``)."""
    # Imported here on purpose: feedparser takes about 90 ms to import (measured with
    # ``python -X importtime``) and only the poll task parses feeds, while every web process
    # imports this module through the services.
    import feedparser

    headers = {"content-type": content_type} if content_type else {}
    parsed = feedparser.parse(body, response_headers=headers)
    problem = parsed.get("bozo_exception") if parsed.get("bozo") else None
    if problem is not None and type(problem).__name__ not in _BENIGN:
        raise FeedError(f"The feed is malformed: {problem}")
    if not parsed.get("version"):
        raise FeedError("The response is not an RSS or Atom feed.")
    rows: list[dict[str, Any]] = []
    skipped = 0
    for entry in parsed.entries:
        title, text = _text(entry.get("title", "")), _entry_body(entry)
        if not title and not text:
            skipped += 1
            continue
        published = _entry_published(entry)
        rows.append({
            "external_id": _entry_id(entry),
            "url": _link(entry),
            "title": title,
            "body": text,
            # Feeds do carry future dates (time zones got wrong); they count as now.
            "published_at": min(published, now) if published else now,
            "language": (parsed.feed.get("language") or "")[:16],
        })
    return ParsedFeed(title=_text(parsed.feed.get("title", ""))[:200], rows=rows,
                      skipped=skipped)
