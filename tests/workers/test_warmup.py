"""Online workers preload the platform default models as they start and publish that they are
warm through Redis; ``/readyz`` reports it (and stays 200 while they are cold)."""

from __future__ import annotations

import io
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from rest_framework.test import APIClient

from config.warmth import queue_warmth, worker_warm_clear, worker_warm_mark
from workers import runtime, warmup


def test_a_queue_is_warm_while_one_of_its_workers_keeps_its_key(db: None) -> None:
    assert queue_warmth("online") == "cold"
    worker_warm_mark(queue="online", hostname="online@a", ttl=1)
    assert queue_warmth("online") == "warm"
    assert queue_warmth("default") == "cold"  # per queue
    worker_warm_mark(queue="online", hostname="online@b")
    worker_warm_clear(queue="online", hostname="online@b")
    time.sleep(1.2)  # online@a stopped refreshing (a crash): cold by itself
    assert queue_warmth("online") == "cold"


def test_readyz_reports_the_online_workers_warmth_without_failing_when_cold(db: None) -> None:
    cold = APIClient().get("/readyz")
    assert cold.status_code == 200  # web readiness does not depend on workers
    assert cold.json()["workers"] == {"online": "cold"}
    worker_warm_mark(queue="online", hostname="online@a")
    warm = APIClient().get("/readyz").json()
    assert warm["workers"] == {"online": "warm"}
    assert warm["checks"] == {"database": "ok", "redis": "ok"}


def test_readyz_says_unknown_when_redis_is_unreachable(db: None, monkeypatch, tmp_path) -> None:  # noqa: ANN001
    import redis

    dead = redis.Redis(unix_socket_path=str(tmp_path / "nothing.sock"), socket_timeout=1)
    monkeypatch.setattr("config.health.redis_client", lambda: dead)
    assert APIClient().get("/readyz").json()["workers"] == {"online": "unknown"}


@pytest.fixture
def default_models(tiny_artifact: bytes, tmp_path: Path, settings) -> Iterator[Path]:  # noqa: ANN001
    """DEFAULT_MODELS_DIR with the tiny classifier installed as finance's default, and a
    folder without a manifest (not an installed model)."""
    root = tmp_path / "models"
    with zipfile.ZipFile(io.BytesIO(tiny_artifact)) as archive:
        archive.extractall(root / "finance_sentiment")  # noqa: S202
    (root / "half_written").mkdir()
    settings.DEFAULT_MODELS_DIR = str(root)
    yield root
    runtime.default_cache().evict(("default", "finance_sentiment"))
    for key in list(runtime.default_cache().keys()):
        if "finance_sentiment" in str(key):
            runtime.default_cache().evict(key)


def test_preloading_loads_each_installed_default_model(default_models: Path) -> None:
    assert warmup.installed_default_apps() == ["finance_sentiment"]
    assert runtime.cached_classifier(("default", "finance_sentiment")) is None
    assert warmup.preload_default_models() == ["finance_sentiment"]
    classifier = runtime.cached_classifier(("default", "finance_sentiment"))
    assert classifier is not None
    [[prediction]] = classifier.classify(["$ACME soars in Q1"])
    assert prediction.label in {"negative", "neutral", "positive"}


def test_a_broken_default_model_is_left_out_not_fatal(default_models: Path) -> None:
    broken = default_models / "support_bot"
    broken.mkdir()
    (broken / "manifest.json").write_text('{"format": "nope"}')
    assert warmup.preload_default_models() == ["finance_sentiment"]


def _consumer(*queues: str, hostname: str = "online@test") -> SimpleNamespace:
    consume_from = {queue: object() for queue in queues}
    return SimpleNamespace(hostname=hostname,
                           app=SimpleNamespace(amqp=SimpleNamespace(
                               queues=SimpleNamespace(consume_from=consume_from))))


def test_an_online_worker_is_warm_once_its_models_are_loaded(
    db: None, default_models: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loading = threading.Event()
    release = threading.Event()
    real_preload = warmup.preload_default_models

    def slow_preload() -> list[str]:
        loading.set()
        release.wait(30)
        return real_preload()

    monkeypatch.setattr(warmup, "preload_default_models", slow_preload)
    thread = warmup._warm_up_online_workers(sender=_consumer("online"))
    assert thread is not None
    try:
        assert loading.wait(10)
        assert queue_warmth("online") == "cold"  # still loading
        release.set()
        deadline = time.monotonic() + 60
        while queue_warmth("online") != "warm":
            assert time.monotonic() < deadline, "never warm"
            time.sleep(0.05)
        assert runtime.cached_classifier(("default", "finance_sentiment")) is not None
    finally:
        release.set()
        warmup._cold_on_shutdown()
        thread.join(30)
    assert not thread.is_alive()
    assert queue_warmth("online") == "cold"  # a stopping worker clears its key


def test_job_workers_do_not_preload(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(warmup, "keep_warm", lambda **kwargs: calls.append("x"))
    assert warmup._warm_up_online_workers(sender=_consumer("default", "gpu")) is None
    assert calls == []


def test_a_real_online_worker_goes_warm_and_cold_again(
    db: None, workers, tmp_path: Path  # noqa: ANN001
) -> None:
    from tests.conftest import wait_until

    jobs = workers.start(queues="default,gpu", DEFAULT_MODELS_DIR=str(tmp_path / "none"))
    time.sleep(1)
    assert APIClient().get("/readyz").json()["workers"] == {"online": "cold"}
    online = workers.start(queues="online", pool="threads", concurrency=2,
                           DEFAULT_MODELS_DIR=str(tmp_path / "none"))
    wait_until("the online worker is warm",
               lambda: APIClient().get("/readyz").json()["workers"]["online"] == "warm", 60)
    online.terminate()
    online.wait(30)
    assert queue_warmth("online") == "cold"
    assert jobs.poll() is None
