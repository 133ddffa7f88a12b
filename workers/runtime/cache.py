"""A thread-safe LRU cache of loaded models, bounded by a count.

One cache per worker process (``default_cache()``) holds base models and per-tenant classifiers
(adapter and head, keyed by model-version id or artefact path). Its capacity is
``$MODEL_CACHE_SIZE`` (default 8) entries, base models and classifiers alike.

An entry may depend on others (a LoRA classifier on its base model): getting an entry touches
its dependencies first, so a base model in use is never older than all of its classifiers, and
evicting an entry evicts the entries that depend on it. Eviction callbacks (detaching an adapter
from its base) run outside the cache lock. Loads of different keys run in parallel; concurrent
loads of one key run once.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

logger = logging.getLogger(__name__)

CACHE_SIZE_ENV = "MODEL_CACHE_SIZE"
DEFAULT_CACHE_SIZE = 8

T = TypeVar("T")


@dataclass
class _Entry:
    value: Any
    depends_on: tuple[Hashable, ...] = ()
    on_evict: Callable[[Any], None] | None = None
    dependents: set[Hashable] = field(default_factory=set)


class ModelCache:
    """LRU cache of at most ``capacity`` models."""

    def __init__(self, capacity: int | None = None) -> None:
        if capacity is None:
            capacity = int(os.environ.get(CACHE_SIZE_ENV, DEFAULT_CACHE_SIZE))
        if capacity < 1:
            raise ValueError("the model cache needs room for at least one model")
        self.capacity = capacity
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._lock = threading.RLock()
        self._key_locks: dict[Hashable, threading.Lock] = {}

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._entries

    def keys(self) -> list[Hashable]:
        """Keys from least to most recently used."""
        with self._lock:
            return list(self._entries)

    def get(self, key: Hashable) -> Any | None:
        """The cached value (marking it and its dependencies used), or None."""
        with self._lock:
            return self._touch(key)

    def get_or_load(
        self,
        key: Hashable,
        loader: Callable[[], T],
        *,
        depends_on: Iterable[Hashable] = (),
        on_evict: Callable[[T], None] | None = None,
    ) -> T:
        """The cached value for ``key``, loading it with ``loader()`` on a miss.

        ``depends_on`` names entries this one needs (they must be cached when the load
        finishes); ``on_evict(value)`` runs when the entry leaves the cache.
        """
        with self._lock:
            found = self._touch(key)
            if found is not None:
                return cast(T, found)
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                found = self._touch(key)
                if found is not None:
                    return cast(T, found)
            try:
                value = loader()
            finally:
                with self._lock:
                    self._key_locks.pop(key, None)
            evicted: list[_Entry] = []
            with self._lock:
                deps = tuple(depends_on)
                for dep in deps:
                    if dep not in self._entries:
                        raise KeyError(f"{key!r} depends on {dep!r}, which is not cached")
                    self._entries[dep].dependents.add(key)
                    self._entries.move_to_end(dep)
                self._entries[key] = _Entry(value, deps, cast(Callable[[Any], None], on_evict))
                keep = {key, *deps}
                while len(self._entries) > self.capacity:
                    victim = next((k for k in self._entries if k not in keep), None)
                    if victim is None:  # everything left is what this load needs
                        break
                    evicted.extend(self._remove(victim))
        self._run_evictions(evicted)
        return value

    def evict(self, key: Hashable) -> bool:
        """Drop ``key`` (and what depends on it); False if it was not cached."""
        with self._lock:
            if key not in self._entries:
                return False
            evicted = self._remove(key)
        self._run_evictions(evicted)
        return True

    def clear(self) -> None:
        with self._lock:
            evicted: list[_Entry] = []
            while self._entries:
                evicted.extend(self._remove(next(iter(self._entries))))
        self._run_evictions(evicted)

    def _touch(self, key: Hashable) -> Any | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        for dep in entry.depends_on:
            if dep in self._entries:
                self._entries.move_to_end(dep)
        self._entries.move_to_end(key)
        return entry.value

    def _remove(self, key: Hashable) -> list[_Entry]:
        """Unlink ``key`` and its dependents (dependents first); caller holds the lock."""
        entry = self._entries.get(key)
        if entry is None:
            return []
        removed: list[_Entry] = []
        for dependent in list(entry.dependents):
            removed.extend(self._remove(dependent))
        del self._entries[key]
        for dep in entry.depends_on:
            parent = self._entries.get(dep)
            if parent is not None:
                parent.dependents.discard(key)
        logger.debug("model cache: evicted %r", key)
        removed.append(entry)
        return removed

    @staticmethod
    def _run_evictions(entries: list[_Entry]) -> None:
        for entry in entries:
            if entry.on_evict is not None:
                try:
                    entry.on_evict(entry.value)
                except Exception:
                    logger.exception("model cache: eviction callback failed")


_default: ModelCache | None = None
_default_lock = threading.Lock()


def default_cache() -> ModelCache:
    """The process-wide cache (created on first use with ``$MODEL_CACHE_SIZE``)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = ModelCache()
        return _default
