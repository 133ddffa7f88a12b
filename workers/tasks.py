"""Celery tasks that run on worker nodes. Thin: load the job, run it, record the outcome.

Imported only by workers (``CELERY_IMPORTS``); the web tier sends these by name.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.conf import settings


@shared_task(
    name="jobs.run",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=settings.JOB_SOFT_TIME_LIMIT_SECONDS,
    time_limit=settings.JOB_SOFT_TIME_LIMIT_SECONDS + 120,
    ignore_result=True,
)
def run_job(self: Any, job_id: int) -> None:
    from workers.execution import execute

    execute(job_id=job_id, worker=self.request.hostname or "worker")
