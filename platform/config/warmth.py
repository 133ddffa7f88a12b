"""Whether a queue's workers are warm: started, with the platform default models loaded.

Each warm worker keeps an entry in its queue's sorted set ``workers:warm:<queue>``: its
hostname, scored with the moment it stops counting (now + ``WARM_TTL_SECONDS``), refreshed
every ``WARM_REFRESH_SECONDS`` by ``workers.warmup``. So a worker that stops, crashes or loses
Redis goes cold by itself within the TTL, with nothing to clean up, and ``/readyz`` (probed
every few seconds by every web pod) asks one ``ZCOUNT`` instead of scanning Redis's keyspace
for per-worker keys. ``/readyz`` reports ``{"workers": {"online": "warm" | "cold"}}``. The
scores are the workers' clocks, compared with the web pod's: skew of seconds is nothing
against the 30 s TTL.

Why it matters: a real-time request that reaches an online worker still loading its model
waits for the load (seconds on a CPU) and can run past the web tier's
``ONLINE_TIMEOUT_SECONDS``: a 503. Workers load the defaults as they start, and this says when
they have.
"""

from __future__ import annotations

import time

from config.redis import redis_client

KEY_PREFIX = "workers:warm:"
WARM_TTL_SECONDS = 30
WARM_REFRESH_SECONDS = 10


def _key(queue: str) -> str:
    return f"{KEY_PREFIX}{queue}"


def worker_warm_mark(*, queue: str, hostname: str, ttl: int = WARM_TTL_SECONDS) -> None:
    """``hostname``'s worker on ``queue`` is warm for the next ``ttl`` seconds."""
    now = time.time()
    with redis_client().pipeline() as pipe:
        pipe.zadd(_key(queue), {hostname: now + ttl})
        pipe.zremrangebyscore(_key(queue), "-inf", now)  # workers that stopped refreshing
        pipe.expire(_key(queue), ttl)  # the set goes with the last worker
        pipe.execute()


def worker_warm_clear(*, queue: str, hostname: str) -> None:
    """``hostname``'s worker is stopping: cold now rather than when its entry expires."""
    redis_client().zrem(_key(queue), hostname)


def queue_warmth(queue: str) -> str:
    """``"warm"`` while at least one worker of ``queue`` is, else ``"cold"``."""
    return "warm" if redis_client().zcount(_key(queue), time.time(), "+inf") else "cold"
