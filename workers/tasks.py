"""Celery tasks that run on worker nodes. Thin: load the job, run it, record the outcome.

Imported only by workers (``CELERY_IMPORTS``); the web tier sends these by name.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from celery import shared_task
from celery.signals import worker_init
from django.conf import settings


@worker_init.connect
def _short_gil_switch_interval_in_threaded_workers(sender: Any = None, **_: Any) -> None:
    """Online workers run tasks in threads beside the micro-batcher's thread, which needs the
    GIL back between the Python steps of a batch (tokenising, padding, heads). With Python's
    default 5 ms switch interval a thread running Python keeps it that long each time, and a
    forward pass measured 2-4x slower beside one busy thread; at 0.5 ms it ran close to its
    speed alone."""
    pool = getattr(sender, "pool_cls", "")
    name = pool if isinstance(pool, str) else f"{pool.__module__}.{pool.__qualname__}"
    if "thread" in name.lower():
        sys.setswitchinterval(settings.ONLINE_WORKER_SWITCH_INTERVAL_MS / 1000)


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
    from django.db import InterfaceError, OperationalError, connections

    from workers.execution import DatabaseLost, execute

    # The process, not just the node: prefork children share a host name, and liveness is
    # per process (jobs.liveness).
    try:
        execute(job_id=job_id, worker=f"{self.request.hostname or 'worker'}/{os.getpid()}")
    except (DatabaseLost, OperationalError, InterfaceError) as error:
        # A database restart or failover: drop the broken connections and try again in a
        # few seconds (the next attempt resumes the job; its rows and usage are written once).
        connections.close_all()
        raise self.retry(exc=error, countdown=settings.JOB_DATABASE_RETRY_SECONDS,
                         max_retries=settings.JOB_DATABASE_RETRIES) from error


@shared_task(name="online.classify", acks_late=False, ignore_result=False)
def online_classify(tenant_id: int, app: str, texts: list[str]) -> list[dict[str, Any]]:
    """Real-time classification on the ``online`` queue: a few texts, the tenant's active
    model (or the platform default), answered within the caller's timeout."""
    from tenancy.context import tenant_context
    from workers.handlers.text_classification import classifier_for_app, version_ran

    with tenant_context(tenant_id):
        classifier, version = classifier_for_app(app)
        predictions = [p for chunk in classifier.classify(texts) for p in chunk]
    ran = version_ran(version)
    return [
        {"label": p.label, "probabilities": {k: round(v, 6) for k, v in p.probabilities.items()},
         **ran}
        for p in predictions
    ]


@shared_task(name="support.analyse", acks_late=False, ignore_result=False)
def support_analyse(tenant_id: int, text: str, top_k: int = 3) -> dict[str, Any]:
    """One chat message on the ``online`` queue: its intent and nearest articles (the reply is
    decided by the web tier, which waits for this)."""
    from tenancy.context import tenant_context
    from workers.handlers.support_bot import analyse

    with tenant_context(tenant_id):
        return analyse(text, top_k)


@shared_task(name="support.generate", acks_late=False, ignore_result=False)
def support_generate(tenant_id: int, question: str, article_ids: list[int]) -> dict[str, Any]:
    """A generated reply from the cited articles, with its grounding check (the web tier
    keeps the extractive reply unless this says ``grounded``)."""
    from tenancy.context import tenant_context
    from workers.handlers.bot_generative import generate

    with tenant_context(tenant_id):
        return generate(question, article_ids)
