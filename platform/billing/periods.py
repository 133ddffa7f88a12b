"""Billing periods are calendar months in UTC: quotas reset and invoices close on the 1st."""

from __future__ import annotations

from datetime import UTC, datetime

from django.utils import timezone


def month_bounds(moment: datetime | None = None) -> tuple[datetime, datetime]:
    """``[start, end)`` of the calendar month (UTC) holding ``moment`` (default: now)."""
    moment = (moment or timezone.now()).astimezone(UTC)
    start = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(
        month=start.month + 1)
    return start, end


def fraction_elapsed(start: datetime, end: datetime, moment: datetime) -> float:
    """Share of ``[start, end)`` elapsed at ``moment``, clamped to [0, 1]."""
    total = (end - start).total_seconds()
    done = (moment - start).total_seconds()
    return min(max(done / total, 0.0), 1.0) if total > 0 else 1.0
