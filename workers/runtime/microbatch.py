"""Dynamic micro-batching: concurrent real-time requests share one forward pass.

An online worker runs its tasks in threads (Celery's ``threads`` pool). Each task thread does
its own database work under its own tenant context, and hands only the model work to a
``MicroBatcher``: ``submit(key, item)`` queues the item and blocks until its result is ready.
One batching thread per batcher takes the oldest waiting item, keeps collecting for at most
``max_wait`` seconds (nothing is waited for when ``max_wait`` is 0: whatever queued up while
the previous batch ran forms the next one, so a lone request pays no delay and a busy worker
batches by itself), groups the items by key (the model that must run them: two tenants'
models never share a batch, two tenants on one model do), and calls ``run(key, items)`` once
per group of at most ``max_batch`` items, in the order the groups' first items arrived. Each
caller gets the result at its own position.

- A batch whose ``run`` raises, or returns the wrong number of results, fails its own callers
  with ``BatchFailed`` (the cause chained); other groups of the same round are unaffected.
- A caller that stops waiting (``timeout``) cancels its item; an item cancelled before its
  batch starts is left out of the batch, so a backlog of abandoned requests costs nothing.
- ``run`` is called on the batching thread only, one batch at a time, with no tenant context
  and no database: it must be pure model work (like text-embeddings-inference's batching
  task, which owns the model while request handlers wait on their results).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Generic, TypeVar

logger = logging.getLogger(__name__)

# One round takes at most this many batches' worth of queued items (then it runs them).
_MAX_BATCHES_PER_ROUND = 8

I = TypeVar("I")  # noqa: E741 - an item
R = TypeVar("R")  # its result


class BatchFailed(RuntimeError):
    """The batch an item ran in failed; the message names the cause (also chained)."""


class BatchTimeout(TimeoutError):
    """No result within the caller's timeout (the item is cancelled if it had not started)."""


@dataclass
class _Pending(Generic[I, R]):
    key: Hashable
    item: I
    future: Future[R] = field(default_factory=Future)


@dataclass(frozen=True)
class BatchStats:
    """Counters of one batcher, for logs and tests."""

    batches: int
    items: int
    largest: int
    cancelled: int


class MicroBatcher(Generic[I, R]):
    """Runs ``run(key, items) -> results`` (one result per item, same order) on batches of
    the items submitted concurrently under the same key."""

    def __init__(self, run: Callable[[Hashable, list[I]], Sequence[R]], *, max_batch: int = 32,
                 max_wait: float = 0.0, name: str = "microbatch") -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        if max_wait < 0:
            raise ValueError("max_wait cannot be negative")
        self._run = run
        self.max_batch = max_batch
        self.max_wait = max_wait
        self.name = name
        self._queue: queue.SimpleQueue[_Pending[I, R] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._batches = self._items = self._largest = self._cancelled = 0

    # --- callers ------------------------------------------------------------------------------

    def submit_async(self, key: Hashable, item: I) -> Future[R]:
        """Queue ``item`` for a batch of ``key``; the future holds its result."""
        pending: _Pending[I, R] = _Pending(key, item)
        with self._lock:
            if self._closed:
                raise RuntimeError(f"{self.name}: the batcher is closed")
            if self._thread is None or not self._thread.is_alive():
                # Started on first use, so a process that forks (Celery's prefork pool) starts
                # its batching thread in the child that uses it.
                self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
                self._thread.start()
            self._queue.put(pending)
        return pending.future

    def submit(self, key: Hashable, item: I, *, timeout: float | None = None) -> R:
        """The result of ``item``, computed in a batch with the other items of ``key`` that
        are waiting. Raises ``BatchTimeout`` after ``timeout`` seconds (the item is dropped
        if its batch has not started) and ``BatchFailed`` when its batch failed."""
        future = self.submit_async(key, item)
        try:
            return future.result(timeout=timeout)
        except FutureTimeout:
            future.cancel()
            raise BatchTimeout(f"{self.name}: no result within {timeout:g} s") from None

    def close(self, timeout: float | None = 5.0) -> None:
        """Finish the items already queued, then stop the batching thread."""
        with self._lock:
            self._closed = True
            thread = self._thread
            self._queue.put(None)
        if thread is not None:
            thread.join(timeout)

    @property
    def stats(self) -> BatchStats:
        with self._lock:
            return BatchStats(self._batches, self._items, self._largest, self._cancelled)

    # --- the batching thread ------------------------------------------------------------------

    def _collect(self, first: _Pending[I, R]) -> tuple[list[_Pending[I, R]], bool]:
        """The first item, whatever else is queued, and what arrives within ``max_wait``
        (no longer once some key has a full batch); True when asked to stop."""
        taken = [first]
        per_key = {first.key: 1}
        deadline = time.monotonic() + self.max_wait
        while len(taken) < self.max_batch * _MAX_BATCHES_PER_ROUND:
            try:
                remaining = deadline - time.monotonic()
                pending = (self._queue.get(timeout=remaining) if remaining > 0
                           else self._queue.get_nowait())
            except queue.Empty:
                break
            if pending is None:
                return taken, True
            taken.append(pending)
            per_key[pending.key] = per_key.get(pending.key, 0) + 1
            if per_key[pending.key] >= self.max_batch:
                deadline = 0.0  # a full batch: take what is queued, wait for nothing more
        return taken, False

    def _loop(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                break
            taken, stopping = self._collect(first)
            groups: dict[Hashable, list[int]] = {}
            for position, pending in enumerate(taken):
                groups.setdefault(pending.key, []).append(position)
            # Batches of at most max_batch items of one key, run in the order of their first
            # item's arrival.
            batches = sorted((positions[start:start + self.max_batch]
                              for positions in groups.values()
                              for start in range(0, len(positions), self.max_batch)),
                             key=lambda batch: batch[0])
            for batch in batches:
                self._run_batch(taken[batch[0]].key, [taken[i] for i in batch])

    def _run_batch(self, key: Hashable, members: list[_Pending[I, R]]) -> None:
        # Items whose caller gave up are dropped; the rest can no longer be cancelled.
        live = [p for p in members if p.future.set_running_or_notify_cancel()]
        with self._lock:
            self._cancelled += len(members) - len(live)
        if not live:
            return
        try:
            results = list(self._run(key, [p.item for p in live]))
            if len(results) != len(live):
                raise RuntimeError(f"the batch function returned {len(results)} results for "
                                   f"{len(live)} items")
        except BaseException as error:  # noqa: BLE001 - every caller must get an answer
            logger.exception("%s: a batch of %d items for %r failed", self.name, len(live), key)
            failure = BatchFailed(f"The model failed on a batch of {len(live)} "
                                  f"request(s): {type(error).__name__}: {error}")
            failure.__cause__ = error
            for pending in live:
                pending.future.set_exception(failure)
            if not isinstance(error, Exception):
                raise  # KeyboardInterrupt, SystemExit: the callers are answered, now stop
            return
        finally:
            with self._lock:
                self._batches += 1
                self._items += len(live)
                self._largest = max(self._largest, len(live))
        for pending, result in zip(live, results, strict=True):
            pending.future.set_result(result)

