"""The Celery app: Redis is only the transport; PostgreSQL holds the truth about jobs.

Queues: ``default`` (housekeeping, webhooks), ``gpu`` (fine-tuning and batch inference on GPU
workers), ``online`` (real-time inference with short timeouts, kept warm).
"""

from __future__ import annotations

import os
import platform
import socket
from typing import Any

from celery import Celery
from celery.result import AsyncResult
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("aiplatform")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = (Queue("default"), Queue("gpu"), Queue("online"))
app.conf.task_default_queue = "default"
app.autodiscover_tasks()


def task_send(name: str, *args: Any, queue: str = "default", **options: Any) -> AsyncResult:
    """Send the task ``name`` with ``args`` to ``queue``: the one way the web tier enqueues.
    By name, because the modules that define worker tasks are imported by workers alone
    (``CELERY_IMPORTS``), never by the web tier. ``options`` go to ``send_task`` as they are
    (``expires``, ``countdown``...). Callers that write send it in ``transaction.on_commit``."""
    return app.send_task(name, args=list(args), queue=queue, **options)


@app.task(name="platform.ping")
def ping() -> dict[str, str]:
    """Answers from a worker: proves the queue round trip and that the standard ``platform``
    module (not our source root) is what workers import."""
    return {"system": platform.system(), "hostname": socket.gethostname(), "pid": str(os.getpid())}
