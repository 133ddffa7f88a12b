"""Bulk write-back of result rows: COPY into a temporary table, then one
``INSERT ... SELECT ... ON CONFLICT DO NOTHING`` into the target.

Results are keyed by (tenant, job, item) unique constraints, so a task that runs twice, or
resumes after its worker died, writes each item exactly once. One round trip per chunk, no
query per row. ``tenant_id`` comes from the tenant context, and row-level security checks
every inserted row against it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connection, models, transaction
from psycopg.types.json import Jsonb

from tenancy.context import require_tenant_id


def bulk_insert_ignore(model: type[models.Model], columns: Sequence[str],
                       rows: Iterable[Sequence[Any]]) -> int:
    """Insert ``rows`` (values in ``columns`` order, without ``tenant_id``) into ``model``'s
    table, skipping rows that hit a unique constraint. Returns how many were inserted."""
    table = connection.ops.quote_name(model._meta.db_table)
    fields = {field.attname: field for field in model._meta.concrete_fields}
    json_columns = {
        index for index, name in enumerate(columns) if isinstance(fields[name], models.JSONField)
    }
    all_columns = ["tenant_id", *columns]
    column_sql = ", ".join(connection.ops.quote_name(name) for name in all_columns)
    tenant_id = require_tenant_id()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMP TABLE _writeback ON COMMIT DROP AS "  # noqa: S608  (quoted names)
            f"SELECT {column_sql} FROM {table} WITH NO DATA"
        )
        with cursor.copy(f"COPY _writeback ({column_sql}) FROM STDIN") as copy:
            for row in rows:
                values = [Jsonb(value) if index in json_columns else value
                          for index, value in enumerate(row)]
                copy.write_row([tenant_id, *values])
        cursor.execute(
            f"INSERT INTO {table} ({column_sql}) SELECT {column_sql} "  # noqa: S608
            f"FROM _writeback ON CONFLICT DO NOTHING"
        )
        inserted = cursor.rowcount
        cursor.execute("DROP TABLE _writeback")
    return int(inserted)
