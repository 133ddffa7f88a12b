"""Whether a queue's workers are warm: started, with the platform default models loaded.

Each warm worker keeps a Redis key ``workers:warm:<queue>:<hostname>`` alive (a TTL of
``WARM_TTL_SECONDS``, refreshed every ``WARM_REFRESH_SECONDS`` by ``workers.warmup``), so a
worker that stops, crashes or loses Redis goes cold by itself within the TTL, with nothing to
clean up. ``/readyz`` reports ``{"workers": {"online": "warm" | "cold"}}`` from these keys.

Why it matters: a real-time request that reaches an online worker still loading its model
waits for the load (seconds on a CPU) and can run past the web tier's
``ONLINE_TIMEOUT_SECONDS``: a 503. Workers load the defaults as they start, and this says when
they have.
"""

from __future__ import annotations

from config.redis import redis_client

KEY_PREFIX = "workers:warm:"
WARM_TTL_SECONDS = 30
WARM_REFRESH_SECONDS = 10


def _key(queue: str, hostname: str) -> str:
    return f"{KEY_PREFIX}{queue}:{hostname}"


def worker_warm_mark(*, queue: str, hostname: str, ttl: int = WARM_TTL_SECONDS) -> None:
    """``hostname``'s worker on ``queue`` is warm for the next ``ttl`` seconds."""
    redis_client().set(_key(queue, hostname), "1", ex=ttl)


def worker_warm_clear(*, queue: str, hostname: str) -> None:
    """``hostname``'s worker is stopping: cold now rather than when its key expires."""
    redis_client().delete(_key(queue, hostname))


def queue_warmth(queue: str) -> str:
    """``"warm"`` while at least one worker of ``queue`` is, else ``"cold"``."""
    for _ in redis_client().scan_iter(match=_key(queue, "*"), count=100):
        return "warm"
    return "cold"
