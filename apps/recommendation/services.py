"""Writes of the recommendation app: catalogue and user upserts, event ingestion, CSV
uploads, the worker's write-back (embeddings, popularity, top-K lists) and impressions.

Batches are all-or-nothing: every row is validated before anything is written, and a refusal
names each offending row and field. Items and users are upserted on their external id; events
are idempotent on the client's event id. An event naming an unknown *user* creates a stub user
(users often reach the events stream before the user record); an event naming an unknown
*item* is refused: recommending an item needs its title and categories, which an event does
not carry.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from uuid import uuid4

from django.db import connection, transaction
from django.utils import timezone

from apps.recommendation.models import (
    CATEGORY_LENGTH,
    EXTERNAL_ID_LENGTH,
    EndUser,
    Impression,
    Interaction,
    InteractionKind,
    Item,
    Recommendation,
)
from apps.recommendation.spec import APP, EVENTS_CSV, ITEMS_CSV
from config.errors import ServiceError
from config.problems import Problem, RowsInvalid
from jobs.datasets import DatasetInvalid, dataset_parse
from jobs.models import Job, ModelVersion
from jobs.registry import DatasetSchema
from jobs.services import job_submit
from jobs.writeback import bulk_insert_ignore

MAX_BATCH = 5_000
MAX_CSV_ROWS = 200_000
MAX_CSV_BYTES = 50 * 1024 * 1024
MAX_CATEGORIES = 50
MAX_RATING = 5.0
FUTURE_TOLERANCE = timedelta(days=1)
WRITE_CHUNK = 2_000
ITEM_FIELDS = ("external_id", "title", "description", "categories", "attributes", "available")
USER_FIELDS = ("external_id", "attributes")
T = TypeVar("T")
EVENT_FIELDS = ("event_id", "user", "item", "kind", "value", "occurred_at",
                "recommendation_id")
RECOMMENDATION_ID_LENGTH = 64


class RecsError(ServiceError):
    """A request the app refuses; ``code`` and ``status`` map onto the API error format."""


@dataclass(frozen=True)
class UpsertResult:
    created: int
    updated: int


@dataclass(frozen=True)
class EventsResult:
    created: int
    duplicates: int
    users_created: int


# --- Row validation --------------------------------------------------------------------------


class _Row:
    """Typed reads of one raw row, each recording a problem (row, field) instead of raising."""

    def __init__(self, raw: Any, number: int, fields: Sequence[str],
                 problems: list[Problem]) -> None:
        self.number = number
        self.problems = problems
        self.raw: dict[str, Any] = raw if isinstance(raw, dict) else {}
        if not isinstance(raw, dict):
            self.problem(None, "must be an object")
        for name in self.raw:
            if name not in fields:
                self.problem(str(name)[:60], f"unknown field; the fields are {', '.join(fields)}")

    def problem(self, field_name: str | None, message: str) -> None:
        self.problems.append(Problem(message, self.number, field_name))

    def text(self, name: str, *, max_length: int, required: bool = False) -> str:
        value = self.raw.get(name)
        if value is None or value == "":
            if required:
                self.problem(name, "is required")
            return ""
        if isinstance(value, int | float) and not isinstance(value, bool) and name != "title":
            value = str(value)  # numeric ids are common in exports
        if not isinstance(value, str):
            self.problem(name, f"must be a string, not {type(value).__name__}")
            return ""
        value = value.replace("\x00", "").strip()
        if required and not value:
            self.problem(name, "is required")
        if len(value) > max_length:
            self.problem(name, f"is longer than {max_length} characters")
        return value

    def mapping(self, name: str) -> dict[str, Any]:
        value = self.raw.get(name)
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.problem(name, "must be an object")
            return {}
        return value

    def flag(self, name: str, default: bool) -> bool:
        value = self.raw.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
            return value.strip().lower() in ("true", "1")
        self.problem(name, "must be true or false")
        return default


def _unique(rows: Sequence[tuple[int, str]], field_name: str, problems: list[Problem]) -> None:
    first: dict[str, int] = {}
    for number, key in rows:
        if not key:
            continue
        if key in first:
            problems.append(Problem(f"'{key[:60]}' repeats row {first[key]} in this batch",
                                    number, field_name))
        else:
            first[key] = number


def _check_batch(rows: Any, max_rows: int | None) -> list[Any]:
    if not isinstance(rows, list):
        raise RecsError("Send a list of rows.", fields={"rows": ["must be a list"]})
    if not rows:
        raise RecsError("The batch is empty.", fields={"rows": ["send at least one row"]})
    if max_rows is not None and len(rows) > max_rows:
        raise RecsError(f"A batch holds at most {max_rows:,} rows; this one has {len(rows):,}.",
                        code="batch_too_large",
                        fields={"rows": [f"at most {max_rows:,} per request"]})
    return rows


def _categories(row: _Row) -> list[str]:
    value = row.raw.get("categories")
    if value is None or value == "":
        return []
    if isinstance(value, str):  # CSV: "fantasy|young-adult"
        value = value.split("|")
    if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
        row.problem("categories", "must be a list of strings")
        return []
    cleaned = list(dict.fromkeys(c.strip().lower() for c in value if c.strip()))
    if len(cleaned) > MAX_CATEGORIES:
        row.problem("categories", f"at most {MAX_CATEGORIES} categories")
    if any(len(c) > CATEGORY_LENGTH for c in cleaned):
        row.problem("categories", f"each category is at most {CATEGORY_LENGTH} characters")
    return cleaned


# --- Catalogue and users ---------------------------------------------------------------------


@transaction.atomic
def items_upsert(*, rows: Any, max_rows: int | None = MAX_BATCH) -> UpsertResult:
    """Create or update items by external id. Changed items are embedded again by the next
    ``embed_items`` job (it picks items updated since their embedding)."""
    rows = _check_batch(rows, max_rows)
    problems: list[Problem] = []
    items: list[Item] = []
    for number, raw in enumerate(rows):
        row = _Row(raw, number, ITEM_FIELDS, problems)
        items.append(Item(
            external_id=row.text("external_id", max_length=EXTERNAL_ID_LENGTH, required=True),
            title=row.text("title", max_length=500, required=True),
            description=row.text("description", max_length=20_000),
            categories=_categories(row), attributes=row.mapping("attributes"),
            available=row.flag("available", True),
        ))
    _unique([(n, item.external_id) for n, item in enumerate(items)], "external_id", problems)
    if problems:
        raise RowsInvalid(problems)
    return _upsert(Item, items, ["title", "description", "categories", "attributes",
                                 "available", "updated_at"])


@transaction.atomic
def end_users_upsert(*, rows: Any, max_rows: int | None = MAX_BATCH) -> UpsertResult:
    """Create or update users by external id (a stub created by an event becomes a full
    user)."""
    rows = _check_batch(rows, max_rows)
    problems: list[Problem] = []
    users: list[EndUser] = []
    for number, raw in enumerate(rows):
        row = _Row(raw, number, USER_FIELDS, problems)
        users.append(EndUser(
            external_id=row.text("external_id", max_length=EXTERNAL_ID_LENGTH, required=True),
            attributes=row.mapping("attributes"), is_stub=False))
    _unique([(n, user.external_id) for n, user in enumerate(users)], "external_id", problems)
    if problems:
        raise RowsInvalid(problems)
    return _upsert(EndUser, users, ["attributes", "is_stub", "updated_at"])


def _upsert(model: type[Item] | type[EndUser], objects: list[Any],
            update_fields: list[str]) -> UpsertResult:
    keys = [obj.external_id for obj in objects]
    existing = set(model.objects.filter(external_id__in=keys).values_list("external_id",
                                                                          flat=True))
    tenant_id = _tenant_id()
    for obj in objects:
        obj.tenant_id = tenant_id
    model.objects.bulk_create(objects, batch_size=WRITE_CHUNK, update_conflicts=True,
                              unique_fields=["tenant", "external_id"],
                              update_fields=update_fields)
    return UpsertResult(created=len(keys) - len(existing), updated=len(existing))


def _tenant_id() -> int:
    from tenancy.context import require_tenant_id

    return require_tenant_id()


@transaction.atomic
def item_delete(*, item: Item) -> None:
    """Remove an item with its events, recommendations and impressions."""
    item.delete()


@transaction.atomic
def end_user_delete(*, user: EndUser) -> None:
    """Remove a user with their events and recommendations (a deletion request)."""
    user.delete()


# --- Events ----------------------------------------------------------------------------------


def _event_value(row: _Row, kind: str) -> float | None:
    value = row.raw.get("value")
    if value is None or value == "":
        if kind == InteractionKind.RATING:
            row.problem("value", "a rating needs a value (0 to 5 stars)")
        return None
    try:
        if isinstance(value, bool):
            raise ValueError
        number = float(value)
    except (TypeError, ValueError):
        row.problem("value", f"'{str(value)[:40]}' is not a number")
        return None
    if not math.isfinite(number) or number < 0:
        row.problem("value", "must be a number of at least 0")
        return None
    if kind == InteractionKind.RATING and number > MAX_RATING:
        row.problem("value", f"a rating is at most {MAX_RATING:g} stars")
    return number


def _event_time(row: _Row, now: datetime) -> datetime:
    value = row.raw.get("occurred_at")
    if value is None or value == "":
        return now
    parsed = None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            parsed = None
    if parsed is None:
        row.problem("occurred_at", "is not a date and time (ISO 8601, e.g. 2024-05-01T14:30Z)")
        return now
    parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if parsed > now + FUTURE_TOLERANCE:
        row.problem("occurred_at", f"{parsed.isoformat()} is in the future")
    return parsed


@transaction.atomic
def events_ingest(*, rows: Any, max_rows: int | None = MAX_BATCH) -> EventsResult:
    """Store a batch of interactions; refuse the whole batch when any row is invalid or names
    an unknown item. Unknown users are created as stubs. An event id already stored (by this
    batch sent earlier) is skipped and counted as a duplicate."""
    rows = _check_batch(rows, max_rows)
    now = timezone.now()
    problems: list[Problem] = []
    parsed: list[tuple[int, str, str, str, str, float | None, datetime, str]] = []
    for number, raw in enumerate(rows):
        row = _Row(raw, number, EVENT_FIELDS, problems)
        event_id = row.text("event_id", max_length=EXTERNAL_ID_LENGTH, required=True)
        user = row.text("user", max_length=EXTERNAL_ID_LENGTH, required=True)
        item = row.text("item", max_length=EXTERNAL_ID_LENGTH, required=True)
        kind = row.text("kind", max_length=16, required=True).lower()
        if kind and kind not in InteractionKind.values:
            row.problem("kind", f"'{kind[:20]}' is not one of {', '.join(InteractionKind.values)}")
        value = _event_value(row, kind)
        served_list = row.text("recommendation_id", max_length=RECOMMENDATION_ID_LENGTH)
        parsed.append((number, event_id, user, item, kind, value, _event_time(row, now),
                       served_list))
    _unique([(p[0], p[1]) for p in parsed], "event_id", problems)
    item_ids = dict(Item.objects.filter(external_id__in={p[3] for p in parsed})
                    .values_list("external_id", "id"))
    for number, _, _, item, *_ in parsed:
        if item and item not in item_ids:
            problems.append(Problem(f"unknown item '{item[:60]}'; send it to /api/v1/items "
                                    "first", number, "item"))
    if problems:
        raise RowsInvalid(sorted(problems, key=lambda p: p.row or 0))

    user_keys = {p[2] for p in parsed}
    known = dict(EndUser.objects.filter(external_id__in=user_keys)
                 .values_list("external_id", "id"))
    missing = sorted(user_keys - known.keys())
    if missing:
        EndUser.objects.bulk_create(
            [EndUser(tenant_id=_tenant_id(), external_id=key, is_stub=True) for key in missing],
            batch_size=WRITE_CHUNK, ignore_conflicts=True)
        known = dict(EndUser.objects.filter(external_id__in=user_keys)
                     .values_list("external_id", "id"))
    created = bulk_insert_ignore(
        Interaction, ["event_id", "user_id", "item_id", "kind", "value", "occurred_at",
                      "recommendation_id", "created_at"],
        ((event_id, known[user], item_ids[item], kind, value, occurred_at, served_list, now)
         for _, event_id, user, item, kind, value, occurred_at, served_list in parsed))
    return EventsResult(created=created, duplicates=len(parsed) - created,
                        users_created=len(missing))


# --- CSV uploads -----------------------------------------------------------------------------


def _csv_rows(data: bytes, filename: str, schema: DatasetSchema) -> list[dict[str, Any]]:
    """The file's rows through the platform's dataset parser (UTF-8, header, types), with the
    empty optional cells dropped; a refusal names the row (from 1) and the column."""
    try:
        parsed = dataset_parse(data=data, filename=filename or "upload.csv", schema=schema,
                               max_bytes=MAX_CSV_BYTES)
    except DatasetInvalid as error:
        raise RowsInvalid(error.problems) from None
    if parsed.row_count > MAX_CSV_ROWS:
        raise RecsError(f"A file holds at most {MAX_CSV_ROWS:,} rows.", code="file_too_large",
                        fields={"file": [f"at most {MAX_CSV_ROWS:,} rows"]})
    return [{key: value for key, value in row.items() if value is not None}
            for row in parsed.rows]


def _from_file_rows(error: RowsInvalid) -> RowsInvalid:
    """File rows count from 1 after the header; batch rows from 0."""
    return RowsInvalid([Problem(p.message, None if p.row is None else p.row + 1, p.column)
                        for p in error.problems])


def _csv_write(data: bytes, filename: str, schema: DatasetSchema,
               write: Callable[[list[dict[str, Any]]], T]) -> T:
    rows = _csv_rows(data, filename, schema)
    try:
        return write(rows)
    except RowsInvalid as error:
        raise _from_file_rows(error) from None


@transaction.atomic
def items_csv_upload(*, data: bytes, filename: str) -> UpsertResult:
    """A CSV of items (``categories`` separated by ``|``), all or nothing."""
    return _csv_write(data, filename, ITEMS_CSV,
                      lambda rows: items_upsert(rows=rows, max_rows=None))


@transaction.atomic
def events_csv_upload(*, data: bytes, filename: str) -> EventsResult:
    """A CSV of events (``value`` and ``occurred_at`` optional), all or nothing."""
    return _csv_write(data, filename, EVENTS_CSV,
                      lambda rows: events_ingest(rows=rows, max_rows=None))


# --- Jobs and the worker's write-back --------------------------------------------------------


def training_ready_check(*, params: dict[str, Any] | None = None) -> None:
    """Refuse training up front when it could only fail: the model learns from events between
    the catalogue's items, so with no item or no event the job would fail ("There are no
    interactions") and offer a retry that fails the same way."""
    if not Item.objects.exists():
        raise RecsError("Nothing to train on: the catalogue is empty. Add items "
                        "(POST /api/v1/items or a CSV upload), then events, then train.",
                        code="nothing_to_train")
    if not Interaction.objects.exists():
        raise RecsError("Nothing to train on: there are no events yet. Send events "
                        "(POST /api/v1/events or a CSV upload) about the catalogue's items, "
                        "then train.", code="nothing_to_train")


def embedding_ready_check(*, params: dict[str, Any]) -> None:
    """Embedding an empty catalogue does nothing, and embedding to train then refuses later:
    both are refused now, with training's reason."""
    if params.get("then_train") is not None:
        training_ready_check()
    elif not Item.objects.exists():
        raise RecsError("Nothing to embed: the catalogue is empty. Add items first.",
                        code="nothing_to_embed")


def training_submit(*, recommend_k: int = 20, created_by_id: int | None = None,
                    params: dict[str, Any] | None = None) -> Job:
    """Embed new or changed items, then train (the embedding job submits the training job
    when it is done, so the model sees every embedding); a promoted version then submits the
    top-K job. Returns the embedding job."""
    return job_submit(app=APP, kind="embed_items",
                      params={"then_train": {"recommend_k": recommend_k, **(params or {})}},
                      created_by_id=created_by_id).job


def item_text(title: str, categories: Sequence[str], description: str) -> str:
    """What the encoder reads of an item."""
    parts = [title]
    if categories:
        parts.append("Categories: " + ", ".join(categories[:20]))
    if description:
        parts.append(description[:1000])
    return ". ".join(parts)


def _update_items(column_sql: str, array_type: str, ids: Sequence[int],
                  values: Sequence[Any], extra: tuple[str, list[Any]] = ("", []),
                  where: str = "") -> int:
    """One ``UPDATE ... FROM unnest(ids, values)`` of the current tenant's items:
    ``column_sql`` assigns from ``batch.value``; ``where`` narrows the rows written."""
    set_extra, extra_params = extra
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Item._meta.db_table} AS item SET {column_sql}{set_extra} "  # noqa: S608
            f"FROM unnest(%s::bigint[], %s::{array_type}[]) AS batch(id, value) "
            f"WHERE item.id = batch.id AND item.tenant_id = %s{where}",
            [*extra_params, list(ids), list(values), _tenant_id()])
        return cursor.rowcount


def item_embeddings_record(*, ids: Sequence[int], vectors: Sequence[Sequence[float]],
                           embedded_at: datetime) -> int:
    """Store the items' embeddings in one statement per chunk."""
    literals = ["[" + ",".join(f"{value:.6g}" for value in vector) + "]" for vector in vectors]
    return _update_items("embedding = batch.value::vector", "text", ids, literals,
                         extra=(", embedded_at = %s", [embedded_at]))


@transaction.atomic
def item_popularity_record(*, popularity: dict[int, float]) -> int:
    """Replace the popularity prior (what cold users are served) with a training's; returns
    how many items changed.

    Only rows whose value changes are written. Every written item row is a new row version
    with an entry in each of the table's indexes, the shared HNSW index included (the
    popularity index rules out a HOT update), and an HNSW insert costs milliseconds: resetting
    a 20,000-item catalogue to zero row by row took 106 s, nearly all of it in that index."""
    reset = (Item.objects.exclude(pk__in=list(popularity)).exclude(popularity=0.0)
             .update(popularity=0.0))
    return reset + _update_items("popularity = batch.value", "float8", list(popularity),
                                 list(popularity.values()),
                                 where=" AND item.popularity IS DISTINCT FROM batch.value")


@dataclass(frozen=True)
class RecommendationRow:
    user_id: int
    item_id: int
    rank: int
    score: float
    reason: str


def recommendations_record(*, job: Job, version: ModelVersion | None,
                           rows: Iterable[RecommendationRow]) -> int:
    """Write top-K rows keyed (job, user, item): a retried chunk writes nothing twice."""
    now = timezone.now()
    version_id = version.pk if version is not None else None
    return bulk_insert_ignore(
        Recommendation, ["job_id", "model_version_id", "user_id", "item_id", "rank", "score",
                         "reason", "created_at"],
        ((job.pk, version_id, row.user_id, row.item_id, row.rank, row.score, row.reason, now)
         for row in rows))


# --- Impressions -----------------------------------------------------------------------------


def impressions_log(*, user_external_id: str, item_ids: Sequence[int], source: str,
                    experiment_id: int | None = None, arm: str = "") -> str:
    """Log a served list (one row per item, in order); returns the request id that the
    response carries (its recommendation id), and records the A/B test's arm when the list
    was served under one.

    Committed asynchronously when this is the request's own transaction: the commit does not
    wait for the WAL to reach the disk, which was about 4 ms of a served request here. A
    database crash can lose the impressions of the last fraction of a second (never a part
    of one list); no other write shares the transaction."""
    request_id = uuid4().hex
    if item_ids:
        now = timezone.now()
        own_transaction = not connection.in_atomic_block
        with transaction.atomic():
            if own_transaction:
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL synchronous_commit = off")
            Impression.objects.bulk_create([
                Impression(tenant_id=_tenant_id(), request_id=request_id,
                           user_external_id=user_external_id, item_id=item_id,
                           position=position, source=source, served_at=now,
                           experiment_id=experiment_id, arm=arm)
                for position, item_id in enumerate(item_ids, start=1)
            ])
    return request_id
