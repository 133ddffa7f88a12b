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


@shared_task(name="online.classify", acks_late=False, ignore_result=False)
def online_classify(tenant_id: int, app: str, texts: list[str]) -> list[dict[str, Any]]:
    """Real-time classification on the ``online`` queue: a few texts, the tenant's active
    model (or the platform default), answered within the caller's timeout."""
    from tenancy.context import tenant_context
    from workers.handlers.text_classification import classifier_for_app

    with tenant_context(tenant_id):
        classifier, version = classifier_for_app(app)
        predictions = [p for chunk in classifier.classify(texts) for p in chunk]
    return [
        {"label": p.label, "probabilities": {k: round(v, 6) for k, v in p.probabilities.items()},
         "model_version": version.version if version else "default"}
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
