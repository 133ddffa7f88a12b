from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import torch

from tests.workers.runtime.conftest import Trained
from workers.runtime import ModelCache, embed, get_base, load_classifier, unload_classifier


def _base_tensors(model: torch.nn.Module) -> dict[str, int]:
    """data_ptr of every base-model parameter (peft's ``base_layer`` renames included)."""
    return {name.replace(".base_layer", "").removeprefix("base_model.model."): p.data_ptr()
            for name, p in model.named_parameters() if "lora_" not in name}


def test_one_base_in_memory_serves_many_adapters(trained_lora: Trained, tiny_base: str,
                                                 tmp_path: Path) -> None:
    second = tmp_path / "tenant-b"
    shutil.copytree(trained_lora.output_dir, second)
    cache = ModelCache(4)
    base = get_base(tiny_base, cache=cache)
    before = _base_tensors(base.model)
    texts = ["my invoice is wrong", "where is the courier", "reset my password please"]
    plain = np.concatenate([v for _, v in embed(texts, base=tiny_base, cache=cache)])

    first = load_classifier(trained_lora.output_dir, cache=cache, key="version-1")
    other = load_classifier(second, cache=cache, key="version-2")
    assert first.base is other.base is base
    assert first.adapter_name != other.adapter_name
    assert base.adapters == {first.adapter_name, other.adapter_name}
    assert _base_tensors(first.base.model) == before  # the same tensors, no copy
    assert len(cache) == 3  # one base + two classifiers

    np.testing.assert_allclose(first.probabilities(texts), other.probabilities(texts),
                               atol=1e-6)  # same weights, different adapters
    # the base alone (embeddings) ignores the adapters attached to it
    again = np.concatenate([v for _, v in embed(texts, base=tiny_base, cache=cache)])
    np.testing.assert_allclose(again, plain, atol=1e-6)

    # unloading (as eviction) detaches the adapter; the other one keeps working
    unload_classifier("version-1", cache=cache)
    assert base.adapters == {other.adapter_name}
    assert [p.index for chunk in other.classify(texts) for p in chunk] == [0, 1, 2]
    reloaded = load_classifier(trained_lora.output_dir, cache=cache, key="version-1")
    np.testing.assert_allclose(reloaded.probabilities(texts), other.probabilities(texts),
                               atol=1e-6)


def test_least_recently_used_classifiers_are_evicted(trained_lora: Trained, tiny_base: str,
                                                     tmp_path: Path) -> None:
    cache = ModelCache(3)  # the base and two classifiers
    dirs = []
    for name in ("a", "b", "c"):
        dirs.append(tmp_path / name)
        shutil.copytree(trained_lora.output_dir, dirs[-1])
    a = load_classifier(dirs[0], cache=cache, key="a")
    load_classifier(dirs[1], cache=cache, key="b")
    load_classifier(dirs[0], cache=cache, key="a")  # a is used again: b is now the oldest
    c = load_classifier(dirs[2], cache=cache, key="c")
    keys = cache.keys()
    assert ("classifier", "b") not in keys
    assert ("classifier", "a") in keys
    assert ("classifier", "c") in keys
    assert a.base is c.base
    assert a.base.adapters == {a.adapter_name, c.adapter_name}


def test_a_classifier_in_use_survives_another_thread_detaching_its_adapter(
        trained_lora: Trained) -> None:
    # Online workers run requests in threads: a request for another tenant's model may evict
    # (detach) this adapter between this request's attach and its forward pass.
    import threading

    cache = ModelCache(4)
    classifier = load_classifier(trained_lora.output_dir, cache=cache, key="in-use")
    texts = ["my invoice is wrong", "where is the courier"]
    expected = classifier.probabilities(texts)
    stop = threading.Event()

    def evict_repeatedly() -> None:
        while not stop.is_set():
            classifier.base.detach_adapter(classifier.adapter_name)

    evictor = threading.Thread(target=evict_repeatedly)
    evictor.start()
    try:
        for _ in range(100):
            np.testing.assert_allclose(classifier.probabilities(texts), expected, atol=1e-6)
    finally:
        stop.set()
        evictor.join()


def test_the_traced_plain_forward_gives_the_eager_vectors_even_with_adapters_attached(
        trained_lora: Trained, tiny_base: str) -> None:
    from workers.runtime.base_models import load_encoder
    from workers.runtime.batching import pad_batch, tokenize

    cache = ModelCache(4)
    base = get_base(tiny_base, cache=cache)
    # An adapter is attached (and disabled for plain passes) before the first plain pass.
    classifier = load_classifier(trained_lora.output_dir, cache=cache, key="v1")
    classifier.probabilities(["my invoice is wrong"])
    eager = load_encoder(tiny_base).eval()
    for texts in (["reset my password"], ["where is the courier with my parcel", "hi"],
                  ["refund"] * 5 + ["my account is locked and the reset email never came"]):
        ids = tokenize(base.tokenizer, texts, 128)
        input_ids, mask = pad_batch(ids, base.encoder.pad_token_id, torch.device("cpu"))
        with torch.inference_mode():
            traced = base.pooled(input_ids, mask, None)
            expected = eager(input_ids, mask)
        assert base._plain_graph  # the plain pass ran traced
        torch.testing.assert_close(traced, expected, atol=1e-5, rtol=1e-5)
    # The adapter's own pass is not the plain one.
    with torch.inference_mode():
        adapted = base.pooled(input_ids, mask, classifier.adapter_name)
    assert not torch.allclose(adapted, expected, atol=1e-4)
