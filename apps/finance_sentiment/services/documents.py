"""Writes of documents: validation and ingestion (JSON rows, CSV uploads, feeds' entries,
"texts" datasets) and deletion.

Ingestion is all-or-nothing: every row is validated before anything is written, and a refusal
(:class:`DocumentsInvalid`) names each offending row and field with the platform's one
row-problem type, ``config.problems.Problem``. Documents are idempotent on (source,
external_id): a row already stored is reported as a duplicate and left unchanged, so a retried
request, feed poll or job writes nothing twice. A batch is one ``INSERT ... SELECT FROM
unnest(...) ON CONFLICT DO NOTHING`` per ``INSERT_BATCH`` rows, not a query per row.

After the ingest commits, one scoring job is scheduled for the tenant (debounced, see
``scoring.scoring_schedule``); a failure to schedule never fails the ingest. Deleting a
document takes its contribution out of the rollups in the same transaction
(``scoring._rollups_shift``), so the rollups keep equalling the documents' current labels.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from functools import partial
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from apps.finance_sentiment.models import Document
from apps.finance_sentiment.params import parse_instant
from apps.finance_sentiment.selectors import document_ids_by_external_id, ticker_matcher
from apps.finance_sentiment.services.dedup import (
    Fingerprints,
    document_bands_store,
    documents_cluster,
    documents_fingerprint,
)
from apps.finance_sentiment.services.errors import FinanceError
from apps.finance_sentiment.services.scoring import (
    _rollups_shift,
    _rollups_shift_in,
    _schedule_after_commit,
)
from apps.finance_sentiment.tickers import extract_tickers, normalise_ticker
from config.problems import Problem, RowsInvalid
from jobs.models import Job
from jobs.services import dataset_rows
from tenancy.context import require_tenant_id

MAX_DOCUMENTS_PER_REQUEST = 1_000
MAX_CSV_DOCUMENTS = 50_000
MAX_BODY_CHARS = 100_000
MAX_TITLE_CHARS = 2_000
MAX_TICKERS_PER_DOCUMENT = 50
INSERT_BATCH = 1_000
FUTURE_TOLERANCE = timedelta(days=1)
DOCUMENT_FIELDS = ("external_id", "url", "published_at", "title", "body", "language", "tickers")
_URL_VALIDATOR = URLValidator(schemes=["http", "https"])


class DocumentsInvalid(RowsInvalid, FinanceError):
    """Some rows are invalid; nothing was written. Lists the first problems, each naming its
    row and field (the platform's one row-problem error, ``config.problems``)."""

    default_code = "invalid_documents"
    refusal = "The documents were refused and nothing was stored"


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
    # A new document that is a copy of a stored story (near-duplicate): the story's first one.
    duplicate_of: int | None = None


@dataclass
class IngestResult:
    created: int = 0
    duplicates: int = 0
    # Created documents that are near-duplicates of a story already stored (or of an earlier
    # row): stored, but they do not count in the index again.
    copies: int = 0
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
        problems.append(Problem("must be an object with the document's fields", row))
        return None
    before = len(problems)

    def problem(field_name: str, message: str) -> None:
        problems.append(Problem(message, row, field_name))

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
     truncated, label, created_at, similar_count, minhash, lsh_keys)
SELECT %(tenant)s, %(source)s, r.external_id, r.url, r.published_at, r.title, r.body,
       r.language, string_to_array(r.tickers, ','), r.truncated, '', %(now)s, 0,
       r.minhash::int[], r.lsh_keys::bigint[]
FROM unnest(%(external_ids)s::text[], %(urls)s::text[], %(published)s::timestamptz[],
            %(titles)s::text[], %(bodies)s::text[], %(languages)s::text[],
            %(tickers)s::text[], %(truncated)s::bool[], %(minhash)s::text[],
            %(lsh_keys)s::text[])
     WITH ORDINALITY AS r(external_id, url, published_at, title, body, language, tickers,
                          truncated, minhash, lsh_keys, position)
ORDER BY r.position
ON CONFLICT ON CONSTRAINT document_tenant_source_external DO NOTHING
RETURNING id, external_id
"""


def _insert_documents(rows: list[DocumentRow], source: str, now: datetime,
                      fingerprints: Fingerprints | None) -> dict[str, int]:
    """Insert a batch in one statement, skipping (source, external_id) already stored; returns
    the ids of the rows inserted, by external id."""
    empty = ["{}"] * len(rows)
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
            "minhash": fingerprints.minhash if fingerprints else empty,
            "lsh_keys": fingerprints.lsh_keys if fingerprints else empty,
        })
        return {external_id: document_id for document_id, external_id in cursor.fetchall()}


@transaction.atomic
def documents_ingest(*, rows: Sequence[Any], source: str,
                     max_documents: int | None = MAX_DOCUMENTS_PER_REQUEST,
                     first_row: int = 0, extract: bool = True,
                     schedule_scoring: bool = True, dedup: bool = True) -> IngestResult:
    """Validate all rows, then store the new ones; all or nothing.

    Rows are dicts with ``DOCUMENT_FIELDS``. A document needs a title or a body; bodies over
    ``MAX_BODY_CHARS`` (titles over ``MAX_TITLE_CHARS``) are truncated and flagged, not
    refused. ``external_id`` defaults to the URL, else a hash of title and body; a row whose
    (source, external_id) is already stored is reported as a duplicate and left unchanged.
    Tickers are the explicit ones plus those found in the text (``tickers.py``) unless
    ``extract`` is off. Unless ``dedup`` is off, each new document is clustered with the
    near-duplicates already stored and earlier rows (``services.dedup``): a copy is stored
    but does not count in the index again. After commit, one scoring job is scheduled
    (debounced).
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
        fingerprints = (documents_fingerprint(texts=[f"{row.title}\n{row.body}" for row in batch])
                        if dedup else None)
        created = _insert_documents(batch, source, now, fingerprints)
        seen: set[str] = set()
        statuses: list[tuple[int, DocumentRow, int | None]] = []
        for offset, row in enumerate(batch):
            fresh = row.external_id in created and row.external_id not in seen
            seen.add(row.external_id)
            statuses.append((first_row + start + offset, row,
                             created[row.external_id] if fresh else None))
        copies: dict[int, int] = {}
        if fingerprints is not None:
            fresh_rows = [(offset, row, document_id) for offset, (_, row, document_id)
                          in enumerate(statuses) if document_id is not None]
            copies = documents_cluster(
                document_ids=[document_id for _, _, document_id in fresh_rows],
                published=[row.published_at for _, row, _ in fresh_rows],
                positions=[offset for offset, _, _ in fresh_rows], fingerprints=fingerprints)
            result.copies += len(copies)
        missing = {row.external_id for _, row, document_id in statuses if document_id is None}
        existing = (document_ids_by_external_id(source=source, external_ids=missing)
                    if missing else {})
        for row_number, row, document_id in statuses:
            if document_id is not None:
                result.created += 1
                result.documents.append(IngestedDocument(row_number, document_id,
                                                         row.external_id, "created",
                                                         row.truncated,
                                                         copies.get(document_id)))
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
    return DocumentsInvalid([Problem(message, row, column)])


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
        raise DocumentsInvalid([Problem("unknown column; the columns are " + ", ".join(CSV_COLUMNS),
                                        0, name or "(empty)") for name in unknown])
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
    """Delete a document and its scores; its contribution leaves the rollups. Deleting a
    story's first document makes its earliest copy the story's first (which then counts in
    the rollups); deleting a copy takes it off its story's count."""
    _rollups_shift(document_ids=[document.pk], new_labels=None, new_scores=None)
    if document.duplicate_of_id is not None:
        Document.objects.filter(pk=document.duplicate_of_id).update(
            similar_count=F("similar_count") - 1)
    successor = (Document.objects.filter(duplicate_of=document).order_by("id")
                 .select_for_update().first())
    if successor is not None:
        Document.objects.filter(duplicate_of=document).exclude(pk=successor.pk).update(
            duplicate_of=successor)
        Document.objects.filter(pk=successor.pk).update(
            duplicate_of=None, similar_count=max(document.similar_count - 1, 0))
        document_bands_store(document_ids=[successor.pk])
        if successor.label:
            _rollups_shift_in(document_id=successor.pk)
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
    # Not clustered either: a dataset's rows are texts to score, not stories of the news.
    return documents_ingest(rows=rows, source=f"dataset:{job.dataset.pk}", max_documents=None,
                            first_row=1, extract=False, schedule_scoring=False, dedup=False)
