"""A running job's live progress: where it stands in the unit its user counts in (rows,
epochs; a head-only fine-tune first embeds its texts), how fast it goes and when it should end.

The job row keeps the durable counts (``items_done`` / ``items_total``, whole units, kept after
the job ends); this is the fine-grained view of an attempt in progress: fractional epochs, the
phase's own unit, and the throughput the worker *measured* in this attempt (units per second
since the phase started, so time spent loading a model or in an earlier, lost attempt does not
count) with the ETA it gives. The worker writes it once a second with its heartbeat, to Redis
under the job's id with a short expiry: it is worthless once the attempt stops, a lost worker's
entry disappears by itself, and it costs the database no write. Readers get it only for a job
they could load through the tenant-scoped manager, so no tenant reads another's.

Before, a head-only fine-tune counted its embedded texts and its epochs as one sum of units:
embedding 10,000 texts was 99.6 % of the bar, and the last 80 seconds, 40 epochs, read 99.6 %.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from typing import Any

from config.redis import redis_client

logger = logging.getLogger(__name__)

KEY = "jobs:live:{job_id}"
TTL_SECONDS = 120


@dataclass(frozen=True)
class LiveProgress:
    unit: str  # "rows", "epochs", "texts" (a head's embedding pass), ...
    done: float
    total: float | None
    rate: float | None = None  # units per second, measured in this attempt's phase
    eta_seconds: float | None = None  # when measured, at ``measured_at``
    measured_at: float = 0.0  # Unix time
    phase: str = ""  # "embedding", "training", "predicting"

    @property
    def fraction(self) -> float | None:
        if not self.total:
            return None
        return max(0.0, min(1.0, self.done / self.total))

    def eta_now(self, now: float | None = None) -> float | None:
        """Seconds left from ``now``: the measured ETA less the time since it was measured."""
        if self.eta_seconds is None:
            return None
        now = time.time() if now is None else now
        return max(0.0, self.eta_seconds - max(0.0, now - self.measured_at))


def live_progress_record(*, job_id: int, progress: LiveProgress) -> None:
    """Store the attempt's progress (best effort: progress must never fail a job)."""
    try:
        redis_client().set(KEY.format(job_id=job_id), json.dumps(asdict(progress)),
                           ex=TTL_SECONDS)
    except Exception as error:  # Redis away: the job goes on, the page shows the row's counts
        logger.warning("live progress of job %s not recorded: %s", job_id, error)


def live_progress_clear(*, job_id: int) -> None:
    try:
        redis_client().delete(KEY.format(job_id=job_id))
    except Exception as error:
        logger.warning("live progress of job %s not cleared: %s", job_id, error)


def live_progress_get(*, job_id: int) -> LiveProgress | None:
    """The attempt's progress as last recorded, None when none is (finished, not started,
    expired, or Redis away). The caller has loaded the job under its tenant."""
    try:
        raw = redis_client().get(KEY.format(job_id=job_id))
    except Exception as error:
        logger.warning("live progress of job %s unavailable: %s", job_id, error)
        return None
    if raw is None:
        return None
    try:
        data: dict[str, Any] = json.loads(raw)
        return LiveProgress(**data)
    except (TypeError, ValueError):
        return None
