from __future__ import annotations

import threading
import time

import pytest

from workers.runtime.cache import ModelCache


def test_lru_eviction_order() -> None:
    evicted: list[str] = []
    cache = ModelCache(3)

    def load(key: str) -> str:
        return cache.get_or_load(key, lambda: key.upper(), on_evict=evicted.append)

    for key in ("a", "b", "c"):
        load(key)
    assert cache.get("a") == "A"  # a becomes the most recent: b is now the oldest
    load("d")
    assert evicted == ["B"]
    assert cache.keys() == ["c", "a", "d"]
    load("e")
    load("f")
    assert evicted == ["B", "C", "A"]
    assert cache.keys() == ["d", "e", "f"]
    assert cache.get("b") is None
    assert len(cache) == 3


def test_capacity_comes_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODEL_CACHE_SIZE", "5")
    assert ModelCache().capacity == 5
    monkeypatch.delenv("MODEL_CACHE_SIZE")
    assert ModelCache().capacity == 8


def test_dependencies_are_touched_and_evicted_together() -> None:
    evicted: list[str] = []
    cache = ModelCache(3)
    cache.get_or_load("base", lambda: "base", on_evict=evicted.append)
    cache.get_or_load("tenant1", lambda: "t1", depends_on=["base"], on_evict=evicted.append)
    cache.get_or_load("other", lambda: "other", on_evict=evicted.append)
    assert cache.get("tenant1") == "t1"  # touches its base too
    assert cache.keys() == ["other", "base", "tenant1"]
    cache.get_or_load("x", lambda: "x", on_evict=evicted.append)
    assert evicted == ["other"]
    cache.evict("base")  # takes its classifiers with it
    assert evicted == ["other", "t1", "base"]
    assert cache.keys() == ["x"]


def test_loads_each_key_once_under_concurrency() -> None:
    cache = ModelCache(4)
    calls: list[int] = []

    def slow_loader() -> object:
        calls.append(1)
        time.sleep(0.05)
        return object()

    results: list[object] = []
    threads = [threading.Thread(target=lambda: results.append(cache.get_or_load("k", slow_loader)))
               for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1
    assert len({id(r) for r in results}) == 1


def test_failed_load_is_not_cached() -> None:
    cache = ModelCache(2)

    def broken() -> str:
        raise OSError("no such model")

    with pytest.raises(OSError, match="no such model"):
        cache.get_or_load("k", broken)
    assert "k" not in cache
    assert cache.get_or_load("k", lambda: "ok") == "ok"
