"""The Celery app: Redis is only the transport; PostgreSQL holds the truth about jobs.

Queues: ``default`` (housekeeping, webhooks), ``gpu`` (fine-tuning and batch inference on GPU
workers), ``online`` (real-time inference with short timeouts, kept warm).
"""

from __future__ import annotations

import os
import platform
import socket

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("aiplatform")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = (Queue("default"), Queue("gpu"), Queue("online"))
app.conf.task_default_queue = "default"
app.autodiscover_tasks()


@app.task(name="platform.ping")
def ping() -> dict[str, str]:
    """Answers from a worker: proves the queue round trip and that the standard ``platform``
    module (not our source root) is what workers import."""
    return {"system": platform.system(), "hostname": socket.gethostname(), "pid": str(os.getpid())}
