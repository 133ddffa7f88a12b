"""CSV exports neutralise cells a spreadsheet would run as formulas (CSV injection)."""

from __future__ import annotations

import csv
import io

import pytest

from config.csvexport import csv_writer, safe_cell


@pytest.mark.parametrize(("cell", "expected"), [
    ("=1+1", "'=1+1"), ("+cmd", "'+cmd"), ("-2+3", "'-2+3"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\t=1", "'\t=1"), ("\r=1", "'\r=1"), ("plain", "plain"), ("a=b", "a=b"),
    ("-0.5", "-0.5"), ("+3", "+3"), ("1e-3", "1e-3"), (-2, -2), (None, None),
])
def test_safe_cell(cell: object, expected: object) -> None:
    assert safe_cell(cell) == expected


def test_the_writer_applies_it_to_every_cell() -> None:
    buffer = io.StringIO()
    csv_writer(buffer).writerows([["=a", "b"], ["c", "@d"]])
    assert list(csv.reader(io.StringIO(buffer.getvalue()))) == [["'=a", "b"], ["c", "'@d"]]
