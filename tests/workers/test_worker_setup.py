"""Process settings of worker kinds."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from workers.tasks import _short_gil_switch_interval_in_threaded_workers as on_worker_init


@pytest.fixture
def _restore_switch_interval() -> Iterator[None]:
    before = sys.getswitchinterval()
    yield
    sys.setswitchinterval(before)


@pytest.mark.usefixtures("_restore_switch_interval")
def test_threaded_workers_hand_the_gil_over_sooner(settings) -> None:  # noqa: ANN001
    from celery.concurrency.prefork import TaskPool as PreforkPool
    from celery.concurrency.thread import TaskPool as ThreadPool

    sys.setswitchinterval(0.005)
    on_worker_init(sender=SimpleNamespace(pool_cls="prefork"))
    on_worker_init(sender=SimpleNamespace(pool_cls=PreforkPool))
    assert sys.getswitchinterval() == pytest.approx(0.005)
    settings.ONLINE_WORKER_SWITCH_INTERVAL_MS = 0.5
    on_worker_init(sender=SimpleNamespace(pool_cls="threads"))
    assert sys.getswitchinterval() == pytest.approx(0.0005)
    sys.setswitchinterval(0.005)
    on_worker_init(sender=SimpleNamespace(pool_cls=ThreadPool))
    assert sys.getswitchinterval() == pytest.approx(0.0005)
