"""Writes of the finance sentiment monitor: watchlist, feeds, document ingestion, scoring
(current labels and rollups), alert rules, alert evaluation and the alerts' life cycle.

Ingestion is all-or-nothing: every row is validated before anything is written, and a refusal
names each offending row and field. Documents are idempotent on (source, external_id).

Scoring runs in jobs (``score_documents``), never one task per document: ingestion schedules
one job per tenant after it commits, unless one is already queued (a job that is *running*
does not absorb new documents: it may have passed them, see :func:`scoring_schedule`).

Rollups are maintained incrementally. When a document's current label changes (first score,
rescoring by another model, deletion), its old contribution is subtracted and the new one
added with one set-based ``INSERT ... ON CONFLICT DO UPDATE`` per chunk, in the transaction
that writes the chunk's scores: the rollups always equal the documents' current labels.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from functools import partial
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import EmailValidator, URLValidator
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet, TextField, Value
from django.db.models.functions import Concat, Substr
from django.utils import timezone

from apps.finance_sentiment import feeds as feed_io
from apps.finance_sentiment.models import (
    Alert,
    AlertRule,
    Document,
    Feed,
    Label,
    SentimentScore,
    WatchlistEntry,
)
from apps.finance_sentiment.params import parse_instant
from apps.finance_sentiment.spec import APP, LABELS
from apps.finance_sentiment.tickers import (
    TickerMatcher,
    WatchItem,
    extract_tickers,
    normalise_ticker,
)
from config.errors import ServiceError
from jobs.models import Job, ModelVersion
from jobs.services import JobError, active_version, dataset_rows, job_submit
from jobs.writeback import bulk_insert_ignore
from tenancy.context import require_tenant_id, tenant_context, unscoped
from webhooks.urlcheck import UnsafeUrl

logger = logging.getLogger(__name__)

SCORE_KIND = "score_documents"
MAX_DOCUMENTS_PER_REQUEST = 1_000
MAX_CSV_DOCUMENTS = 50_000
MAX_BODY_CHARS = 100_000
MAX_TITLE_CHARS = 2_000
MAX_TICKERS_PER_DOCUMENT = 50
MAX_PROBLEMS = 20
INSERT_BATCH = 1_000
FUTURE_TOLERANCE = timedelta(days=1)
# What the model reads of a document: the headline and the start of the body (the encoder
# truncates to its max length in tokens anyway; this keeps 100,000-character bodies cheap).
SCORING_TEXT_CHARS = 2_000
DOCUMENT_FIELDS = ("external_id", "url", "published_at", "title", "body", "language", "tickers")
_URL_VALIDATOR = URLValidator(schemes=["http", "https"])
_EMAIL_VALIDATOR = EmailValidator()


class FinanceError(ServiceError):
    """A request the app refuses; ``code`` and ``status`` map onto the API error format."""


@dataclass(frozen=True)
class Problem:
    row: int | None
    field: str | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "field": self.field, "message": self.message}

    def __str__(self) -> str:
        where = " ".join(part for part in (
            f"row {self.row}" if self.row is not None else "",
            f"field '{self.field}'" if self.field else "",
        ) if part)
        return f"{where}: {self.message}" if where else self.message


class DocumentsInvalid(FinanceError):
    """Some rows are invalid; nothing was written. Lists the first problems, each naming its
    row and field."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems[:MAX_PROBLEMS]
        self.more = max(0, len(problems) - MAX_PROBLEMS)
        summary = "; ".join(str(problem) for problem in self.problems[:5])
        super().__init__(f"The documents were refused and nothing was stored: {summary}",
                         code="invalid_documents")


def _tenant_lock(name: str) -> None:
    """A transaction-scoped lock on ``name`` for the current tenant."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                       [f"{name}:{require_tenant_id()}"])


# --- Watchlist -------------------------------------------------------------------------------


def _clean_ticker(value: str, field_name: str = "ticker") -> str:
    ticker = normalise_ticker(value or "")
    if ticker is None:
        raise FinanceError(f"'{value}' is not a ticker symbol.", fields={field_name: [
            "use letters, digits, '.' or '-', starting with a letter or digit, at most 16"]})
    return ticker


def _clean_aliases(aliases: Iterable[str]) -> list[str]:
    cleaned: list[str] = []
    for alias in aliases:
        alias = " ".join(str(alias).split())
        if len(alias) > 200:
            raise FinanceError("An alias is too long.", fields={"aliases": ["at most 200 "
                                                                           "characters each"]})
        if alias and alias.lower() not in {existing.lower() for existing in cleaned}:
            cleaned.append(alias)
    if len(cleaned) > 50:
        raise FinanceError("Too many aliases.", fields={"aliases": ["at most 50"]})
    return cleaned


@transaction.atomic
def watchlist_entry_create(*, ticker: str, company_name: str = "",
                           aliases: Iterable[str] = ()) -> WatchlistEntry:
    """Add a ticker to the watchlist. Documents ingested from now on are matched against it;
    documents already stored keep the tickers they were given."""
    entry = WatchlistEntry(ticker=_clean_ticker(ticker), company_name=company_name.strip(),
                           aliases=_clean_aliases(aliases))
    try:
        with transaction.atomic():
            entry.save()
    except IntegrityError:
        raise FinanceError(f"{entry.ticker} is already on the watchlist.",
                           fields={"ticker": ["already on the watchlist"]}) from None
    return entry


@transaction.atomic
def watchlist_entry_update(*, entry: WatchlistEntry, changes: dict[str, Any]) -> WatchlistEntry:
    if "ticker" in changes:
        entry.ticker = _clean_ticker(changes["ticker"])
    if "company_name" in changes:
        entry.company_name = changes["company_name"].strip()
    if "aliases" in changes:
        entry.aliases = _clean_aliases(changes["aliases"])
    try:
        with transaction.atomic():
            entry.save()
    except IntegrityError:
        raise FinanceError(f"{entry.ticker} is already on the watchlist.",
                           fields={"ticker": ["already on the watchlist"]}) from None
    return entry


@transaction.atomic
def watchlist_entry_delete(*, entry: WatchlistEntry) -> None:
    """Remove the ticker from the watchlist; its documents, rollups and alerts stay."""
    entry.delete()


def ticker_matcher() -> TickerMatcher:
    return TickerMatcher.build(
        WatchItem(ticker=ticker, company_name=name, aliases=tuple(aliases))
        for ticker, name, aliases in WatchlistEntry.objects.values_list(
            "ticker", "company_name", "aliases")
    )


# --- Document ingestion ----------------------------------------------------------------------


@dataclass
class DocumentRow:
    external_id: str
    url: str
    published_at: datetime
    title: str
    body: str
    language: str
    tickers: list[str]
    truncated: bool = False


@dataclass(frozen=True)
class IngestedDocument:
    row: int
    id: int
    external_id: str
    status: str  # "created" | "duplicate"
    truncated: bool


@dataclass
class IngestResult:
    created: int = 0
    duplicates: int = 0
    documents: list[IngestedDocument] = field(default_factory=list)

    @property
    def truncated_rows(self) -> list[int]:
        return [document.row for document in self.documents if document.truncated]


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL characters; they carry no meaning in news text.
    return value.replace("\x00", "")


def parse_published_at(value: Any) -> datetime:
    """ISO 8601 (date or date-time, ``Z`` or an offset; naive means UTC) or RFC 2822 (as in
    RSS and e-mail). ``ValueError`` with a message for people when it is neither."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = value.strip()
    try:
        return parse_instant(text)
    except ValueError:
        pass
    try:
        parsed = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        raise ValueError(f"'{text[:60]}' is not a date and time "
                         "(use ISO 8601, e.g. 2024-05-01T14:30:00Z)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _content_id(title: str, body: str) -> str:
    return "sha256:" + hashlib.sha256(f"{title}\n{body}".encode()).hexdigest()


def _validate_row(raw: Any, row: int, now: datetime, problems: list[Problem]) -> DocumentRow | None:
    if not isinstance(raw, dict):
        problems.append(Problem(row, None, "must be an object with the document's fields"))
        return None
    before = len(problems)

    def problem(field_name: str, message: str) -> None:
        problems.append(Problem(row, field_name, message))

    for name in raw:
        if name not in DOCUMENT_FIELDS:
            problem(str(name)[:60], f"unknown field; the fields are {', '.join(DOCUMENT_FIELDS)}")

    def text(name: str) -> str:
        value = raw.get(name)
        if value is None:
            return ""
        if not isinstance(value, str):
            problem(name, f"must be a string, not {type(value).__name__}")
            return ""
        return _no_nul(value)

    title, body = text("title").strip(), text("body").strip()
    external_id, url = text("external_id").strip(), text("url").strip()
    language = text("language").strip()
    if not title and not body and len(problems) == before:
        problem("body", "a document needs a title or a body (both are empty)")
    if len(external_id) > 300:
        problem("external_id", "is longer than 300 characters")
    if url:
        try:
            if len(url) > 1000:
                raise ValidationError("too long")
            _URL_VALIDATOR(url)
        except ValidationError:
            problem("url", f"'{url[:80]}' is not an http(s) URL of at most 1000 characters")
    if len(language) > 16:
        problem("language", "is longer than 16 characters (use a code such as 'en')")

    published_at = now
    raw_published = raw.get("published_at")
    if raw_published is not None and raw_published != "":
        if not isinstance(raw_published, str | datetime):
            problem("published_at", f"must be a string, not {type(raw_published).__name__}")
        else:
            try:
                published_at = parse_published_at(raw_published)
            except ValueError as error:
                problem("published_at", str(error))
            else:
                if published_at > now + FUTURE_TOLERANCE:
                    problem("published_at", f"{published_at.isoformat()} is in the future")

    tickers: list[str] = []
    raw_tickers = raw.get("tickers")
    if raw_tickers is not None:
        if not isinstance(raw_tickers, list) or not all(isinstance(t, str) for t in raw_tickers):
            problem("tickers", "must be a list of ticker symbols (strings)")
        elif len(raw_tickers) > MAX_TICKERS_PER_DOCUMENT:
            problem("tickers", f"at most {MAX_TICKERS_PER_DOCUMENT} tickers per document")
        else:
            for value in raw_tickers:
                ticker = normalise_ticker(value)
                if ticker is None:
                    problem("tickers", f"'{value[:40]}' is not a ticker symbol")
                else:
                    tickers.append(ticker)
    if len(problems) > before:
        return None

    truncated = len(title) > MAX_TITLE_CHARS or len(body) > MAX_BODY_CHARS
    title, body = title[:MAX_TITLE_CHARS], body[:MAX_BODY_CHARS]
    if not external_id:
        # The URL identifies the story if there is one (hashed when longer than the column).
        external_id = (url if len(url) <= 300 else "sha256:" + hashlib.sha256(
            url.encode()).hexdigest()) if url else _content_id(title, body)
    return DocumentRow(
        external_id=external_id, url=url,
        published_at=published_at, title=title, body=body, language=language,
        tickers=tickers, truncated=truncated,
    )


def documents_validate(rows: Sequence[Any], *, first_row: int = 0,
                       now: datetime | None = None) -> list[DocumentRow]:
    """Validated rows, or ``DocumentsInvalid`` listing every problem (row numbers count from
    ``first_row``)."""
    now = now or timezone.now()
    problems: list[Problem] = []
    validated = [_validate_row(raw, first_row + index, now, problems)
                 for index, raw in enumerate(rows)]
    if problems:
        raise DocumentsInvalid(problems)
    return [row for row in validated if row is not None]


_INSERT_DOCUMENTS = """
INSERT INTO finance_sentiment_document
    (tenant_id, source, external_id, url, published_at, title, body, language, tickers,
     truncated, label, created_at)
SELECT %(tenant)s, %(source)s, r.external_id, r.url, r.published_at, r.title, r.body,
       r.language, string_to_array(r.tickers, ','), r.truncated, '', %(now)s
FROM unnest(%(external_ids)s::text[], %(urls)s::text[], %(published)s::timestamptz[],
            %(titles)s::text[], %(bodies)s::text[], %(languages)s::text[],
            %(tickers)s::text[], %(truncated)s::bool[])
     WITH ORDINALITY AS r(external_id, url, published_at, title, body, language, tickers,
                          truncated, position)
ORDER BY r.position
ON CONFLICT ON CONSTRAINT document_tenant_source_external DO NOTHING
RETURNING id, external_id
"""


def _insert_documents(rows: list[DocumentRow], source: str, now: datetime) -> dict[str, int]:
    """Insert a batch in one statement, skipping (source, external_id) already stored; returns
    the ids of the rows inserted, by external id."""
    with connection.cursor() as cursor:
        cursor.execute(_INSERT_DOCUMENTS, {
            "tenant": require_tenant_id(), "source": source, "now": now,
            "external_ids": [row.external_id for row in rows],
            "urls": [row.url for row in rows],
            "published": [row.published_at for row in rows],
            "titles": [row.title for row in rows],
            "bodies": [row.body for row in rows],
            "languages": [row.language for row in rows],
            "tickers": [",".join(row.tickers) for row in rows],
            "truncated": [row.truncated for row in rows],
        })
        return {external_id: document_id for document_id, external_id in cursor.fetchall()}


@transaction.atomic
def documents_ingest(*, rows: Sequence[Any], source: str,
                     max_documents: int | None = MAX_DOCUMENTS_PER_REQUEST,
                     first_row: int = 0, extract: bool = True,
                     schedule_scoring: bool = True) -> IngestResult:
    """Validate all rows, then store the new ones; all or nothing.

    Rows are dicts with ``DOCUMENT_FIELDS``. A document needs a title or a body; bodies over
    ``MAX_BODY_CHARS`` (titles over ``MAX_TITLE_CHARS``) are truncated and flagged, not
    refused. ``external_id`` defaults to the URL, else a hash of title and body; a row whose
    (source, external_id) is already stored is reported as a duplicate and left unchanged.
    Tickers are the explicit ones plus those found in the text (``tickers.py``) unless
    ``extract`` is off. After commit, one scoring job is scheduled (debounced).
    """
    if max_documents is not None and len(rows) > max_documents:
        raise FinanceError(
            f"At most {max_documents} documents per request; this one has {len(rows)}. "
            "Split it, or upload a CSV file.",
            fields={"documents": [f"at most {max_documents} items"]})
    now = timezone.now()
    validated = documents_validate(rows, first_row=first_row, now=now)
    matcher = ticker_matcher() if extract else None
    for row in validated:
        if extract:
            row.tickers = extract_tickers(text=f"{row.title}\n{row.body}", explicit=row.tickers,
                                          matcher=matcher)[:MAX_TICKERS_PER_DOCUMENT]
        else:
            row.tickers = sorted(set(row.tickers))
    result = IngestResult()
    for start in range(0, len(validated), INSERT_BATCH):
        batch = validated[start:start + INSERT_BATCH]
        created = _insert_documents(batch, source, now)
        seen: set[str] = set()
        statuses: list[tuple[int, DocumentRow, int | None]] = []
        for offset, row in enumerate(batch):
            fresh = row.external_id in created and row.external_id not in seen
            seen.add(row.external_id)
            statuses.append((first_row + start + offset, row,
                             created[row.external_id] if fresh else None))
        missing = {row.external_id for _, row, document_id in statuses if document_id is None}
        existing = dict(Document.objects.filter(source=source, external_id__in=missing)
                        .values_list("external_id", "id")) if missing else {}
        for row_number, row, document_id in statuses:
            if document_id is not None:
                result.created += 1
                result.documents.append(IngestedDocument(row_number, document_id,
                                                         row.external_id, "created",
                                                         row.truncated))
            else:
                result.duplicates += 1
                result.documents.append(IngestedDocument(row_number, existing[row.external_id],
                                                         row.external_id, "duplicate",
                                                         row.truncated))
    if result.created and schedule_scoring:
        transaction.on_commit(partial(_schedule_after_commit, require_tenant_id()))
    return result


CSV_COLUMNS = ("external_id", "url", "published_at", "title", "body", "language", "tickers")


def _csv_problem(message: str, row: int | None = None, column: str | None = None
                 ) -> DocumentsInvalid:
    return DocumentsInvalid([Problem(row, column, message)])


def documents_parse_csv(data: bytes) -> list[dict[str, Any]]:
    """The CSV's rows as document dicts (``DocumentsInvalid`` naming the row and column when
    the file cannot be read). Row numbers count data rows from 1, after the header."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise _csv_problem(f"the file is not UTF-8 (byte 0x{data[error.start]:02X} on line "
                           f"{line}); save it as UTF-8 and upload it again") from None
    # A 100,000-character body is fine (it is truncated later); the csv module's own limit
    # (128 KiB per field) would refuse it.
    csv.field_size_limit(max(csv.field_size_limit(), settings.DATASET_MAX_BYTES))
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
    except csv.Error as error:
        raise _csv_problem(f"the header cannot be read: {error}", row=0) from None
    if not header or not any(cell.strip() for cell in header):
        raise _csv_problem("the file is empty; the first line must name the columns "
                           f"({', '.join(CSV_COLUMNS)})", row=0)
    columns = [cell.strip().lower() for cell in header]
    unknown = [name for name in columns if name not in CSV_COLUMNS]
    if unknown:
        raise DocumentsInvalid([Problem(0, name or "(empty)", "unknown column; the columns are "
                                        + ", ".join(CSV_COLUMNS)) for name in unknown])
    duplicated = sorted({name for name in columns if columns.count(name) > 1})
    if duplicated:
        raise _csv_problem("the column appears more than once", row=0, column=duplicated[0])
    if "title" not in columns and "body" not in columns:
        raise _csv_problem("the file needs a 'title' or a 'body' column", row=0)
    rows: list[dict[str, Any]] = []
    try:
        for number, cells in enumerate(reader, start=1):
            if not any(cell.strip() for cell in cells):
                continue  # blank lines, e.g. at the end of the file
            if len(cells) != len(columns):
                raise _csv_problem(f"has {len(cells)} cells; the header has {len(columns)}",
                                   row=number)
            values: dict[str, Any] = {name: (cell if cell.strip() else None)
                                      for name, cell in zip(columns, cells, strict=True)}
            if values.get("tickers") is not None:
                values["tickers"] = [part for part in
                                     values["tickers"].replace(",", " ").replace(";", " ").split()]
            rows.append(values)
            if len(rows) > MAX_CSV_DOCUMENTS:
                raise _csv_problem(f"the file has more than {MAX_CSV_DOCUMENTS} documents; "
                                   "split it")
    except csv.Error as error:
        raise _csv_problem(f"the CSV cannot be read: {error}", row=reader.line_num) from None
    if not rows:
        raise _csv_problem("the file has a header but no documents")
    return rows


@transaction.atomic
def documents_ingest_csv(*, data: bytes) -> IngestResult:
    """A CSV upload (columns ``CSV_COLUMNS``; ``tickers`` separated by spaces, commas or
    semicolons): the same validation and idempotency as the JSON bulk create, source "csv"."""
    rows = documents_parse_csv(data)
    return documents_ingest(rows=rows, source="csv", max_documents=MAX_CSV_DOCUMENTS,
                            first_row=1)


@transaction.atomic
def document_delete(*, document: Document) -> None:
    """Delete a document and its scores; its contribution leaves the rollups."""
    _rollups_shift(document_ids=[document.pk], new_labels=None, new_scores=None)
    document.delete()


@transaction.atomic
def documents_from_dataset(*, job: Job) -> IngestResult:
    """Store a "texts" dataset's rows as documents (source ``dataset:<id>``, external id = row
    number), idempotently, so that a retried job finds them again. They are not tagged with
    tickers: undated texts would pile into the upload's hour of every ticker's trend and set
    off alerts; they are scored for their own sake (``documents?source=dataset:<id>``)."""
    if job.dataset is None:
        raise ValueError("This scoring job has no dataset.")
    rows = [{"external_id": str(number), "body": row["text"],
             "published_at": job.dataset.created_at}
            for number, row in enumerate(dataset_rows(job.dataset), start=1)]
    return documents_ingest(rows=rows, source=f"dataset:{job.dataset.pk}", max_documents=None,
                            first_row=1, extract=False, schedule_scoring=False)


# --- Feeds -----------------------------------------------------------------------------------


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
    try:
        with transaction.atomic():
            feed.save()
    except IntegrityError:
        raise FinanceError("This feed is already registered.",
                           fields={"url": ["already registered"]}) from None
    return feed


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
    transaction.on_commit(lambda: _send_task("finance.poll_feed", feed_id, tenant_id))


def _send_task(name: str, *args: Any) -> None:
    from config.celery import app as celery_app

    celery_app.send_task(name, args=list(args), queue="default")


# --- Scoring ---------------------------------------------------------------------------------


def default_version_for(app: str = APP) -> ModelVersion | None:
    """The tenant's active model version for ``app``, or None: then the worker uses the
    platform default model (``workers.handlers.text_classification.default_classifier``)."""
    return active_version(app=app)


def _schedule_after_commit(tenant_id: int) -> None:
    # Runs after the ingest committed: a failure here must not turn the caller's successful
    # request into an error (the documents are stored; POST /score or the next ingest picks
    # them up).
    try:
        with tenant_context(tenant_id):
            scoring_schedule()
    except Exception:
        logger.exception("could not schedule scoring for tenant %s", tenant_id)


def scoring_schedule() -> Job | None:
    """Submit one ``score_documents`` job for the tenant's unscored documents, unless one is
    already queued (debounce); returns the queued job, or None when nothing is unscored.

    Only a *queued* job absorbs new documents: it selects its documents after it starts. A
    running one may have read past them; with at most one running and one queued job per
    tenant, every document is picked up without a job per ingest. Jobs running side by side
    skip each other's locked rows, so no document is scored twice.
    """
    return _scoring_schedule()[0]


@transaction.atomic
def _scoring_schedule() -> tuple[Job | None, bool]:
    _tenant_lock("finance.scoring")
    queued = (Job.objects.filter(app=APP, kind=SCORE_KIND, status=Job.Status.QUEUED,
                                 params__selection="unscored").order_by("created_at").first())
    if queued is not None:
        return queued, False
    if not Document.objects.filter(scored_at__isnull=True).exists():
        return None, False
    return job_submit(app=APP, kind=SCORE_KIND, params={"selection": "unscored"}).job, True


@dataclass(frozen=True)
class ScoringSubmission:
    job: Job
    created: bool


def scoring_submit(*, selection: str, start: str | None = None, end: str | None = None,
                   dataset_id: int | None = None, batch_size: int | None = None,
                   idempotency_key: str = "",
                   created_by_id: int | None = None) -> ScoringSubmission:
    """A scoring job on request: ``unscored`` (the queued one if there is one), ``range``
    (documents published in [start, end), rescored with the current model) or ``dataset``.
    Nothing to score is a 409 rather than an empty job."""
    if selection != "dataset" and dataset_id is not None:
        raise FinanceError("A dataset goes with selection 'dataset' only.",
                           fields={"dataset": ["only with selection 'dataset'"]})
    if selection == "unscored" and not idempotency_key and batch_size is None:
        job, created = _scoring_schedule()
        if job is None:
            raise FinanceError("Every document is already scored.", code="nothing_to_score",
                               status=409)
        return ScoringSubmission(job=job, created=created)
    params: dict[str, Any] = {"selection": selection}
    if batch_size is not None:
        params["batch_size"] = batch_size
    if selection == "range":
        params.update({"from": start, "to": end})
    if selection == "dataset" and dataset_id is None:
        raise FinanceError("A dataset is required for selection 'dataset'.",
                           fields={"dataset": ["is required for selection 'dataset'"]})
    if selection == "range" and start and end:
        in_range = Document.objects.filter(published_at__gte=parse_instant(start),
                                           published_at__lt=parse_instant(end))
        if not in_range.exists():
            raise FinanceError("No document was published in this range.",
                               code="nothing_to_score", status=409)
    try:
        submission = job_submit(app=APP, kind=SCORE_KIND, params=params, dataset_id=dataset_id,
                                idempotency_key=idempotency_key, created_by_id=created_by_id)
    except JobError as error:
        raise FinanceError(str(error), code=error.code, status=error.status,
                           fields=error.fields, details=error.details) from error
    return ScoringSubmission(job=submission.job, created=submission.created)


def _scoring_candidates(job: Job) -> QuerySet[Document]:
    selection = job.params.get("selection", "unscored")
    documents = Document.objects.all()
    if selection == "unscored":
        return documents.filter(scored_at__isnull=True)
    if selection == "range":
        documents = documents.filter(published_at__gte=parse_instant(job.params["from"]),
                                     published_at__lt=parse_instant(job.params["to"]))
    elif selection == "dataset":
        if job.dataset_id is None:
            raise ValueError("Selection 'dataset' needs the job's dataset.")
        documents = documents.filter(source=f"dataset:{job.dataset_id}")
    else:
        raise ValueError(f"Unknown selection {selection!r}.")
    already = SentimentScore.objects.filter(job=job, document=OuterRef("pk"))
    return documents.filter(~Exists(already))


def scoring_candidates_count(*, job: Job) -> int:
    return _scoring_candidates(job).count()


def scoring_batch_claim(*, job: Job, after_id: int, limit: int) -> list[tuple[int, str]]:
    """The next documents (id > ``after_id``) the job should score, as (id, text), locked
    until the caller's transaction ends. Unscored documents locked by another job are skipped
    (that job scores them); a rescoring waits for them."""
    if not connection.in_atomic_block:
        raise RuntimeError("scoring_batch_claim must run inside the chunk's transaction")
    documents = _scoring_candidates(job).filter(id__gt=after_id).order_by("id")
    skip = job.params.get("selection", "unscored") == "unscored"
    text = Substr(Concat("title", Value("\n"), "body", output_field=TextField()), 1,
                  SCORING_TEXT_CHARS)
    return list(documents.select_for_update(skip_locked=skip, of=("self",))
                .annotate(scoring_text=text).values_list("id", "scoring_text")[:limit])


@dataclass(frozen=True)
class ScoreInput:
    document_id: int
    label: str
    probabilities: dict[str, float]

    @property
    def score(self) -> float:
        return round(self.probabilities.get(Label.POSITIVE, 0.0)
                     - self.probabilities.get(Label.NEGATIVE, 0.0), 6)


SCORE_COLUMNS = ("job_id", "document_id", "model_version_id", "label", "probabilities", "score",
                 "created_at")


@transaction.atomic
def document_scores_record(*, job: Job, model_version: ModelVersion | None,
                           scores: Sequence[ScoreInput]) -> set[str]:
    """Write a chunk's scores (once per (job, document)), make them the documents' current
    labels and move the rollups accordingly, all in one transaction. Returns the tickers of
    the chunk's documents (for alert evaluation). Safe to repeat: a repeated chunk writes no
    score and moves no rollup (its documents already carry these labels)."""
    if not scores:
        return set()
    unknown = {score.label for score in scores} - set(LABELS)
    if unknown:
        raise ValueError(f"The model predicts labels {sorted(unknown)} outside {list(LABELS)}.")
    now = timezone.now()
    version_id = model_version.pk if model_version is not None else None
    bulk_insert_ignore(SentimentScore, SCORE_COLUMNS, [
        (job.pk, score.document_id, version_id, score.label,
         {key: round(value, 6) for key, value in score.probabilities.items()}, score.score, now)
        for score in scores
    ])
    return _rollups_shift(document_ids=[score.document_id for score in scores],
                          new_labels=[score.label for score in scores],
                          new_scores=[score.score for score in scores],
                          scored_at=now, version_id=version_id)


# One statement moves every rollup the chunk touches: the documents' old contributions out,
# the new ones in, grouped per (ticker, granularity, bucket), applied in key order (no
# deadlock between two chunks touching the same buckets).
_ROLLUP_SHIFT = """
WITH new(id, label, score) AS (
    SELECT * FROM unnest(%(ids)s::bigint[], %(labels)s::text[], %(scores)s::float8[])
), changes AS (
    SELECT d.tickers, d.published_at, d.label, -1 AS sign, d.score
    FROM finance_sentiment_document d JOIN new ON new.id = d.id
    WHERE d.tenant_id = %(tenant)s AND d.label <> ''
    UNION ALL
    SELECT d.tickers, d.published_at, new.label, 1, new.score
    FROM finance_sentiment_document d JOIN new ON new.id = d.id
    WHERE d.tenant_id = %(tenant)s AND new.label IS NOT NULL
), deltas AS (
    SELECT ticker, g.granularity,
           date_trunc(g.granularity, c.published_at, 'UTC') AS bucket_start,
           coalesce(sum(c.sign) FILTER (WHERE c.label = 'positive'), 0) AS positive,
           coalesce(sum(c.sign) FILTER (WHERE c.label = 'neutral'), 0) AS neutral,
           coalesce(sum(c.sign) FILTER (WHERE c.label = 'negative'), 0) AS negative,
           coalesce(sum(c.sign * c.score), 0) AS score_sum
    FROM changes c
    CROSS JOIN LATERAL unnest(c.tickers) AS ticker
    CROSS JOIN (VALUES ('hour'), ('day')) AS g(granularity)
    GROUP BY 1, 2, 3
)
INSERT INTO finance_sentiment_sentimentrollup AS rollup
    (tenant_id, ticker, granularity, bucket_start, positive, neutral, negative, score_sum)
SELECT %(tenant)s, ticker, granularity, bucket_start, positive, neutral, negative, score_sum
FROM deltas
WHERE positive <> 0 OR neutral <> 0 OR negative <> 0 OR abs(score_sum) > 1e-12
ORDER BY ticker, granularity, bucket_start
ON CONFLICT ON CONSTRAINT rollup_tenant_ticker_bucket DO UPDATE SET
    positive = rollup.positive + EXCLUDED.positive,
    neutral = rollup.neutral + EXCLUDED.neutral,
    negative = rollup.negative + EXCLUDED.negative,
    score_sum = rollup.score_sum + EXCLUDED.score_sum
"""

_RELABEL = """
UPDATE finance_sentiment_document d
SET label = new.label, score = new.score, scored_at = %(now)s, scored_version_id = %(version)s
FROM unnest(%(ids)s::bigint[], %(labels)s::text[], %(scores)s::float8[]) AS new(id, label, score)
WHERE d.id = new.id AND d.tenant_id = %(tenant)s
"""


def _rollups_shift(*, document_ids: list[int], new_labels: list[str] | None,
                   new_scores: list[float] | None, scored_at: datetime | None = None,
                   version_id: int | None = None) -> set[str]:
    """Move the documents' rollup contributions from their current labels to the new ones
    (None: out of the rollups, for a deletion), then store the new labels on the documents.
    Must run in the caller's transaction; locks the documents first, in id order."""
    tenant_id = require_tenant_id()
    count = len(document_ids)
    labels: list[str | None] = list(new_labels) if new_labels is not None else [None] * count
    scores: list[float | None] = list(new_scores) if new_scores is not None else [None] * count
    params: dict[str, Any] = {"tenant": tenant_id, "ids": document_ids, "labels": labels,
                              "scores": scores}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tickers FROM finance_sentiment_document "
            "WHERE tenant_id = %s AND id = ANY(%s) ORDER BY id FOR UPDATE",
            [tenant_id, document_ids])
        tickers = {ticker for (row,) in cursor.fetchall() for ticker in row}
        cursor.execute(_ROLLUP_SHIFT, params)
        if new_labels is not None:
            cursor.execute(_RELABEL, {**params, "now": scored_at or timezone.now(),
                                      "version": version_id})
    return tickers


# --- Alert rules -----------------------------------------------------------------------------

RULE_FIELDS = ("name", "ticker", "kind", "threshold", "k", "window_hours", "baseline_days",
               "min_volume", "notify_email", "notify_webhook", "is_active")
MIN_BASELINE_WINDOWS = 3
# A flat baseline has no spread; a floor on the standard deviation (5 percentage points)
# keeps a tiny wobble from reading as an infinite z-score.
MIN_BASELINE_STD = 0.05


def _rule_clean(rule: AlertRule) -> None:
    problems: dict[str, list[str]] = {}
    if not rule.name.strip():
        problems["name"] = ["is required"]
    if rule.ticker:
        ticker = normalise_ticker(rule.ticker)
        if ticker is None:
            problems["ticker"] = [f"'{rule.ticker}' is not a ticker symbol"]
        rule.ticker = ticker
    else:
        rule.ticker = None
    if rule.kind == AlertRule.Kind.NEGATIVE_SHARE:
        if rule.threshold is None or not 0 < rule.threshold < 1:
            problems["threshold"] = ["a share between 0 and 1 (exclusive) is required for "
                                     "kind 'negative_share'"]
    elif rule.kind == AlertRule.Kind.ZSCORE:
        if rule.k is None or not 0 < rule.k <= 20:
            problems["k"] = ["a number of standard deviations between 0 and 20 is required "
                             "for kind 'zscore'"]
    else:
        problems["kind"] = [f"choose one of {', '.join(AlertRule.Kind.values)}"]
    if not 1 <= rule.window_hours <= 24 * 7:
        problems["window_hours"] = ["between 1 and 168 hours"]
    if not 1 <= rule.baseline_days <= 90:
        problems["baseline_days"] = ["between 1 and 90 days"]
    elif (rule.kind == AlertRule.Kind.ZSCORE
          and rule.baseline_days * 24 < MIN_BASELINE_WINDOWS * rule.window_hours):
        problems["baseline_days"] = [f"must span at least {MIN_BASELINE_WINDOWS} windows"]
    if rule.min_volume < 1:
        problems["min_volume"] = ["at least 1"]
    emails = []
    for email in rule.notify_email:
        try:
            _EMAIL_VALIDATOR(email)
        except ValidationError:
            problems.setdefault("notify_email", []).append(f"'{email}' is not an e-mail address")
        emails.append(email.strip())
    if len(emails) > 20:
        problems.setdefault("notify_email", []).append("at most 20 addresses")
    rule.notify_email = sorted(set(emails))
    if problems:
        raise FinanceError("Some fields of the rule are invalid: " + ", ".join(problems),
                           fields=problems)


@transaction.atomic
def alert_rule_create(**fields: Any) -> AlertRule:
    unknown = set(fields) - set(RULE_FIELDS)
    if unknown:
        raise TypeError(f"unknown rule fields {sorted(unknown)}")
    rule = AlertRule(**fields)
    _rule_clean(rule)
    rule.save()
    return rule


@transaction.atomic
def alert_rule_update(*, rule: AlertRule, changes: dict[str, Any]) -> AlertRule:
    for name, value in changes.items():
        if name not in RULE_FIELDS:
            raise TypeError(f"unknown rule field {name!r}")
        setattr(rule, name, value)
    _rule_clean(rule)
    rule.save()
    return rule


@transaction.atomic
def alert_rule_delete(*, rule: AlertRule) -> None:
    """Delete the rule and its alerts (deactivate it instead to keep them)."""
    rule.delete()


# --- Alert evaluation ------------------------------------------------------------------------

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def window_start_for(moment: datetime, window_hours: int) -> datetime:
    """The start of the window holding ``moment``: windows are aligned to multiples of
    ``window_hours`` since the Unix epoch (UTC), so every evaluation in the same window names
    it the same way."""
    size = window_hours * 3600
    seconds = int((moment - _EPOCH).total_seconds())
    return _EPOCH + timedelta(seconds=seconds - seconds % size)


@dataclass(frozen=True)
class WindowCounts:
    negative: int
    total: int

    @property
    def share(self) -> float:
        return self.negative / self.total if self.total else 0.0


_WINDOW_COUNTS = """
SELECT ticker, floor(extract(epoch FROM bucket_start) / %(size)s)::bigint AS window,
       sum(negative), sum(positive + neutral + negative)
FROM finance_sentiment_sentimentrollup
WHERE tenant_id = %(tenant)s AND granularity = 'hour' AND ticker = ANY(%(tickers)s)
  AND bucket_start >= %(start)s AND bucket_start < %(end)s
GROUP BY 1, 2
"""


def _window_counts(tickers: list[str], size_seconds: int, start: datetime, end: datetime
                   ) -> dict[str, dict[int, WindowCounts]]:
    counts: dict[str, dict[int, WindowCounts]] = {}
    with connection.cursor() as cursor:
        cursor.execute(_WINDOW_COUNTS, {"size": size_seconds, "tenant": require_tenant_id(),
                                        "tickers": tickers, "start": start, "end": end})
        for ticker, window, negative, total in cursor.fetchall():
            counts.setdefault(ticker, {})[int(window)] = WindowCounts(int(negative), int(total))
    return counts


@dataclass(frozen=True)
class Firing:
    ticker: str
    window_start: datetime
    window_end: datetime
    value: float
    volume: int
    message: str
    details: dict[str, Any]


def _fmt_window(start: datetime, hours: int) -> str:
    return f"{hours} h window from {start:%Y-%m-%d %H:%M} UTC"


def rule_firings(rule: AlertRule, tickers: list[str], now: datetime) -> list[Firing]:
    """What the rule says about each ticker in the current window and the one before it (a
    document may be scored after its window closed). Reads the hourly rollups."""
    hours = rule.window_hours
    size = hours * 3600
    current = window_start_for(now, hours)
    windows = [current - timedelta(seconds=size), current]
    baseline_windows = max(1, rule.baseline_days * 24 // hours)
    start = windows[0] - timedelta(seconds=size * baseline_windows
                                   if rule.kind == AlertRule.Kind.ZSCORE else 0)
    counts = _window_counts(tickers, size, start, current + timedelta(seconds=size))
    firings: list[Firing] = []
    for ticker in tickers:
        per_window = counts.get(ticker, {})
        for window_start in windows:
            index = int((window_start - _EPOCH).total_seconds()) // size
            observed = per_window.get(index)
            if observed is None or observed.total < rule.min_volume:
                continue
            window_end = window_start + timedelta(seconds=size)
            where = _fmt_window(window_start, hours)
            if rule.kind == AlertRule.Kind.NEGATIVE_SHARE:
                threshold = rule.threshold or 0.0
                if observed.share > threshold:
                    firings.append(Firing(
                        ticker, window_start, window_end, round(observed.share, 6),
                        observed.total,
                        f"{ticker}: {observed.share:.0%} of {observed.total} documents negative "
                        f"in the {where} (threshold {threshold:.0%})",
                        {"negative": observed.negative, "threshold": threshold}))
                continue
            history = [per_window[i].share
                       for i in range(index - baseline_windows, index)
                       if i in per_window and per_window[i].total > 0]
            if len(history) < MIN_BASELINE_WINDOWS:
                continue  # not enough history to call anything unusual
            mean = sum(history) / len(history)
            variance = sum((share - mean) ** 2 for share in history) / (len(history) - 1)
            std = variance ** 0.5
            z = (observed.share - mean) / max(std, MIN_BASELINE_STD)
            k = rule.k or 0.0
            if z > k:
                firings.append(Firing(
                    ticker, window_start, window_end, round(z, 4), observed.total,
                    f"{ticker}: negative share {observed.share:.0%} of {observed.total} documents "
                    f"in the {where} is {z:.1f}σ above the {rule.baseline_days}-day baseline "
                    f"({mean:.0%} ± {std:.0%}; k = {k:g})",
                    {"negative": observed.negative, "share": round(observed.share, 6),
                     "baseline_mean": round(mean, 6), "baseline_std": round(std, 6),
                     "baseline_windows": len(history), "k": k}))
    return firings


_INSERT_ALERT = """
INSERT INTO finance_sentiment_alert
    (tenant_id, rule_id, ticker, window_start, window_end, value, volume, details, status,
     message, created_at, acknowledged_by_name, resolved_by_name)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 'open', %s, %s, '', '')
ON CONFLICT ON CONSTRAINT alert_one_per_rule_window DO NOTHING
RETURNING id
"""


@transaction.atomic
def alert_rules_evaluate(*, tickers: Iterable[str] | None = None,
                         now: datetime | None = None) -> list[Alert]:
    """Evaluate the tenant's active rules for ``tickers`` (None: every ticker the rules
    cover) and raise the new alerts: one per rule, ticker and window, whatever how often this
    runs. Each new alert is sent as a signed ``alert.triggered`` webhook (when the rule says
    so) and by e-mail to the rule's addresses, after commit."""
    now = now or timezone.now()
    wanted = None if tickers is None else set(tickers)
    watchlist = set(WatchlistEntry.objects.values_list("ticker", flat=True))
    created: list[Alert] = []
    for rule in AlertRule.objects.filter(is_active=True).order_by("id"):
        covered = {rule.ticker} if rule.ticker else set(watchlist)
        if wanted is not None:
            covered &= wanted
        if not covered:
            continue
        for firing in rule_firings(rule, sorted(covered), now):
            with connection.cursor() as cursor:
                cursor.execute(_INSERT_ALERT, [
                    require_tenant_id(), rule.pk, firing.ticker, firing.window_start,
                    firing.window_end, firing.value, firing.volume, json.dumps(firing.details),
                    firing.message[:500], now])
                row = cursor.fetchone()
            if row is not None:
                alert = Alert.objects.select_related("rule").get(pk=row[0])
                _alert_notify(alert)
                created.append(alert)
    return created


def alert_payload(alert: Alert) -> dict[str, Any]:
    return {
        "id": alert.pk, "rule": {"id": alert.rule_id, "name": alert.rule.name,
                                 "kind": alert.rule.kind},
        "ticker": alert.ticker, "window_start": alert.window_start.isoformat(),
        "window_end": alert.window_end.isoformat(), "value": alert.value,
        "volume": alert.volume, "details": alert.details, "status": alert.status,
        "message": alert.message, "created_at": alert.created_at.isoformat(),
    }


def _alert_notify(alert: Alert) -> None:
    from webhooks.services import webhook_emit

    rule = alert.rule
    if rule.notify_webhook:
        webhook_emit(event="alert.triggered", payload=alert_payload(alert))
    if rule.notify_email:
        subject = f"[Sentiment alert] {rule.name}: {alert.ticker}"
        body = (f"{alert.message}\n\nRule: {rule.name} ({rule.get_kind_display()})\n"
                f"Window: {alert.window_start:%Y-%m-%d %H:%M} – {alert.window_end:%Y-%m-%d %H:%M} "
                f"UTC\nDocuments: {alert.volume}\nAlert id: {alert.pk}\n")
        transaction.on_commit(partial(_send_alert_email, subject, body, list(rule.notify_email)))


def _send_alert_email(subject: str, body: str, recipients: list[str]) -> None:
    try:
        send_mail(subject, body, None, recipients)
    except Exception:  # a mail server down must not fail the scoring job that raised it
        logger.exception("could not send the alert e-mail %r", subject)


def alerts_evaluate_all(*, now: datetime | None = None) -> int:
    """Staff-wide (beat, every 5 minutes): evaluate every tenant's active rules, each tenant
    in its own context and transaction; returns how many alerts were raised."""
    now = now or timezone.now()
    with unscoped():
        tenant_ids = sorted(set(AlertRule.objects.filter(is_active=True)
                                .values_list("tenant_id", flat=True)))
    raised = 0
    for tenant_id in tenant_ids:
        try:
            with tenant_context(tenant_id):
                raised += len(alert_rules_evaluate(now=now))
        except Exception:
            logger.exception("alert evaluation failed for tenant %s", tenant_id)
    return raised


@transaction.atomic
def alert_acknowledge(*, alert: Alert, by_user_id: int | None, by_name: str) -> Alert:
    """open → acknowledged. Acknowledging again changes nothing; a resolved alert is 409."""
    alert = Alert.objects.select_for_update().get(pk=alert.pk)
    if alert.status == Alert.Status.RESOLVED:
        raise FinanceError("The alert is already resolved.", code="conflict", status=409)
    if alert.status == Alert.Status.OPEN:
        alert.status = Alert.Status.ACKNOWLEDGED
        alert.acknowledged_by_id = by_user_id
        alert.acknowledged_by_name = by_name[:200]
        alert.acknowledged_at = timezone.now()
        alert.save(update_fields=["status", "acknowledged_by", "acknowledged_by_name",
                                  "acknowledged_at"])
    return alert


@transaction.atomic
def alert_resolve(*, alert: Alert, by_name: str) -> Alert:
    """open or acknowledged → resolved; resolving again changes nothing."""
    alert = Alert.objects.select_for_update().get(pk=alert.pk)
    if alert.status != Alert.Status.RESOLVED:
        alert.status = Alert.Status.RESOLVED
        alert.resolved_by_name = by_name[:200]
        alert.resolved_at = timezone.now()
        alert.save(update_fields=["status", "resolved_by_name", "resolved_at"])
    return alert

