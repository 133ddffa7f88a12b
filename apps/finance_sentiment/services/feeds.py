"""Writes of RSS/Atom feeds: registration, polling state and the entries they bring.

Fetching and parsing live in ``apps.finance_sentiment.feeds`` (HTTP and XML only, no
database, no tenant), which this module calls as ``feed_io``; this module owns what is
written: the feed rows, and the entries as documents through ``documents.documents_ingest``
(source ``feed:<id>``, so a re-fetched entry is a duplicate, not a second document).

A poll never half-writes: the network call runs outside any transaction; the entries and the
feed's new state (validators, counters, ``next_poll_at``) are written in one. A feed that
cannot be fetched or parsed records ``last_error`` and stores no document, and its next poll
backs off (the interval doubled per consecutive failure, at most a day). ``feeds_due_claim``
pushes each claimed feed to its next poll time (rows claimed with ``SKIP LOCKED``), so the next
beat does not claim it again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from apps.finance_sentiment import feeds as feed_io
from apps.finance_sentiment.models import Feed
from apps.finance_sentiment.services.documents import DocumentsInvalid, documents_ingest
from apps.finance_sentiment.services.errors import FinanceError
from config.celery import task_send
from tenancy.context import unscoped
from webhooks.urlcheck import UnsafeUrl

logger = logging.getLogger(__name__)


def _check_feed_url(url: str) -> None:
    try:
        feed_io.check_feed_url(url)
    except UnsafeUrl as error:
        raise FinanceError(str(error), fields={"url": [str(error)]}) from error


def _clean_poll_minutes(value: int) -> int:
    if not 5 <= int(value) <= 1440:
        raise FinanceError("The polling interval must be between 5 and 1440 minutes.",
                           fields={"poll_minutes": ["between 5 and 1440"]})
    return int(value)


@transaction.atomic
def feed_create(*, url: str, name: str = "", poll_minutes: int = 15,
                is_active: bool = True) -> Feed:
    """Register a feed (checked like a webhook URL); it is polled within a minute."""
    _check_feed_url(url)
    feed = Feed(url=url, name=name.strip(), poll_minutes=_clean_poll_minutes(poll_minutes),
                is_active=is_active, next_poll_at=timezone.now())
    return _feed_save(feed)


@transaction.atomic
def feed_update(*, feed: Feed, changes: dict[str, Any]) -> Feed:
    if "url" in changes and changes["url"] != feed.url:
        _check_feed_url(changes["url"])
        feed.url = changes["url"]
        feed.etag = feed.modified = ""  # validators of another URL mean nothing here
        feed.next_poll_at = timezone.now()
    if "name" in changes:
        feed.name = changes["name"].strip()
    if "poll_minutes" in changes:
        feed.poll_minutes = _clean_poll_minutes(changes["poll_minutes"])
    if "is_active" in changes:
        if changes["is_active"] and not feed.is_active:
            feed.next_poll_at = timezone.now()
            feed.consecutive_failures = 0
        feed.is_active = changes["is_active"]
    return _feed_save(feed)


def _feed_save(feed: Feed) -> Feed:
    """Save ``feed``, refusing a URL the tenant already registered (its unique key)."""
    try:
        with transaction.atomic():
            feed.save()
    except IntegrityError:
        raise FinanceError("This feed is already registered.",
                           fields={"url": ["already registered"]}) from None
    return feed


@transaction.atomic
def feed_delete(*, feed: Feed) -> None:
    """Stop polling the feed; the documents it brought stay."""
    feed.delete()


@dataclass(frozen=True)
class FeedPollResult:
    status: str  # "ok" | "not_modified" | "error"
    created: int = 0
    duplicates: int = 0
    skipped: int = 0
    error: str = ""


def _retry_after(feed: Feed) -> timedelta:
    """The wait before the next poll: the feed's interval, doubled per consecutive failure
    (a broken feed is not hammered), at most a day."""
    minutes = feed.poll_minutes * 2 ** min(feed.consecutive_failures, 10)
    return timedelta(minutes=min(minutes, 24 * 60))


def feed_poll(*, feed: Feed) -> FeedPollResult:
    """Fetch the feed (conditional GET) and store its new entries as documents.

    The network call runs outside any transaction; the entries and the feed's new state are
    written in one. A feed that cannot be fetched or parsed records ``last_error`` and
    writes no document: nothing is half-written.
    """
    now = timezone.now()
    try:
        fetched = feed_io.feed_fetch(feed.url, etag=feed.etag, modified=feed.modified)
        parsed = None if fetched.not_modified else feed_io.feed_parse(
            fetched.body, content_type=fetched.content_type, now=now)
        with transaction.atomic():
            feed = Feed.objects.select_for_update().get(pk=feed.pk)
            result = FeedPollResult(status="not_modified")
            if parsed is not None:
                ingested = documents_ingest(rows=parsed.rows, source=feed.source,
                                            max_documents=None)
                result = FeedPollResult(status="ok", created=ingested.created,
                                        duplicates=ingested.duplicates, skipped=parsed.skipped)
                feed.etag, feed.modified = fetched.etag, fetched.modified
                feed.documents_created += ingested.created
                if not feed.name and parsed.title:
                    feed.name = parsed.title
            feed.last_polled_at = feed.last_success_at = now
            feed.last_error = ""
            feed.consecutive_failures = 0
            feed.next_poll_at = now + _retry_after(feed)
            feed.save()
        return result
    except (feed_io.FeedError, DocumentsInvalid) as error:
        message = str(error)
    with transaction.atomic():
        feed = Feed.objects.select_for_update().get(pk=feed.pk)
        feed.last_polled_at = now
        feed.last_error = message[:2000]
        feed.consecutive_failures += 1
        feed.next_poll_at = now + _retry_after(feed)
        feed.save(update_fields=["last_polled_at", "last_error", "consecutive_failures",
                                 "next_poll_at"])
    logger.info("feed %s poll failed: %s", feed.pk, message)
    return FeedPollResult(status="error", error=message)


def feeds_due_claim(*, now: datetime | None = None, limit: int = 500) -> list[tuple[int, int]]:
    """Staff-wide (beat): the due active feeds of every tenant as (feed id, tenant id), each
    pushed to its next poll time so that the next beat does not claim it again."""
    now = now or timezone.now()
    with unscoped(), transaction.atomic():
        due = list(Feed.objects.select_for_update(skip_locked=True)
                   .filter(Q(next_poll_at__lte=now) | Q(next_poll_at__isnull=True),
                           is_active=True).order_by("next_poll_at")[:limit])
        for feed in due:
            feed.next_poll_at = now + _retry_after(feed)
            feed.save(update_fields=["next_poll_at"])
    return [(feed.pk, feed.tenant_id) for feed in due]


def feed_poll_now(*, feed: Feed) -> None:
    """Queue a poll of this feed at once (after commit)."""
    feed_id, tenant_id = feed.pk, feed.tenant_id
    transaction.on_commit(lambda: task_send("finance.poll_feed", feed_id, tenant_id))
