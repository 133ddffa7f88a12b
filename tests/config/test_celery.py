"""The queue round trip through the embedded Redis with a real worker process."""

from __future__ import annotations

import os
import subprocess

from config.celery import app, ping


def test_task_round_trips_through_a_real_worker(celery_worker: subprocess.Popen) -> None:
    result = ping.delay().get(timeout=30)
    # Answered by the worker process, which imports the standard `platform` module.
    assert result["system"] == "Linux"
    assert int(result["pid"]) != os.getpid()


def test_queues_are_declared() -> None:
    assert {queue.name for queue in app.conf.task_queues} == {"default", "gpu", "online"}


def test_each_queue_is_consumed(celery_worker: subprocess.Popen) -> None:
    for queue in ("default", "gpu", "online"):
        assert ping.apply_async(queue=queue).get(timeout=30)["system"] == "Linux"
