"""The micro-batcher of real-time requests: concurrent items of one key share a batch, each
caller gets its own result, a failing batch fails only its callers, callers that give up are
left out, and batches keep the order of arrival."""

from __future__ import annotations

import threading
import time
from collections.abc import Hashable
from concurrent.futures import Future

import pytest

from workers.runtime.microbatch import BatchFailed, BatchTimeout, MicroBatcher


class Recorder:
    """A batch function that records its calls and answers ``(key, item, position)``; a batch
    for the key ``"gate"`` waits until ``release()``, so that the test can queue items while
    the batcher is busy (deterministic batches, no sleeping)."""

    def __init__(self) -> None:
        self.calls: list[tuple[Hashable, list[object]]] = []
        self.gate_entered = threading.Event()
        self._gate = threading.Event()

    def release(self) -> None:
        self._gate.set()

    def __call__(self, key: Hashable, items: list[object]) -> list[tuple[Hashable, object, int]]:
        self.calls.append((key, list(items)))
        if key == "gate":
            self.gate_entered.set()
            assert self._gate.wait(10)
        if key == "broken":
            raise ValueError("weights are NaN")
        return [(key, item, position) for position, item in enumerate(items)]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def _busy(batcher: MicroBatcher, recorder: Recorder) -> Future:
    """Occupy the batching thread with a gated batch; items submitted now queue up."""
    future = batcher.submit_async("gate", "first")
    assert recorder.gate_entered.wait(10)
    return future


def test_concurrent_items_of_two_models_share_one_batch_each_and_get_their_own_results(
        recorder: Recorder) -> None:
    batcher = MicroBatcher(recorder, max_batch=16)
    gate = _busy(batcher, recorder)
    results: dict[str, object] = {}

    def caller(model: str, text: str) -> None:
        results[text] = batcher.submit(model, text, timeout=10)

    threads = [threading.Thread(target=caller, args=(model, f"{model}-{n}"))
               for n in range(4) for model in ("tenant-a-v3", "tenant-b-v1")]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 10
    while batcher._queue.qsize() < len(threads) and time.monotonic() < deadline:
        time.sleep(0.005)
    recorder.release()
    for thread in threads:
        thread.join(10)
    assert gate.result(10) == ("gate", "first", 0)

    # One forward per model for the eight concurrent messages, never a mixed batch.
    later = recorder.calls[1:]
    assert sorted(key for key, _ in later) == ["tenant-a-v3", "tenant-b-v1"]
    for key, items in later:
        assert sorted(items) == sorted(f"{key}-{n}" for n in range(4))
    # Every caller got the answer computed for its own text, by its own model.
    assert len(results) == 8
    for text, (key, item, position) in results.items():  # type: ignore[misc]
        assert item == text
        assert text.startswith(key)
        assert dict(later)[key][position] == text
    assert batcher.stats.batches == 3
    assert batcher.stats.largest == 4
    batcher.close()


def test_a_failing_batch_fails_only_its_own_callers(recorder: Recorder) -> None:
    batcher = MicroBatcher(recorder)
    gate = _busy(batcher, recorder)
    broken = [batcher.submit_async("broken", f"b{n}") for n in range(3)]
    healthy = [batcher.submit_async("healthy", f"h{n}") for n in range(2)]
    recorder.release()
    gate.result(10)

    for future in broken:
        error = future.exception(10)
        assert isinstance(error, BatchFailed)
        assert "batch of 3 request(s): ValueError: weights are NaN" in str(error)
        assert isinstance(error.__cause__, ValueError)
    assert [f.result(10) for f in healthy] == [("healthy", "h0", 0), ("healthy", "h1", 1)]
    # The batcher carries on after a failure.
    assert batcher.submit("healthy", "later", timeout=10) == ("healthy", "later", 0)
    batcher.close()


def test_a_wrong_number_of_results_fails_the_batch_rather_than_misattributing(
        recorder: Recorder) -> None:
    def short(key: Hashable, items: list[object]) -> list[object]:
        if key == "gate":
            return recorder(key, items)
        return ["one result"]

    batcher = MicroBatcher(short)
    gate = _busy(batcher, recorder)
    futures = [batcher.submit_async("m", "x"), batcher.submit_async("m", "y")]
    recorder.release()
    gate.result(10)
    for future in futures:
        error = future.exception(10)
        assert isinstance(error, BatchFailed)
        assert "returned 1 results for 2 items" in str(error)
    batcher.close()


def test_batches_keep_the_order_of_arrival(recorder: Recorder) -> None:
    batcher = MicroBatcher(recorder, max_batch=3)
    gate = _busy(batcher, recorder)
    order = [("b", 1), ("a", 1), ("b", 2), ("b", 3), ("a", 2), ("b", 4), ("c", 1)]
    futures = [batcher.submit_async(key, f"{key}{n}") for key, n in order]
    recorder.release()
    gate.result(10)
    for future, (key, n) in zip(futures, order, strict=True):
        assert future.result(10)[:2] == (key, f"{key}{n}")
    # Batches of one key, at most max_batch items in arrival order, run in the order of their
    # first item's arrival.
    assert recorder.calls[1:] == [("b", ["b1", "b2", "b3"]), ("a", ["a1", "a2"]),
                                  ("b", ["b4"]), ("c", ["c1"])]
    batcher.close()


def test_a_caller_that_times_out_is_left_out_of_the_batch(recorder: Recorder) -> None:
    batcher = MicroBatcher(recorder)
    gate = _busy(batcher, recorder)
    started = time.monotonic()
    with pytest.raises(BatchTimeout, match="no result within 0.2 s"):
        batcher.submit("m", "abandoned", timeout=0.2)
    assert 0.2 <= time.monotonic() - started < 2
    patient = batcher.submit_async("m", "patient")
    recorder.release()
    gate.result(10)
    assert patient.result(10) == ("m", "patient", 0)
    assert recorder.calls[1:] == [("m", ["patient"])]  # the abandoned text was not computed
    assert batcher.stats.cancelled == 1
    batcher.close()


def test_max_wait_gathers_items_that_arrive_shortly_after_the_first(recorder: Recorder) -> None:
    batcher = MicroBatcher(recorder, max_wait=0.5)
    futures = []
    for n in range(3):
        futures.append(batcher.submit_async("m", n))
        time.sleep(0.02)
    assert [f.result(10) for f in futures] == [("m", 0, 0), ("m", 1, 1), ("m", 2, 2)]
    assert recorder.calls == [("m", [0, 1, 2])]
    batcher.close()


def test_without_max_wait_a_lone_request_runs_at_once(recorder: Recorder) -> None:
    batcher = MicroBatcher(recorder, max_wait=0.0)
    started = time.monotonic()
    assert batcher.submit("m", "alone", timeout=10) == ("m", "alone", 0)
    assert time.monotonic() - started < 0.5
    batcher.close()
    with pytest.raises(RuntimeError, match="closed"):
        batcher.submit("m", "after close")
