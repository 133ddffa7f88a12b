"""Real-time metering on the hot path: ``meter_consume`` counts a request in Redis (one Lua
script round trip, never a database write) and refuses it over the plan's hard limit;
``metered`` gives the count back when the request fails. The counters and their scripts are
``billing.counters``; ``billing.services.meter_flush`` (beat) turns them into usage records.

This module sits above ``billing.selectors``: it reads the plan's limit and, to seed a month's
counter, the usage recorded so far. Nothing in billing below it imports it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal

from django.conf import settings

from billing.counters import (
    COUNTED,
    REFUSED,
    Consumption,
    counter_add,
    counter_refund,
    counter_seed,
    window_of,
)
from billing.exceptions import QuotaExceeded
from billing.periods import month_bounds
from billing.selectors import meter_usage, plan_limit
from tenancy.context import require_tenant_id


def meter_consume(*, meter: str, quantity: int = 1) -> Consumption | None:
    """Count ``quantity`` of ``meter`` for the tenant in context, or raise ``QuotaExceeded``
    (nothing counted) when it would pass the plan's hard limit. ``None`` when metering is off."""
    if not settings.BILLING_METERING_ENABLED or quantity <= 0:
        return None
    tenant_id = require_tenant_id()
    limit = plan_limit(tenant_id=tenant_id, meter=meter)
    now = time.time()
    period_start, period_end = month_bounds(datetime.fromtimestamp(now, tz=UTC))
    window = window_of(now)
    for _attempt in range(3):
        status, used = counter_add(tenant_id=tenant_id, meter=meter, quantity=quantity,
                                   limit=limit, window=window, period_start=period_start)
        if status == COUNTED:
            return Consumption(tenant_id=tenant_id, meter=meter, quantity=quantity,
                               window=window, period_start=period_start)
        if status == REFUSED:
            raise QuotaExceeded(meter=meter, used=used, limit=limit or Decimal(0),
                                requested=quantity)
        counter_seed(tenant_id=tenant_id, meter=meter, period_start=period_start,
                     used=meter_usage(meter=meter, start=period_start, end=period_end))
    raise RuntimeError("The usage counter could not be seeded.")


def meter_refund(consumption: Consumption | None) -> None:
    """Give back a consumption whose request failed (e.g. no inference worker answered)."""
    if consumption is not None:
        counter_refund(consumption)


@contextmanager
def metered(*, meter: str, quantity: int = 1) -> Iterator[Consumption | None]:
    """Count the usage before the block (refusing over the limit) and give it back if the
    block raises: a failed request is not billed."""
    consumption = meter_consume(meter=meter, quantity=quantity)
    try:
        yield consumption
    except BaseException:
        meter_refund(consumption)
        raise
