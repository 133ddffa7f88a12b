"""Is the worker process that holds a running job still alive?

A job's heartbeat (``Job.heartbeat_at``) moves with its progress, so a long forward pass or a
slow epoch leaves it still for minutes: it cannot tell a busy worker from a dead one quickly.
Liveness is separate: while a job runs, a thread in the worker process refreshes
``jobs:alive:<worker>`` in Redis every ``JOB_LIVENESS_INTERVAL_SECONDS`` with a time to live of
``JOB_LIVENESS_TTL_SECONDS``. The thread runs whatever the job is doing (torch releases the
GIL in its kernels), and dies with the process: a SIGKILLed or OOM-killed worker's key is gone
within the TTL, a busy one's never is.

The sweeper and a redelivered message (``job_claim``) treat a running job whose worker has no
key as lost. When Redis cannot be asked, a worker counts as alive (no false alarms) and the
heartbeat's long threshold (``JOB_HEARTBEAT_STALE_SECONDS``) still applies.
"""

from __future__ import annotations

import logging
import threading
from types import TracebackType

import redis
from django.conf import settings

from config.redis import redis_client

logger = logging.getLogger(__name__)


def _key(worker: str) -> str:
    return f"jobs:alive:{worker}"


def workers_alive(workers: list[str]) -> dict[str, bool]:
    if not workers:
        return {}
    try:
        pipe = redis_client().pipeline(transaction=False)
        for worker in workers:
            pipe.exists(_key(worker))
        return {worker: bool(found) for worker, found in zip(workers, pipe.execute(),
                                                             strict=True)}
    except redis.RedisError:
        return dict.fromkeys(workers, True)


def worker_alive(worker: str) -> bool:
    return bool(worker) and workers_alive([worker])[worker]


def worker_mark_alive(worker: str) -> None:
    """Set when a worker claims a job: alive until the job's liveness thread takes over, or for
    the TTL if the process dies before it starts."""
    try:
        redis_client().set(_key(worker), "1", ex=settings.JOB_LIVENESS_TTL_SECONDS)
    except redis.RedisError as error:
        logger.warning("liveness key not set: %s", error)


class Liveness:
    """``with Liveness(worker):`` keeps the worker's key alive while the block runs."""

    def __init__(self, worker: str) -> None:
        self.worker = worker
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="job-liveness", daemon=True)

    def _beat(self) -> None:
        worker_mark_alive(self.worker)  # on a Redis error the job goes on (long threshold)

    def _run(self) -> None:
        while not self._stop.wait(settings.JOB_LIVENESS_INTERVAL_SECONDS):
            self._beat()

    def __enter__(self) -> Liveness:
        self._beat()
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        try:
            redis_client().delete(_key(self.worker))
        except redis.RedisError:
            pass
