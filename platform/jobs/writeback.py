"""Bulk write-back of result rows: COPY into a temporary table, then one
``INSERT ... SELECT ... ON CONFLICT DO NOTHING`` into the target.

Results are keyed by (tenant, job, item) unique constraints, so a task that runs twice, or
resumes after its worker died, writes each item exactly once. One round trip per chunk, no
query per row. ``tenant_id`` comes from the tenant context, and row-level security checks
every inserted row against it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from itertools import islice
from typing import Any

from django.db import IntegrityError, connection, models, transaction

from tenancy.context import require_tenant_id

# COPY's text format: these characters must be escaped inside a value.
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_NULL = "\\N"
_json = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
BLOCK_ROWS = 5_000

# Values are formatted here, one function per column chosen from the model field, rather than
# adapted one by one by the driver: that adaptation was most of the write-back time.


def _text(value: Any) -> str:
    return _NULL if value is None else str(value).translate(_ESCAPES)


def _number(value: Any) -> str:
    return _NULL if value is None else repr(value)


def _json_value(value: Any) -> str:
    return _NULL if value is None else _json(value).translate(_ESCAPES)


def _boolean(value: Any) -> str:
    return _NULL if value is None else ("t" if value else "f")


def _temporal(value: Any) -> str:
    return _NULL if value is None else value.isoformat()


def _formatter(field: models.Field) -> Callable[[Any], str]:
    if isinstance(field, models.JSONField):
        return _json_value
    if isinstance(field, models.BooleanField):
        return _boolean
    if isinstance(field, models.DateField | models.DateTimeField):
        return _temporal
    if isinstance(field, models.IntegerField | models.FloatField | models.ForeignKey
                  | models.AutoField):
        return _number
    return _text


def bulk_insert_ignore(model: type[models.Model], columns: Sequence[str],
                       rows: Iterable[Sequence[Any]]) -> int:
    """Insert ``rows`` (values in ``columns`` order, without ``tenant_id``) into ``model``'s
    table, skipping rows that hit a unique constraint. Returns how many were inserted."""
    table = connection.ops.quote_name(model._meta.db_table)
    all_columns = ["tenant_id", *columns]
    column_sql = ", ".join(connection.ops.quote_name(name) for name in all_columns)
    tenant_id = require_tenant_id()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMP TABLE _writeback ON COMMIT DROP AS "  # noqa: S608  (quoted names)
            f"SELECT {column_sql} FROM {table} WITH NO DATA"
        )
        fields = {field.attname: field for field in model._meta.concrete_fields}
        formats = [_formatter(fields[name]) for name in columns]
        prefix = f"{tenant_id}\t"
        iterator = iter(rows)
        with cursor.copy(f"COPY _writeback ({column_sql}) FROM STDIN") as copy:
            while block := list(islice(iterator, BLOCK_ROWS)):
                copy.write("".join(
                    prefix + "\t".join([fmt(value) for fmt, value in zip(formats, row,
                                                                           strict=True)]) + "\n"
                    for row in block
                ).encode())
        insert = (f"INSERT INTO {table} ({column_sql}) "  # noqa: S608  (quoted names)
                  f"SELECT {column_sql} FROM _writeback")
        try:
            # Optimistic: a fresh job's rows never conflict, and a plain INSERT is about a
            # third cheaper than speculative insertion. A retried or resumed job's duplicates
            # roll back this savepoint and take the ON CONFLICT path.
            with transaction.atomic():
                cursor.execute(insert)
        except IntegrityError:
            cursor.execute(insert + " ON CONFLICT DO NOTHING")
        inserted = cursor.rowcount
        cursor.execute("DROP TABLE _writeback")
    return int(inserted)
