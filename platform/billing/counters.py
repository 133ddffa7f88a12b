"""The real-time usage counters in Redis and the Lua scripts that keep them: the ground floor
of billing. It imports no billing module but ``models``: the plan's limit and the recorded usage
that seeds a counter come from its callers (``billing.metering`` on the hot path,
``billing.services.meter_flush`` for the flush), so the reads (``billing.selectors``, which add
unflushed counts to the records) and the writes both build on it and on nothing circular.

A metered request costs one Redis round trip (a Lua script), never a database write:

- ``billing:used:<tenant>:<YYYYMM>:<meter>``: the tenant's usage of the meter this month,
  seeded from the database (records + unflushed counters) and kept for
  ``BILLING_USAGE_COUNTER_TTL_SECONDS``, so that job usage and staff corrections join it
  soon. The script refuses (402) when the request would pass the plan's hard limit, and
  otherwise adds to it: check and add are one atomic step, so concurrent requests at the
  limit cannot all pass. A meter without a hard limit needs no such counter.
- ``billing:rt:<tenant>:<window>``: a hash meter → count for one flush window
  (``BILLING_FLUSH_WINDOW_SECONDS``), listed in ``billing:rt:windows:<tenant>`` and the
  tenant in ``billing:rt:tenants``.

``meter_flush`` (beat) first *takes* a window: one script renames its hash to
``billing:rt:flushing:<tenant>:<window>:<seq>`` (a fresh sequence number) and lists it in
``billing:rt:flushing:<tenant>``. It then writes usage records keyed
``rt:<window>:<seq>:<meter>`` with ``INSERT ... ON CONFLICT DO NOTHING``, commits, and only
then drops the taken hash. A flush that dies before the drop leaves the taken hash listed; the
next flush writes it again under the same keys, which changes nothing: each window is billed
once. A request that counts into a window after it was taken opens a new hash for it, taken
by a later flush under a new sequence number, so nothing is lost either.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache

from django.conf import settings
from redis.commands.core import Script

from billing.models import UsageRecord
from config.redis import redis_client

TENANTS_KEY = "billing:rt:tenants"

# KEYS: used counter, window hash, tenant's windows, tenants with windows.
# ARGV: quantity, limit ('' = none), meter, window, tenant.
# Returns {status, used}: -1 the counter needs seeding, 0 refused, 1 counted. Without a limit
# the month's counter is not needed (nor seeded): only the window counts.
_CONSUME = """
local total = '0'
if ARGV[2] ~= '' then
  local used = redis.call('GET', KEYS[1])
  if not used then return {-1, '0'} end
  if tonumber(used) + tonumber(ARGV[1]) > tonumber(ARGV[2]) then return {0, used} end
  total = redis.call('INCRBYFLOAT', KEYS[1], ARGV[1])
end
redis.call('HINCRBY', KEYS[2], ARGV[3], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[4])
redis.call('SADD', KEYS[4], ARGV[5])
return {1, total}
"""

# A refund: back out of the counter (if still there) and the window it was counted in.
_REFUND = """
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('INCRBYFLOAT', KEYS[1], '-' .. ARGV[1]) end
redis.call('HINCRBY', KEYS[2], ARGV[2], -tonumber(ARGV[1]))
redis.call('SADD', KEYS[3], ARGV[3])
redis.call('SADD', KEYS[4], ARGV[4])
return 1
"""

# Take a window for flushing: rename its hash under a new sequence number.
# KEYS: window hash, tenant's windows, tenant's taken hashes, sequence.
# ARGV: window, taken-hash key prefix. Returns the taken member "<window>:<seq>" or false.
_TAKE = """
redis.call('SREM', KEYS[2], ARGV[1])
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local member = ARGV[1] .. ':' .. redis.call('INCR', KEYS[4])
redis.call('RENAME', KEYS[1], ARGV[2] .. member)
redis.call('SADD', KEYS[3], member)
return member
"""

# Drop a recorded taken hash, and the tenant once nothing of it is left (atomically, so that
# a window opened meanwhile keeps its tenant listed).
# KEYS: taken hash, tenant's taken hashes, tenant's windows, tenants. ARGV: member, tenant.
_DROP = """
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
if redis.call('SCARD', KEYS[2]) == 0 and redis.call('SCARD', KEYS[3]) == 0 then
  redis.call('SREM', KEYS[4], ARGV[2])
end
return 1
"""
SEQUENCE_KEY = "billing:rt:seq"


@lru_cache(maxsize=8)
def _script(source: str) -> Script:
    """A Lua script registered once per process (then called by its SHA)."""
    return redis_client().register_script(source)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def window_seconds() -> int:
    return int(settings.BILLING_FLUSH_WINDOW_SECONDS)


def window_of(moment: float) -> int:
    return int(moment // window_seconds())


def window_start(window: int) -> datetime:
    return datetime.fromtimestamp(window * window_seconds(), tz=UTC)


def used_key(tenant_id: int, meter: str, period_start: datetime) -> str:
    return f"billing:used:{tenant_id}:{period_start:%Y%m}:{meter}"


def window_key(tenant_id: int, window: int) -> str:
    return f"billing:rt:{tenant_id}:{window}"


def windows_key(tenant_id: int) -> str:
    return f"billing:rt:windows:{tenant_id}"


def taken_prefix(tenant_id: int) -> str:
    return f"billing:rt:flushing:{tenant_id}:"


def taken_key(tenant_id: int) -> str:
    return f"billing:rt:flushing:{tenant_id}"


@dataclass(frozen=True)
class Consumption:
    """What ``meter_consume`` counted, so that a failed request can give it back."""

    tenant_id: int
    meter: str
    quantity: int
    window: int
    period_start: datetime


def _counts(fields: dict) -> dict[str, int]:
    return {_text(meter): int(value) for meter, value in fields.items()}


def pending_usage(*, tenant_id: int, start: datetime, end: datetime) -> dict[str, int]:
    """Counted but not yet recorded, per meter, in windows starting in ``[start, end)``: open
    windows, and taken ones whose records are not written yet."""
    client = redis_client()
    open_windows = [(int(raw), "") for raw in client.smembers(windows_key(tenant_id))]
    taken = [(int(_text(raw).split(":")[0]), _text(raw))
             for raw in client.smembers(taken_key(tenant_id))]
    hashes = [(window, member) for window, member in [*open_windows, *taken]
              if start <= window_start(window) < end]
    if not hashes:
        return {}
    pipe = client.pipeline()
    for window, member in hashes:
        pipe.hgetall(taken_prefix(tenant_id) + member if member else window_key(tenant_id,
                                                                                window))
    counted = list(zip(hashes, (_counts(fields) for fields in pipe.execute()), strict=True))
    keys = {record_key(member, meter) for (_, member), counts in counted if member
            for meter in counts}
    recorded = set(UsageRecord.objects.filter(idempotency_key__in=keys)
                   .values_list("idempotency_key", flat=True)) if keys else set()
    totals: dict[str, int] = {}
    for (_, member), counts in counted:
        for meter, value in counts.items():
            if not member or record_key(member, meter) not in recorded:
                totals[meter] = totals.get(meter, 0) + value
    return totals


def record_key(member: str, meter: str) -> str:
    """``rt:<window>:<seq>:<meter>``: the idempotency key of a taken window's record."""
    return f"rt:{member}:{meter}"


# What ``counter_add`` answers.
NEEDS_SEED, REFUSED, COUNTED = -1, 0, 1


def counter_add(*, tenant_id: int, meter: str, quantity: int, limit: Decimal | None,
                window: int, period_start: datetime) -> tuple[int, Decimal]:
    """Count ``quantity`` in the open window and, under a hard ``limit``, in the month's
    counter, unless it would pass the limit: one atomic script. Returns (``COUNTED``,
    ``REFUSED`` or ``NEEDS_SEED``: the month's counter must first be seeded with
    ``counter_seed``; the month's usage so far)."""
    status, used = _script(_CONSUME)(
        keys=[used_key(tenant_id, meter, period_start), window_key(tenant_id, window),
              windows_key(tenant_id), TENANTS_KEY],
        args=[quantity, "" if limit is None else str(limit), meter, window, tenant_id],
    )
    return int(status), Decimal(_text(used))


def counter_seed(*, tenant_id: int, meter: str, period_start: datetime, used: Decimal) -> None:
    """Start the month's counter of ``meter`` at ``used`` (records plus unflushed counts)."""
    # NX: of two requests seeding at once, the first wins; both computed the same truth.
    redis_client().set(used_key(tenant_id, meter, period_start), str(used), nx=True,
                       ex=settings.BILLING_USAGE_COUNTER_TTL_SECONDS)


def counter_refund(consumption: Consumption) -> None:
    """Back a consumption out of the month's counter (if still there) and of its window."""
    tenant_id = consumption.tenant_id
    _script(_REFUND)(
        keys=[used_key(tenant_id, consumption.meter, consumption.period_start),
              window_key(tenant_id, consumption.window), windows_key(tenant_id), TENANTS_KEY],
        args=[consumption.quantity, consumption.meter, consumption.window, tenant_id])


# --- The flush's steps (``billing.services.meter_flush`` runs them) -------------------------


def counted_tenants() -> list[int]:
    """Tenants with open or taken windows."""
    return [int(raw) for raw in redis_client().smembers(TENANTS_KEY)]


def windows_take(*, tenant_id: int, last_closed: int) -> list[str]:
    """Take every open window of the tenant up to ``last_closed``; returns every taken member
    ``<window>:<seq>`` of the tenant, those a crashed flush left included, in order."""
    client = redis_client()
    take = _script(_TAKE)
    for window in sorted(int(raw) for raw in client.smembers(windows_key(tenant_id))):
        if window <= last_closed:
            take(keys=[window_key(tenant_id, window), windows_key(tenant_id),
                       taken_key(tenant_id), SEQUENCE_KEY],
                 args=[window, taken_prefix(tenant_id)])
    return sorted(_text(raw) for raw in client.smembers(taken_key(tenant_id)))


def taken_counts(*, tenant_id: int, member: str) -> dict[str, int]:
    """meter → count of a taken window."""
    return _counts(redis_client().hgetall(taken_prefix(tenant_id) + member))


def taken_drop(*, tenant_id: int, member: str) -> None:
    """Drop a taken window once its records are committed (and the tenant, if nothing of it
    is left)."""
    _script(_DROP)(keys=[taken_prefix(tenant_id) + member, taken_key(tenant_id),
                         windows_key(tenant_id), TENANTS_KEY],
                   args=[member, tenant_id])


def taken_occurred_at(member: str) -> datetime:
    """When a taken window's usage happened: the window's start."""
    return window_start(int(member.split(":")[0]))
