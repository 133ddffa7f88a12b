"""Reading and validating uploaded datasets (CSV or JSON lines) against an app's schema.

Validation reads the whole file before anything is stored, and reports the first problems
with the row and column they concern, so a refused upload leaves nothing behind. Row numbers
count data records from 1 (the CSV header is row 0), which is what spreadsheet users see
after the header.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from config.problems import MAX_PROBLEMS, Problem, RowsInvalid
from jobs.registry import Column, DatasetSchema


class DatasetInvalid(RowsInvalid):
    """An upload refused by :func:`dataset_parse`. Its message lists every kept problem (pages
    show it after their own words); the API's says "The dataset was refused: " first."""

    default_code = "invalid_dataset"
    refusal = "The dataset was refused"

    def describe(self) -> str:
        return "; ".join(str(problem) for problem in self.problems)

    @property
    def api_message(self) -> str:
        return f"{self.refusal}: {self}"


@dataclass
class ParsedDataset:
    format: str
    rows: list[dict[str, Any]]
    columns: list[str]
    sha256: str
    size_bytes: int
    label_counts: dict[str, int] = field(default_factory=dict)

    @property
    def row_count(self) -> int:
        return len(self.rows)


def human_bytes(size: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}".replace(".0 ", " ")
    return ngettext("%(size)d byte", "%(size)d bytes", size) % {"size": size}


def detect_format(filename: str, data: bytes) -> str:
    name = filename.lower()
    if name.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    if name.endswith(".csv"):
        return "csv"
    return "jsonl" if data.lstrip()[:1] == b"{" else "csv"


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise DatasetInvalid([Problem(
            _("the file is not UTF-8 (byte 0x%(byte)02X on line %(line)d); save it as UTF-8 "
              "and upload it again") % {"byte": data[error.start], "line": line}
        )]) from None


def _convert(column: Column, raw: Any, schema: DatasetSchema) -> tuple[Any, str | None]:
    """The typed value of one cell, or an error message."""
    if raw is None or (isinstance(raw, str) and raw.strip() == ""):
        return None, (_("is required") if column.required else None)
    if column.type in ("str", "label"):
        value = str(raw).strip() if column.type == "label" else str(raw)
        if column.max_length is not None and len(value) > column.max_length:
            return None, _("is longer than %(max)d characters") % {"max": column.max_length}
        if column.type == "label":
            value = schema.label_aliases.get(value, value)
            if schema.labels is not None and value not in schema.labels:
                return None, _("'%(value)s' is not one of %(labels)s") % {
                    "value": value, "labels": ", ".join(schema.labels)}
        return value, None
    if column.type == "int":
        try:
            if isinstance(raw, bool):
                raise ValueError
            return int(str(raw).strip()), None
        except ValueError:
            return None, _("'%(value)s' is not a whole number") % {"value": raw}
    if column.type == "float":
        try:
            return float(str(raw).strip()), None
        except ValueError:
            return None, _("'%(value)s' is not a number") % {"value": raw}
    if column.type == "datetime":
        parsed: datetime | None = parse_datetime(str(raw).strip())
        if parsed is None:
            return None, _("'%(value)s' is not a date and time (use ISO 8601, e.g. "
                           "2024-05-01T09:30:00Z)") % {"value": raw}
        return parsed.isoformat(), None
    raise ValueError(f"unknown column type {column.type}")


def _records(text: str, fmt: str, problems: list[Problem]) -> Iterator[tuple[int, dict[str, Any]]]:
    if fmt == "csv":
        reader = csv.DictReader(io.StringIO(text, newline=""))
        for number, record in enumerate(reader, start=1):
            if None in record:
                problems.append(Problem(_("has more values than the header has columns"), number))
                continue
            yield number, record
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            problems.append(Problem(_("is not valid JSON (%(error)s)") % {"error": error.msg},
                                    number))
            continue
        if not isinstance(record, dict):
            problems.append(Problem(_("is not a JSON object"), number))
            continue
        yield number, record


def _header(text: str, fmt: str) -> list[str] | None:
    if fmt != "csv":
        return None
    first = next(csv.reader(io.StringIO(text, newline="")), None)
    return [name.strip() for name in first] if first else []


def dataset_parse(*, data: bytes, filename: str, schema: DatasetSchema,
                  max_bytes: int) -> ParsedDataset:
    """Parse and validate a whole file; raise :class:`DatasetInvalid` listing what is wrong."""
    if len(data) > max_bytes:
        raise DatasetInvalid([Problem(
            _("the file is %(size)s; the limit is %(limit)s")
            % {"size": human_bytes(len(data)), "limit": human_bytes(max_bytes)}
        )])
    if not data.strip():
        raise DatasetInvalid([Problem(_("the file is empty"))])
    fmt = detect_format(filename, data)
    text = _decode(data)
    problems: list[Problem] = []

    header = _header(text, fmt)
    if header is not None:
        missing = [name for name in schema.column_names if name not in header]
        for name in missing:
            column = next(c for c in schema.columns if c.name == name)
            if column.required:
                problems.append(Problem(_("is missing from the header"), 0, name))
        duplicates = sorted({name for name in header if header.count(name) > 1})
        for name in duplicates:
            problems.append(Problem(_("appears more than once in the header"), 0, name))
        if problems:
            raise DatasetInvalid(problems)

    rows: list[dict[str, Any]] = []
    labels: Counter[str] = Counter()
    for number, record in _records(text, fmt, problems):
        row: dict[str, Any] = {}
        for column in schema.columns:
            value, error = _convert(column, record.get(column.name), schema)
            if error:
                problems.append(Problem(error, number, column.name))
            row[column.name] = value
        if column_label := next((c.name for c in schema.columns if c.type == "label"), None):
            if row.get(column_label) is not None:
                labels[row[column_label]] += 1
        rows.append(row)
        if len(problems) > MAX_PROBLEMS:
            break
    if problems:
        raise DatasetInvalid(problems)
    if not rows:
        raise DatasetInvalid([Problem(_("the file has a header but no rows"))])
    return ParsedDataset(
        format=fmt,
        rows=rows,
        columns=schema.column_names,
        sha256=hashlib.sha256(data).hexdigest(),
        size_bytes=len(data),
        label_counts=dict(sorted(labels.items())),
    )
