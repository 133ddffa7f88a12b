"""Runs one job on a worker: claim it under its tenant, hand it to the application's
handler with a :class:`JobContext`, and record how it ended.

The handler reports progress and training events through the context, which also keeps the
heartbeat fresh and turns a cancellation request into :class:`Cancelled` between batches.
While it runs, a thread keeps the worker's liveness key alive (``jobs.liveness``), so that a
killed worker's job is taken over within seconds, not after the heartbeat's long threshold.

Progress is reported in the unit the job's user counts in (``ProgressUnit``: rows, epochs; a
phase may have its own, such as the texts a head-only fine-tune embeds first). The job row gets
whole units; the live view (``jobs.progress``) gets the exact figure, the throughput measured
since the phase began in this attempt, and the ETA it gives.
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import psycopg
import structlog
from celery.exceptions import SoftTimeLimitExceeded
from django.db import InterfaceError, OperationalError

from jobs.liveness import Liveness
from jobs.models import Job, JobEvent
from jobs.progress import LiveProgress, live_progress_clear, live_progress_record
from jobs.registry import get_app
from jobs.services import job_claim, job_event_add, job_finish, job_progress
from tenancy.context import tenant_context, unscoped

logger = logging.getLogger(__name__)

PROGRESS_INTERVAL_SECONDS = 1.0
# Throughput needs this much of a phase behind it before it gives an ETA (the first batches
# include warm-up: tokeniser caches, memory allocation).
MIN_MEASURED_SECONDS = 1.0


class ProgressUnit(StrEnum):
    """The units the classifier handlers name; a job kind's own is ``JobKind.progress_unit``."""

    ROWS = "rows"
    EPOCHS = "epochs"
    TEXTS = "texts"  # a head-only fine-tune's embedding pass


class Cancelled(Exception):  # noqa: N818  (control flow, not an error)
    """Raised inside a handler when the job's cancellation was requested."""


class DatabaseLost(Exception):  # noqa: N818  (control flow, not an error)
    """The database went away under a running job (a restart, a failover): the job is not
    failed for it. It stays running with its rows so far; the task retries shortly and the
    new attempt takes it over (``job_claim``: the worker's liveness key is gone) and resumes."""


@dataclass
class Outcome:
    metrics: dict[str, Any] = field(default_factory=dict)
    items: int = 0


class Throughput:
    """Units per second of the current phase, measured from its first report in this attempt
    (what an earlier attempt did, and the time before the phase, do not count)."""

    def __init__(self) -> None:
        self._phase: tuple[str, str] | None = None
        self._start: tuple[float, float] = (0.0, 0.0)  # (monotonic time, units done)

    def observe(self, phase: str, unit: str, done: float, now: float) -> float | None:
        if self._phase != (phase, unit) or done < self._start[1]:
            self._phase, self._start = (phase, unit), (now, done)
            return None
        elapsed, gained = now - self._start[0], done - self._start[1]
        if elapsed < MIN_MEASURED_SECONDS or gained <= 0:
            return None
        return gained / elapsed


class JobContext:
    def __init__(self, job: Job) -> None:
        self.job = job
        self._last_flush = time.monotonic()
        self._cancel_requested = False
        self._items_done: int | None = None
        self._items_total: int | None = None
        self._live: LiveProgress | None = None
        self._throughput = Throughput()
        # The job row counts in its kind's unit; a phase in another unit (the texts a head
        # embeds before its epochs) shows in the live view only.
        self.row_unit = get_app(job.app).job_kinds[job.kind].progress_unit if (
            job.app and job.kind) else ProgressUnit.ROWS

    def _flush(self) -> None:
        now = time.monotonic()
        self._cancel_requested = job_progress(
            job_id=self.job.pk, items_done=self._items_done, items_total=self._items_total,
            accelerator_seconds=now - self._last_flush,
        )
        if self._live is not None:
            live_progress_record(job_id=self.job.pk, progress=self._live)
        self._last_flush = now

    def progress(self, items_done: float, items_total: float | None = None, *,
                 unit: str | None = None, phase: str = "", force: bool = False) -> None:
        """Record progress (throttled to once a second) and the heartbeat with it, in ``unit``
        (default: the unit of the previous report, else the job kind's). The row keeps whole units;
        the live view the exact figure and the ETA from the throughput measured so far."""
        previous = self._live
        unit = unit or (previous.unit if previous is not None else self.row_unit)
        if items_total is None and previous is not None and previous.unit == unit:
            total: float | None = previous.total
        else:
            total = items_total
        now = time.monotonic()
        rate = self._throughput.observe(phase, unit, items_done, now)
        eta = (max(0.0, total - items_done) / rate
               if rate is not None and total is not None else None)
        self._live = LiveProgress(unit=str(unit), done=float(items_done),
                                  total=None if total is None else float(total),
                                  rate=rate, eta_seconds=eta, measured_at=time.time(),
                                  phase=phase)
        if unit == self.row_unit:
            self._items_done = int(items_done)
            if total is not None:
                self._items_total = int(total)
        if force or now - self._last_flush >= PROGRESS_INTERVAL_SECONDS:
            self._flush()

    def should_cancel(self) -> bool:
        if time.monotonic() - self._last_flush >= PROGRESS_INTERVAL_SECONDS:
            self._flush()
        return self._cancel_requested

    def check_cancelled(self) -> None:
        if self.should_cancel():
            raise Cancelled

    def event(self, kind: str, message: str = "", **data: Any) -> None:
        job_event_add(job=self.job, kind=kind, message=message, data=data)

    def unbilled_seconds(self) -> float:
        return time.monotonic() - self._last_flush


def _handler(job: Job) -> Callable[[Job, JobContext], Outcome]:
    path = get_app(job.app).job_kinds[job.kind].handler
    module, _, name = path.partition(":")
    handler: Callable[[Job, JobContext], Outcome] = getattr(importlib.import_module(module), name)
    return handler


def execute(*, job_id: int, worker: str) -> None:
    with unscoped():
        tenant_id = Job.objects.values_list("tenant_id", flat=True).filter(pk=job_id).first()
    if tenant_id is None:
        logger.warning("job %s no longer exists", job_id)
        return
    structlog.contextvars.bind_contextvars(tenant_id=tenant_id, job_id=job_id)
    try:
        with tenant_context(tenant_id):
            _execute(job_id=job_id, worker=worker)
    finally:
        structlog.contextvars.unbind_contextvars("tenant_id", "job_id")


def _run_handler(job: Job, context: JobContext) -> Outcome:
    try:
        return _handler(job)(job, context)
    finally:  # the attempt is over, whatever happened: its live view goes with it
        live_progress_clear(job_id=job.pk)


def _execute(*, job_id: int, worker: str) -> None:
    job = job_claim(job_id=job_id, worker=worker)
    if job is None:
        return
    context = JobContext(job)
    try:
        with Liveness(job.worker):
            outcome = _run_handler(job, context)
    except Cancelled:
        job_finish(job_id=job_id, status=Job.Status.CANCELLED,
                   accelerator_seconds=context.unbilled_seconds())
    except (OperationalError, InterfaceError, psycopg.OperationalError,
            psycopg.InterfaceError) as error:
        logger.warning("job %s lost its database connection; will retry: %s", job_id, error)
        raise DatabaseLost(str(error)) from error
    except SoftTimeLimitExceeded:
        job_finish(job_id=job_id, status=Job.Status.FAILED,
                   error="The job ran past its time limit.",
                   accelerator_seconds=context.unbilled_seconds())
    except Exception as error:
        logger.exception("job %s failed", job_id)
        job_finish(job_id=job_id, status=Job.Status.FAILED,
                   error=f"{type(error).__name__}: {error}",
                   accelerator_seconds=context.unbilled_seconds())
    else:
        job_event_add(job=job, kind=JobEvent.Kind.METRICS, message="Final metrics",
                      data=outcome.metrics)
        job_finish(job_id=job_id, status=Job.Status.SUCCEEDED, metrics=outcome.metrics,
                   items=outcome.items, accelerator_seconds=context.unbilled_seconds())
