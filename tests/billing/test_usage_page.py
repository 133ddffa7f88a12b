"""The usage page measures usage against what the plan includes (the hard limit beside it),
shows bytes in KB/MB/GB, and scales its chart to the data rather than to a far-off limit."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal

from billing.charts import nice_ceiling, usage_chart
from billing.models import Meter
from billing.numbers import byte_size
from billing.periods import month_bounds
from billing.selectors import MeterSummary
from tests.billing.conftest import put_on_plan, record_usage
from tests.conftest import TenantSetup


def _row(html: str, meter: str) -> str:
    row = html[html.index(f'<tr data-meter="{meter}"'):]
    return row[:row.index("</tr>")]


def _cell(row: str, testid: str) -> str:
    match = re.search(rf'data-testid="{testid}">(.*?)</', row)
    assert match, testid
    return match.group(1).strip()


def test_of_included_is_used_against_the_included_amount_and_the_limit_is_separate(
        acme: TenantSetup) -> None:
    put_on_plan(acme, "pro")  # API calls: 1,000,000 included, hard limit 100,000,000
    start, _ = month_bounds()
    record_usage(acme, Meter.API_CALLS, 250_000, key="calls", occurred_at=start)
    row = _row(acme.browser().get("/usage/").content.decode(), "api_calls")
    assert _cell(row, "used") == "250,000"
    assert _cell(row, "included") == "1,000,000"
    assert _cell(row, "percent") == "25.0%"  # was 0.3 % (of the hard limit)
    assert "100,000,000" in _cell(row, "limit")
    assert _cell(row, "percent-of-limit") == "(0.3% used)"


def test_storage_is_shown_in_human_units(acme: TenantSetup) -> None:
    put_on_plan(acme, "pro")  # storage: 50 GB included, 1,000 GB hard limit
    start, _ = month_bounds()
    record_usage(acme, Meter.STORAGE_BYTES, 1_500_000_000, key="storage:x", occurred_at=start)
    html = acme.browser().get("/usage/?meter=storage_bytes").content.decode()
    row = _row(html, "storage_bytes")
    assert _cell(row, "used") == "1.5 GB"
    assert _cell(row, "included") == "50 GB"
    assert "1 TB" in _cell(row, "limit")
    assert "1500000000" not in row
    assert "1,500,000,000" not in row
    assert _cell(row, "percent") == "3.0%"


def test_byte_sizes() -> None:
    assert byte_size(0) == "0 B"
    assert byte_size(999) == "999 B"
    assert byte_size(1_500) == "1.5 KB"
    assert byte_size(12_345_678) == "12.3 MB"
    assert byte_size(Decimal("1000000000.000000")) == "1 GB"


def _summary(used_per_day: list[int], *, included: int, limit: int | None,
             meter: str = Meter.API_CALLS) -> MeterSummary:
    first = date(2026, 11, 1)
    days = [(first + timedelta(days=offset), Decimal(0)) for offset in range(30)]
    for offset, quantity in enumerate(used_per_day):
        days[offset] = (days[offset][0], Decimal(quantity))
    used = Decimal(sum(used_per_day))
    return MeterSummary(meter=meter, label="API calls", used=used, included=Decimal(included),
                        limit=None if limit is None else Decimal(limit),
                        projected=used * 2, daily=days)


def _scale(svg: str) -> float:
    match = re.search(r'data-scale="([^"]+)"', svg)
    assert match
    return float(match.group(1))


def test_the_chart_is_scaled_to_the_data_not_a_far_off_limit() -> None:
    summary = _summary([1_000] * 15, included=1_000_000, limit=100_000_000)
    svg = str(usage_chart(summary, today=date(2026, 11, 15)))
    # Usage 15,000 projected to 30,000: the scale is 50,000, not 100,000,000.
    assert _scale(svg) == 50_000
    assert 'data-testid="usage-limit"' not in svg
    assert 'data-testid="usage-included"' not in svg
    assert 'data-testid="usage-included-off-scale"' in svg
    assert "limit 100M (above the chart)" in svg


def test_an_included_line_in_range_is_drawn_and_widens_the_scale() -> None:
    summary = _summary([1_000] * 15, included=40_000, limit=100_000_000)
    svg = str(usage_chart(summary, today=date(2026, 11, 15)))
    assert 'data-testid="usage-included"' in svg
    assert _scale(svg) == 50_000  # 40,000 fits under the data's round top
    summary = _summary([1_000] * 15, included=55_000, limit=None)
    svg = str(usage_chart(summary, today=date(2026, 11, 15)))
    assert 'data-testid="usage-included"' in svg
    assert _scale(svg) == 100_000
    assert "off-scale" not in svg


def test_storage_chart_axis_in_bytes_units() -> None:
    summary = _summary([2_000_000_000], included=50 * 10**9, limit=None,
                       meter=Meter.STORAGE_BYTES)
    svg = str(usage_chart(summary, today=date(2026, 11, 1)))
    assert ">5 GB<" in svg  # the scale's top (2 GB, projected 4 GB)
    assert "2000000000" not in svg


def test_nice_ceiling() -> None:
    assert nice_ceiling(0) == 1
    assert nice_ceiling(30_000) == 50_000
    assert nice_ceiling(2_400) == 2_500
    assert nice_ceiling(100) == 100
    assert nice_ceiling(101) == 200
