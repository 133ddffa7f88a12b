"""Text classifiers on a shared base model: fine-tuning, loading, batch inference, embeddings.

Model: the base encoder's mean-pooled token embeddings (MiniLM is a sentence-embedding model)
feed a dropout + linear head. ``method="lora"`` trains LoRA adapters (peft) on the attention
query/value projections plus the head, the base weights frozen; ``method="full"`` trains every
weight; ``method="head"`` trains only the head on the frozen base's embeddings, computed once
(seconds of training after one inference pass: the quick way to a good intent classifier).

Artefacts (``output_dir``):

- ``manifest.json``: format, base name, method, max length, pooling, labels, hidden size;
- ``labels.json``: the label map (name -> id);
- ``head.safetensors``: the classification head;
- ``metrics.json``: validation metrics of the kept (best) epoch and the per-epoch history;
- LoRA: ``adapter/`` (peft's ``adapter_config.json`` + ``adapter_model.safetensors``): a few
  hundred KB for MiniLM, never a copy of the base, which is loaded from the registry;
- full fine-tune: ``model/`` holds the whole fine-tuned encoder and its tokenizer (about the
  size of the base model, ~90 MB for MiniLM) because every weight changed;
- head only: nothing else (the base is loaded from the registry and used as is).

Checkpoints (``checkpoint_dir``): ``epoch-NNN.pt`` after each epoch with the trainable weights
(adapter + head, or the whole model + head), optimizer, scheduler, epoch, RNG states, the best
weights so far and the early-stopping state. Calling ``fine_tune_classifier`` again with the same
``checkpoint_dir`` and inputs resumes after the last completed epoch, and ends exactly where an
uninterrupted run would.

Inference (``Classifier.classify``, ``embed``): the input is read in chunks of ``chunk_size``
texts; each chunk is tokenised once (fast tokenizer, batch call, no padding), ordered by token
count, padded per batch and run under ``torch.inference_mode()``; each chunk's results are
yielded (in input order, with their indices) before the next chunk is read, so memory stays flat
whatever the input size.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import random
import re
import shutil
import time
import uuid
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from safetensors.torch import load_file, save_file
from torch import nn

from workers.runtime.base_models import (
    DEFAULT_BASE,
    ENCODER_CLASSES,
    Encoder,
    SharedBase,
    _import_attr,
    base_key,
    get_base,
    load_encoder,
    quiet_peft,
)
from workers.runtime.batching import (
    chunked,
    grouped_shuffled_batches,
    pad_batch,
    padded_batches,
    sorted_batches,
    tokenize,
)
from workers.runtime.cache import ModelCache, default_cache
from workers.runtime.device import DeviceConfig, select_device
from workers.runtime.metrics import classification_metrics

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
Method = Literal["lora", "full", "head"]
DEFAULT_LEARNING_RATES: dict[str, float] = {"lora": 1e-3, "full": 5e-5, "head": 1e-2}
DEFAULT_HEAD_LEARNING_RATE = 2e-3
DEFAULT_BATCH_SIZE = 64
DEFAULT_CHUNK_SIZE = 4096


class Cancelled(Exception):  # noqa: N818 - the name callers catch
    """Training stopped because ``should_cancel()`` returned True (checkpoints are kept)."""


@dataclass(frozen=True)
class Prediction:
    index: int  # position of the text in the input
    label: str
    probabilities: dict[str, float]


@dataclass
class FineTuneResult:
    output_dir: Path
    label_map: dict[str, int]
    metrics: dict[str, Any]  # validation metrics of the kept epoch (see metrics.py)
    history: list[dict[str, Any]]  # per-epoch train loss and validation metrics
    method: str
    base: str
    epochs_run: int  # epochs completed in total (all calls)
    best_epoch: int
    stopped_early: bool
    resumed_from_epoch: int  # 0 when this call started from scratch
    train_size: int
    validation_size: int
    training_seconds: float  # all calls, interrupted ones included
    artifact_bytes: int
    classifier: Classifier | None = field(default=None, repr=False)  # the in-memory model


class ClassificationHead(nn.Module):
    def __init__(self, hidden_size: int, num_labels: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(hidden_size, num_labels)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.linear(self.dropout(pooled))


class _TrainModule(nn.Module):
    def __init__(self, encoder: Encoder, head: ClassificationHead) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = head

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(input_ids, attention_mask))


# --------------------------------------------------------------------------------------------
# Inference


class Classifier:
    """A loaded classifier: an encoder (shared base + adapter, or its own), a head, labels."""

    def __init__(self, base: SharedBase, head: ClassificationHead, labels: Sequence[str], *,
                 max_length: int, adapter_name: str | None = None,
                 adapter_dir: Path | None = None, manifest: dict[str, Any] | None = None) -> None:
        self.base = base
        self.head = head.to(base.device.device).eval()
        self.labels = list(labels)
        self.max_length = max_length
        self.adapter_name = adapter_name
        self.adapter_dir = adapter_dir
        self.manifest = manifest or {}

    @property
    def device(self) -> DeviceConfig:
        return self.base.device

    def release(self) -> None:
        """Detach this classifier's adapter from the shared base (on cache eviction)."""
        if self.adapter_name is not None and self.adapter_dir is not None:
            self.base.detach_adapter(self.adapter_name)

    def _ensure_attached(self) -> None:
        if (self.adapter_name is not None and self.adapter_dir is not None
                and self.adapter_name not in self.base.adapters):
            self.base.attach_adapter(self.adapter_dir, self.adapter_name)

    def probabilities(self, texts: Sequence[str], batch_size: int = DEFAULT_BATCH_SIZE
                      ) -> np.ndarray:
        """Class probabilities (float32, input order) of a list of texts held in memory."""
        self._ensure_attached()
        ids = tokenize(self.base.tokenizer, texts, self.max_length)
        return self._probabilities(ids, batch_size)

    def _probabilities(self, ids: list[list[int]], batch_size: int) -> np.ndarray:
        out = np.empty((len(ids), len(self.labels)), dtype=np.float32)
        device = self.device.device
        pad_id = self.base.encoder.pad_token_id
        with torch.inference_mode():
            for batch in sorted_batches([len(x) for x in ids], batch_size):
                input_ids, mask = pad_batch([ids[i] for i in batch], pad_id, device)
                # Attach and run under the base's lock: in a threaded worker another request
                # may evict (detach) this adapter in between.
                with self.base.lock:
                    self._ensure_attached()
                    pooled = self.base.pooled(input_ids, mask, self.adapter_name)
                logits = self.head(pooled.float())
                out[batch] = torch.softmax(logits.float(), dim=-1).cpu().numpy()
        return out

    def shares_pass_with(self, base: SharedBase) -> bool:
        """Whether this classifier's pooled vector is ``base``'s embedding: a head on the
        plain shared base (no adapter, no encoder of its own)."""
        return (self.adapter_name is None and self.manifest.get("method") == "head"
                and self.base is base)

    def _predictions(self, probabilities: np.ndarray, indices: Sequence[int]
                     ) -> list[Prediction]:
        best = probabilities.argmax(axis=1).tolist()
        rows = probabilities.tolist()
        return [Prediction(index, self.labels[best[row]],
                           dict(zip(self.labels, rows[row], strict=True)))
                for row, index in enumerate(indices)]

    def classify(self, texts: Iterable[str], batch_size: int = DEFAULT_BATCH_SIZE,
                 chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[list[Prediction]]:
        """Predictions for ``texts``, one list per chunk of ``chunk_size`` inputs, in input
        order; ``Prediction.index`` is the position in ``texts``."""
        self._ensure_attached()
        offset = 0
        for chunk in chunked(texts, chunk_size):
            ids = tokenize(self.base.tokenizer, chunk, self.max_length)
            yield self._predictions(self._probabilities(ids, batch_size),
                                    range(offset, offset + len(chunk)))
            offset += len(chunk)


def classify_and_embed_many(requests: Sequence[tuple[Classifier | None, str]],
                            embedding_base: str = DEFAULT_BASE, embedding_max_length: int = 256
                            ) -> tuple[list[Prediction | None], np.ndarray]:
    """For ``(classifier or None, text)`` pairs, possibly of several classifiers: what each
    classifier's ``classify([text])`` gives (None without a classifier; ``index`` is the
    position in ``requests``) and ``embed()``'s vector of every text.

    The texts of head-only classifiers on the shared ``embedding_base`` and those without a
    classifier share **one** forward pass of the base: its pooled vectors are the embeddings,
    and each classifier's head reads its own rows (so the tenants of one base share the
    forward, and each gets its own head's answer). That is exact for texts shorter than both
    max lengths; a longer text might be truncated differently by the two calls, so it goes,
    like the texts of LoRA and fully fine-tuned classifiers, through ``classify`` and
    ``embed`` (batched per classifier)."""
    retrieval = get_base(embedding_base)
    count = len(requests)
    predictions: list[Prediction | None] = [None] * count
    vectors = np.empty((count, retrieval.encoder.hidden_size), dtype=np.float32)
    if not count:
        return predictions, vectors
    ids = tokenize(retrieval.tokenizer, [text for _, text in requests], embedding_max_length)
    shared: list[int] = []
    apart: dict[Classifier, list[int]] = {}
    for index, (classifier, _) in enumerate(requests):
        if classifier is None:
            shared.append(index)  # a plain embedding: truncated exactly as embed() does
        elif (classifier.shares_pass_with(retrieval)
              and len(ids[index]) < min(classifier.max_length, embedding_max_length)):
            shared.append(index)
        else:
            apart.setdefault(classifier, []).append(index)

    if shared:
        pooled = np.empty((len(shared), retrieval.encoder.hidden_size), dtype=np.float32)
        with torch.inference_mode():
            for batch in padded_batches([len(ids[i]) for i in shared], DEFAULT_BATCH_SIZE):
                input_ids, mask = pad_batch([ids[shared[i]] for i in batch],
                                            retrieval.encoder.pad_token_id,
                                            retrieval.device.device)
                pooled[batch] = retrieval.pooled(input_ids, mask, None).float().cpu().numpy()
            vectors[shared] = F.normalize(torch.from_numpy(pooled), dim=-1).numpy()
            heads: dict[Classifier, list[int]] = {}
            for row, index in enumerate(shared):
                classifier = requests[index][0]
                if classifier is not None:
                    heads.setdefault(classifier, []).append(row)
            for classifier, rows in heads.items():
                logits = classifier.head(torch.from_numpy(pooled[rows]).to(
                    classifier.device.device))
                probabilities = torch.softmax(logits.float(), dim=-1).cpu().numpy()
                for prediction in classifier._predictions(probabilities,
                                                          [shared[r] for r in rows]):
                    predictions[prediction.index] = prediction

    for classifier, indices in apart.items():
        texts = [requests[i][1] for i in indices]
        classifier_ids = tokenize(classifier.base.tokenizer, texts, classifier.max_length)
        probabilities = classifier._probabilities(classifier_ids, DEFAULT_BATCH_SIZE)
        for prediction in classifier._predictions(probabilities, indices):
            predictions[prediction.index] = prediction
        [(_, embedded)] = embed(texts, embedding_base, max_length=embedding_max_length,
                                chunk_size=len(texts))
        vectors[indices] = embedded
    return predictions, vectors


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _adapter_name(key: Hashable) -> str:
    return "t" + hashlib.sha1(repr(key).encode(), usedforsecurity=False).hexdigest()[:16]


def _load_head(path: Path, hidden_size: int, num_labels: int) -> ClassificationHead:
    head = ClassificationHead(hidden_size, num_labels)
    head.load_state_dict(load_file(str(path)))
    return head.eval()


def load_classifier(artifact_dir: str | Path, *, cache: ModelCache | None = None,
                    key: Hashable | None = None) -> Classifier:
    """A saved classifier, loaded once per process and cached under ``key`` (a model-version
    id; default: the artefact path). A LoRA classifier attaches its adapter to the cached
    shared base model; a full fine-tune loads its own encoder."""
    cache = cache if cache is not None else default_cache()
    directory = Path(artifact_dir).resolve()
    manifest = _read_json(directory / "manifest.json")
    if manifest.get("format") != FORMAT_VERSION:
        raise ValueError(f"{directory}: unsupported artefact format {manifest.get('format')!r}")
    labels: list[str] = list(manifest["labels"])
    max_length = int(manifest["max_length"])
    cache_key = _classifier_key(key if key is not None else str(directory))

    if manifest["method"] == "full":
        def load_full() -> Classifier:
            device = select_device()
            encoder_cls = _import_attr(ENCODER_CLASSES[manifest.get("pooling", "mean")])
            encoder = encoder_cls.load(str(directory / "model"), device)
            head = _load_head(directory / "head.safetensors", encoder.hidden_size, len(labels))
            own = SharedBase(f"{manifest['base']} (full fine-tune)", encoder, device)
            return Classifier(own, head, labels, max_length=max_length, manifest=manifest)

        return cache.get_or_load(cache_key, load_full)

    if manifest["method"] == "head":
        for _attempt in range(3):
            shared = get_base(manifest["base"], cache=cache)

            def load_head(shared: SharedBase = shared) -> Classifier:
                head = _load_head(directory / "head.safetensors", shared.encoder.hidden_size,
                                  len(labels))
                return Classifier(shared, head, labels, max_length=max_length, manifest=manifest)

            try:
                return cache.get_or_load(cache_key, load_head,
                                         depends_on=[base_key(manifest["base"])])
            except KeyError:  # the base was evicted by another thread meanwhile: load it again
                continue
        raise RuntimeError(f"could not keep base model {manifest['base']!r} in the model cache")

    adapter_name = _adapter_name(cache_key)
    for _attempt in range(3):
        base = get_base(manifest["base"], cache=cache)

        def load_lora(base: SharedBase = base) -> Classifier:
            base.attach_adapter(directory / "adapter", adapter_name)
            head = _load_head(directory / "head.safetensors", base.encoder.hidden_size,
                              len(labels))
            return Classifier(base, head, labels, max_length=max_length,
                              adapter_name=adapter_name, adapter_dir=directory / "adapter",
                              manifest=manifest)

        try:
            return cache.get_or_load(cache_key, load_lora, depends_on=[base_key(manifest["base"])],
                                     on_evict=Classifier.release)
        except KeyError:  # the base was evicted by another thread meanwhile: load it again
            base.detach_adapter(adapter_name)
    raise RuntimeError(f"could not keep base model {manifest['base']!r} in the model cache")


def _classifier_key(key: Hashable) -> Hashable:
    """A classifier's entry in the model cache, by its version id or artefact path."""
    return ("classifier", key)


def cached_classifier(key: Hashable, *, cache: ModelCache | None = None) -> Classifier | None:
    """The classifier loaded under ``key`` (as given to ``load_classifier``) when it is in
    memory, without touching its artefact on disk; None otherwise."""
    cache = cache if cache is not None else default_cache()
    found = cache.get(_classifier_key(key))
    return found if isinstance(found, Classifier) else None


def unload_classifier(key: Hashable, *, cache: ModelCache | None = None) -> bool:
    """Drop a classifier from the cache (its adapter leaves the shared base); ``key`` as given
    to ``load_classifier`` (or its artefact path). False if it was not loaded."""
    cache = cache if cache is not None else default_cache()
    if isinstance(key, (str, Path)) and Path(key).is_dir():
        key = str(Path(key).resolve())
    return cache.evict(_classifier_key(key))


def embed(texts: Iterable[str], base: str = DEFAULT_BASE, *, batch_size: int = DEFAULT_BATCH_SIZE,
          chunk_size: int = DEFAULT_CHUNK_SIZE, max_length: int = 256,
          cache: ModelCache | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``(indices, vectors)`` per chunk of ``chunk_size`` texts, in input order: the base
    model's pooled embeddings (no adapter), float32, L2-normalised."""
    shared = get_base(base, cache=cache)
    device = shared.device.device
    pad_id = shared.encoder.pad_token_id
    offset = 0
    for chunk in chunked(texts, chunk_size):
        ids = tokenize(shared.tokenizer, chunk, max_length)
        out = np.empty((len(chunk), shared.encoder.hidden_size), dtype=np.float32)
        with torch.inference_mode():
            for batch in sorted_batches([len(x) for x in ids], batch_size):
                input_ids, mask = pad_batch([ids[i] for i in batch], pad_id, device)
                pooled = shared.pooled(input_ids, mask, None)
                out[batch] = F.normalize(pooled.float(), dim=-1).cpu().numpy()
        yield np.arange(offset, offset + len(chunk), dtype=np.int64), out
        offset += len(chunk)


# --------------------------------------------------------------------------------------------
# Fine-tuning


def _label_ids(labels: Sequence[str | int], label_map: dict[str, int], what: str
               ) -> np.ndarray:
    out = np.empty(len(labels), dtype=np.int64)
    n = len(label_map)
    for i, label in enumerate(labels):
        if isinstance(label, (int, np.integer)) and not isinstance(label, bool):
            if not 0 <= int(label) < n:
                raise ValueError(f"{what} row {i}: label id {label} out of range")
            out[i] = int(label)
        elif str(label) in label_map:
            out[i] = label_map[str(label)]
        else:
            raise ValueError(f"{what} row {i}: unknown label {label!r}")
    return out


def stratified_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(train, validation)`` positions: ``fraction`` of each class (at least one when the
    class has two or more rows) goes to validation; reproducible for a seed."""
    rng = np.random.default_rng(seed)
    train: list[np.ndarray] = []
    val: list[np.ndarray] = []
    for cls in np.unique(y):
        rows = np.flatnonzero(y == cls)
        rng.shuffle(rows)
        k = round(len(rows) * fraction)
        k = min(max(k, 1), len(rows) - 1) if len(rows) >= 2 and fraction > 0 else 0
        val.append(rows[:k])
        train.append(rows[k:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))


def _fingerprint(config: dict[str, Any], texts: Sequence[str], y: np.ndarray,
                 val_texts: Sequence[str], val_y: np.ndarray) -> str:
    digest = hashlib.sha256(json.dumps(config, sort_keys=True).encode())
    for part in (texts, val_texts):
        for text in part:
            digest.update(text.encode("utf-8", "surrogatepass"))
            digest.update(b"\x00")
        digest.update(b"\x01")
    digest.update(y.tobytes())
    digest.update(val_y.tobytes())
    return digest.hexdigest()


def _trainable_state(module: nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.detach().to("cpu", copy=True) for name, p in module.named_parameters()
            if p.requires_grad}


def _load_trainable(module: nn.Module, state: dict[str, torch.Tensor]) -> None:
    params = dict(module.named_parameters())
    with torch.no_grad():
        for name, value in state.items():
            params[name].copy_(value)


def _rng_state() -> dict[str, Any]:
    np_state: Any = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "python": random.getstate(),
        "numpy": [np_state[0], np_state[1].tolist(), *np_state[2:]],
    }


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))


def _latest_checkpoint(directory: Path) -> Path | None:
    found = sorted(directory.glob("epoch-*.pt"))
    return found[-1] if found else None


def _save_checkpoint(directory: Path, epoch: int, state: dict[str, Any], keep: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"epoch-{epoch:03d}.pt"
    tmp = directory / f".{target.name}.{uuid.uuid4().hex}.tmp"
    torch.save(state, tmp)
    tmp.replace(target)
    for old in sorted(directory.glob("epoch-*.pt"))[:-max(keep, 1)]:
        old.unlink(missing_ok=True)


def _accumulate_average(state: dict[str, Any], weights: dict[str, torch.Tensor]) -> None:
    """Fold one epoch's weights into ``state``'s running mean (``average``, ``averaged``)."""
    count = int(state["averaged"]) + 1
    if state["average"] is None:
        state["average"] = {name: tensor.clone() for name, tensor in weights.items()}
    else:
        for name, tensor in state["average"].items():
            tensor.add_(weights[name] - tensor, alpha=1 / count)
    state["averaged"] = count


def _directory_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _evaluate(module: _TrainModule, ids: list[list[int]], y: np.ndarray, batch_size: int,
              device: DeviceConfig, label_names: Sequence[str]) -> dict[str, Any]:
    module.eval()
    logits = torch.empty((len(ids), len(label_names)), dtype=torch.float32)
    with torch.inference_mode():
        for batch in sorted_batches([len(x) for x in ids], batch_size):
            input_ids, mask = pad_batch([ids[i] for i in batch], module.encoder.pad_token_id,
                                        device.device)
            with device.autocast():
                out = module(input_ids, mask)
            logits[torch.from_numpy(batch)] = out.float().cpu()
    targets = torch.from_numpy(y)
    loss = float(F.cross_entropy(logits, targets)) if len(ids) else 0.0
    metrics = classification_metrics(y.tolist(), logits.argmax(dim=1).tolist(), label_names)
    metrics["loss"] = loss
    return metrics


def _encoder_param_groups(encoder: Encoder, lr: float, layer_decay: float
                          ) -> list[dict[str, Any]]:
    """The encoder's trainable parameters as optimiser groups: one at ``lr`` or, with
    ``layer_decay`` < 1, one per depth (embeddings 0, layer i at i + 1, the rest on top) at
    ``lr * layer_decay ** (top - depth)``."""
    params = [(name, p) for name, p in encoder.named_parameters() if p.requires_grad]
    if layer_decay == 1.0:
        return [{"params": [p for _, p in params], "lr": lr}]
    layers = int(encoder.model.config.num_hidden_layers)
    by_depth: dict[int, list[torch.Tensor]] = {}
    for name, p in params:
        match = re.search(r"(?:^|\.)layer\.(\d+)\.", name)
        depth = (int(match.group(1)) + 1 if match
                 else 0 if "embeddings." in name else layers + 1)
        by_depth.setdefault(depth, []).append(p)
    return [{"params": group, "lr": lr * layer_decay ** (layers + 1 - depth)}
            for depth, group in sorted(by_depth.items())]


def fine_tune_classifier(
    texts: Sequence[str],
    labels: Sequence[str | int],
    *,
    output_dir: str | Path,
    label_names: Sequence[str] | None = None,
    base: str = DEFAULT_BASE,
    method: Method = "lora",
    epochs: int = 3,
    batch_size: int = 32,
    learning_rate: float | None = None,
    head_learning_rate: float | None = None,
    weight_decay: float = 0.01,
    warmup_fraction: float = 0.06,
    seed: int = 0,
    validation_fraction: float = 0.1,
    validation_texts: Sequence[str] | None = None,
    validation_labels: Sequence[str | int] | None = None,
    max_length: int = 128,
    early_stopping_patience: int | None = 2,
    class_weighting: bool = False,
    label_smoothing: float = 0.0,
    layer_decay: float = 1.0,
    average_last_epochs: int = 0,
    lora_r: int = 8,
    lora_alpha: int = 16,
    lora_dropout: float = 0.1,
    lora_target_modules: Sequence[str] = ("query", "value"),
    checkpoint_dir: str | Path | None = None,
    keep_checkpoints: int = 1,
    log_every: int = 10,
    on_step: Callable[[int, float], None] | None = None,
    on_epoch: Callable[[int, dict[str, Any]], None] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
) -> FineTuneResult:
    """Fine-tune a text classifier on ``base`` and save its artefact to ``output_dir``.

    ``labels`` are names from ``label_names`` (default: the sorted distinct labels) or their
    ids. Validation data: ``validation_texts``/``validation_labels`` when given, else a
    stratified ``validation_fraction`` of the rows chosen with ``seed`` (0: no validation, no
    early stopping). The kept weights are those of the epoch with the best validation
    macro-F1; training stops after ``early_stopping_patience`` epochs without improvement.
    ``learning_rate`` applies to the adapter (LoRA, default 1e-3) or the encoder (full,
    default 5e-5), ``head_learning_rate`` (default 2e-3) to the head; AdamW, linear warm-up
    and decay. ``layer_decay`` < 1 (full fine-tune) scales each encoder layer's learning rate
    by that factor per layer below the top, the embeddings lowest; ``label_smoothing`` is
    cross-entropy's. ``average_last_epochs`` = k > 1 also averages the weights at the end of
    the last k epochs (checkpoint averaging) and keeps the average when it scores at least as
    well on validation as the best epoch. ``method="head"`` (see ``_fine_tune_head``) trains
    the head alone with ``learning_rate`` (default 1e-2) and keeps no checkpoints.
    ``on_step(step, mean loss)`` every ``log_every`` optimiser steps, ``on_progress(step,
    total steps)`` every step, ``on_epoch(epoch, metrics)`` after each epoch's checkpoint;
    ``should_cancel()`` is checked before every batch and raises ``Cancelled``. See the
    module docstring for artefacts and checkpoints.
    """
    if method not in ("lora", "full", "head"):
        raise ValueError(f"method must be 'lora', 'full' or 'head', not {method!r}")
    if len(texts) != len(labels):
        raise ValueError("texts and labels differ in length")
    if not texts:
        raise ValueError("no training rows")
    if epochs < 1 or batch_size < 1:
        raise ValueError("epochs and batch_size must be positive")
    texts = [str(t) for t in texts]
    names = (list(label_names) if label_names is not None
             else sorted({str(label) for label in labels}))
    if len(set(names)) != len(names) or len(names) < 2:
        raise ValueError("label_names must hold at least two distinct labels")
    label_map = {name: i for i, name in enumerate(names)}
    y_all = _label_ids(labels, label_map, "training")

    if validation_texts is not None:
        if validation_labels is None or len(validation_labels) != len(validation_texts):
            raise ValueError("validation_texts and validation_labels differ in length")
        train_texts, y_train = texts, y_all
        val_texts = [str(t) for t in validation_texts]
        y_val = _label_ids(validation_labels, label_map, "validation")
    else:
        train_rows, val_rows = stratified_split(y_all, validation_fraction, seed)
        train_texts = [texts[i] for i in train_rows]
        val_texts = [texts[i] for i in val_rows]
        y_train, y_val = y_all[train_rows], y_all[val_rows]

    lr = learning_rate if learning_rate is not None else DEFAULT_LEARNING_RATES[method]
    if method == "head":
        return _fine_tune_head(
            train_texts, y_train, val_texts, y_val, output_dir=Path(output_dir), names=names,
            base=base, epochs=epochs, batch_size=batch_size, learning_rate=lr,
            weight_decay=weight_decay, seed=seed, max_length=max_length,
            early_stopping_patience=early_stopping_patience, class_weighting=class_weighting,
            log_every=log_every, on_step=on_step, on_epoch=on_epoch, on_progress=on_progress,
            should_cancel=should_cancel)
    head_lr = head_learning_rate if head_learning_rate is not None else DEFAULT_HEAD_LEARNING_RATE
    config = {
        "base": base, "method": method, "epochs": epochs, "batch_size": batch_size, "lr": lr,
        "head_lr": head_lr, "weight_decay": weight_decay, "warmup": warmup_fraction,
        "seed": seed, "max_length": max_length, "labels": names,
        "class_weighting": class_weighting, "label_smoothing": label_smoothing,
        "layer_decay": layer_decay, "average_last_epochs": average_last_epochs,
        "lora": [lora_r, lora_alpha, lora_dropout, list(lora_target_modules)],
    }
    fingerprint = _fingerprint(config, train_texts, y_train, val_texts, y_val)
    device = select_device()
    forked = [torch.cuda.current_device()] if device.is_cuda else []

    with torch.random.fork_rng(devices=forked):
        torch.manual_seed(seed)
        random.seed(seed)
        encoder = load_encoder(base, device)
        peft_model: Any = None
        if method == "lora":
            from peft import LoraConfig, get_peft_model

            with quiet_peft():
                peft_model = get_peft_model(encoder.model, LoraConfig(
                    r=lora_r, lora_alpha=lora_alpha, lora_dropout=lora_dropout,
                    target_modules=list(lora_target_modules), bias="none"))
        head = ClassificationHead(encoder.hidden_size, len(names))
        module = _TrainModule(encoder, head).to(device.device)
        optimizer = torch.optim.AdamW(
            [*_encoder_param_groups(encoder, lr, layer_decay),
             {"params": list(head.parameters()), "lr": head_lr}],
            weight_decay=weight_decay)

        train_ids = tokenize(encoder.tokenizer, train_texts, max_length)
        val_ids = tokenize(encoder.tokenizer, val_texts, max_length)
        train_lengths = [len(x) for x in train_ids]
        steps_per_epoch = math.ceil(len(train_ids) / batch_size)
        total_steps = steps_per_epoch * epochs
        warmup_steps = int(total_steps * warmup_fraction)

        def schedule(step: int) -> float:
            if step < warmup_steps:
                return (step + 1) / (warmup_steps + 1)
            return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
        scaler = device.grad_scaler()
        weights = None
        if class_weighting:
            counts = np.bincount(y_train, minlength=len(names)).astype(np.float64)
            weights = torch.tensor(len(y_train) / (len(names) * np.maximum(counts, 1)),
                                   dtype=torch.float32, device=device.device)

        state: dict[str, Any] = {
            "epoch": 0, "global_step": 0, "best_score": -math.inf, "best_epoch": 0,
            "best_state": None, "best_metrics": {}, "bad_epochs": 0, "history": [],
            "finished": False, "stopped_early": False, "seconds": 0.0,
            "average": None, "averaged": 0,
        }
        checkpoints = Path(checkpoint_dir) if checkpoint_dir is not None else None
        resumed_from = 0
        latest = _latest_checkpoint(checkpoints) if checkpoints is not None else None
        if latest is not None:
            saved = torch.load(latest, map_location="cpu", weights_only=True)
            if saved["fingerprint"] != fingerprint:
                raise ValueError(f"{latest} was written by a run with other inputs or settings")
            _load_trainable(module, saved["weights"])
            optimizer.load_state_dict(saved["optimizer"])
            scheduler.load_state_dict(saved["scheduler"])
            scaler.load_state_dict(saved["scaler"])
            _set_rng_state(saved["rng"])
            state = saved["state"]
            resumed_from = int(state["epoch"])
            logger.info("resuming fine-tune from %s (epoch %d)", latest, resumed_from)

        has_validation = len(val_ids) > 0
        run_started = time.monotonic()
        for epoch in range(int(state["epoch"]), epochs):
            if state["finished"]:
                break
            module.train()
            rng = np.random.default_rng([seed, epoch])
            losses: list[float] = []
            window: list[float] = []
            for batch in grouped_shuffled_batches(train_lengths, batch_size, rng):
                if should_cancel is not None and should_cancel():
                    raise Cancelled(f"cancelled during epoch {epoch + 1}")
                input_ids, mask = pad_batch([train_ids[i] for i in batch],
                                            encoder.pad_token_id, device.device)
                targets = torch.from_numpy(y_train[batch]).to(device.device)
                with device.autocast():
                    logits = module(input_ids, mask)
                loss = F.cross_entropy(logits.float(), targets, weight=weights,
                                       label_smoothing=label_smoothing)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(
                    [p for group in optimizer.param_groups for p in group["params"]], 1.0)
                scaler.step(optimizer)
                scaler.update()
                scheduler.step()
                state["global_step"] += 1
                value = float(loss.detach())
                losses.append(value)
                window.append(value)
                step = int(state["global_step"])
                if on_step is not None and step % max(1, log_every) == 0:
                    on_step(step, sum(window) / len(window))
                    window.clear()
                if on_progress is not None:
                    on_progress(step, total_steps)

            epoch_metrics: dict[str, Any] = {"epoch": epoch + 1,
                                             "train_loss": float(np.mean(losses))}
            if has_validation:
                val = _evaluate(module, val_ids, y_val, max(batch_size, 64), device, names)
                epoch_metrics.update(val_loss=val["loss"], accuracy=val["accuracy"],
                                     macro_f1=val["macro_f1"])
                score = float(val["macro_f1"])
            else:
                val = {"validation_size": 0}
                score = float(epoch + 1)  # no validation: keep the last epoch
            if score > state["best_score"] + 1e-9:
                state.update(best_score=score, best_epoch=epoch + 1, bad_epochs=0,
                             best_state=_trainable_state(module),
                             best_metrics={k: v for k, v in val.items() if k != "loss"})
            else:
                state["bad_epochs"] += 1
            if average_last_epochs > 1 and epoch + 1 > epochs - average_last_epochs:
                _accumulate_average(state, _trainable_state(module))
            state["history"].append(epoch_metrics)
            state["epoch"] = epoch + 1
            stop = (has_validation and early_stopping_patience is not None
                    and state["bad_epochs"] >= early_stopping_patience)
            state["stopped_early"] = bool(stop and epoch + 1 < epochs)
            state["finished"] = bool(stop or epoch + 1 == epochs)
            state["seconds"] = float(state["seconds"]) + time.monotonic() - run_started
            run_started = time.monotonic()
            if checkpoints is not None:
                _save_checkpoint(checkpoints, epoch + 1, {
                    "fingerprint": fingerprint, "weights": _trainable_state(module),
                    "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                    "scaler": scaler.state_dict(), "rng": _rng_state(), "state": state,
                }, keep_checkpoints)
            if on_epoch is not None:
                on_epoch(epoch + 1, epoch_metrics)
            if stop:
                break

        if state["averaged"] > 1 and has_validation:
            _load_trainable(module, state["average"])
            val = _evaluate(module, val_ids, y_val, max(batch_size, 64), device, names)
            state["history"].append({"epoch": int(state["epoch"]),
                                     "averaged_epochs": state["averaged"],
                                     "val_loss": val["loss"], "accuracy": val["accuracy"],
                                     "macro_f1": val["macro_f1"]})
            if float(val["macro_f1"]) >= state["best_score"] - 1e-9:
                state.update(best_state=state["average"], best_epoch=int(state["epoch"]),
                             best_metrics={**{k: v for k, v in val.items() if k != "loss"},
                                           "averaged_epochs": state["averaged"]})
        if state["best_state"] is not None:
            _load_trainable(module, state["best_state"])
        module.eval()
        training_seconds = float(state["seconds"]) + time.monotonic() - run_started

    out = Path(output_dir)
    metrics = dict(state["best_metrics"])
    manifest = {
        "format": FORMAT_VERSION, "base": base, "method": method, "max_length": max_length,
        "pooling": encoder.pooling, "labels": names, "hidden_size": encoder.hidden_size,
        "head": "dropout+linear",
        "lora": ({"r": lora_r, "alpha": lora_alpha, "target_modules": list(lora_target_modules)}
                 if method == "lora" else None),
        "best_epoch": state["best_epoch"], "seed": seed,
    }
    _write_artifact(out, manifest, label_map, head, encoder, peft_model,
                    {"metrics": metrics, "history": state["history"]})

    shared = SharedBase(base, encoder, device)
    adapter = None
    if peft_model is not None:
        adapter = "default"
        shared.adopt_peft(peft_model, adapter)
    in_memory = Classifier(shared, head, names, max_length=max_length, adapter_name=adapter,
                           manifest=manifest)
    return FineTuneResult(
        output_dir=out, label_map=label_map, metrics=metrics, history=list(state["history"]),
        method=method, base=base, epochs_run=int(state["epoch"]),
        best_epoch=int(state["best_epoch"]), stopped_early=bool(state["stopped_early"]),
        resumed_from_epoch=resumed_from, train_size=len(train_ids), validation_size=len(val_ids),
        training_seconds=round(training_seconds, 3), artifact_bytes=_directory_bytes(out),
        classifier=in_memory)


def _write_artifact(out: Path, manifest: dict[str, Any], label_map: dict[str, int],
                    head: ClassificationHead, encoder: Encoder, peft_model: Any,
                    metrics: dict[str, Any], *, save_encoder: bool = True) -> None:
    """Write the artefact to a temporary sibling, then swap it in (a rerun replaces it)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.{uuid.uuid4().hex}.tmp"
    tmp.mkdir()
    try:
        if peft_model is not None:
            peft_model.save_pretrained(str(tmp / "adapter"))
        elif save_encoder:
            encoder.model.save_pretrained(str(tmp / "model"))
            encoder.tokenizer.save_pretrained(str(tmp / "model"))
        save_file({k: v.detach().cpu().contiguous() for k, v in head.state_dict().items()},
                  str(tmp / "head.safetensors"))
        (tmp / "labels.json").write_text(json.dumps(label_map, indent=1), encoding="utf-8")
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        (tmp / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


# --------------------------------------------------------------------------------------------
# Head only: a frozen base


def _pooled_embeddings(shared: SharedBase, texts: Sequence[str], *, max_length: int,
                       batch_size: int, should_cancel: Callable[[], bool] | None,
                       on_chunk: Callable[[int], None] | None = None) -> torch.Tensor:
    """The base model's pooled (unnormalised, as the head sees them at inference) vectors of
    ``texts``, float32 on the CPU, input order; ``should_cancel`` is checked per chunk."""
    out = torch.empty((len(texts), shared.encoder.hidden_size), dtype=torch.float32)
    pad_id = shared.encoder.pad_token_id
    done = 0
    for chunk in chunked(texts, 1024):
        if should_cancel is not None and should_cancel():
            raise Cancelled("cancelled while embedding the training texts")
        ids = tokenize(shared.tokenizer, chunk, max_length)
        with torch.inference_mode():
            for batch in sorted_batches([len(x) for x in ids], max(batch_size, 64)):
                input_ids, mask = pad_batch([ids[i] for i in batch], pad_id, shared.device.device)
                pooled = shared.pooled(input_ids, mask, None).float().cpu()
                out[torch.from_numpy(batch + done)] = pooled
        done += len(chunk)
        if on_chunk is not None:
            on_chunk(done)
    return out


def _fine_tune_head(
    train_texts: Sequence[str], y_train: np.ndarray, val_texts: Sequence[str], y_val: np.ndarray,
    *, output_dir: Path, names: list[str], base: str, epochs: int, batch_size: int,
    learning_rate: float, weight_decay: float, seed: int, max_length: int,
    early_stopping_patience: int | None, class_weighting: bool, log_every: int,
    on_step: Callable[[int, float], None] | None, on_epoch: Callable[[int, dict[str, Any]], None]
    | None, on_progress: Callable[[int, int], None] | None,
    should_cancel: Callable[[], bool] | None,
) -> FineTuneResult:
    """``method="head"``: embed the texts once with the shared, frozen base (no adapter), then
    train the dropout + linear head on those vectors with AdamW and cross-entropy, keeping the
    epoch with the best validation macro-F1. Epochs are over cached vectors, so they take
    milliseconds: use tens of them. Progress counts embedded texts, then epochs."""
    started = time.monotonic()
    shared = get_base(base)
    total_texts = len(train_texts) + len(val_texts)
    total_units = total_texts + epochs

    def embedded(done: int, offset: int = 0) -> None:
        if on_progress is not None:
            on_progress(offset + done, total_units)

    x_train = _pooled_embeddings(shared, train_texts, max_length=max_length,
                                 batch_size=batch_size, should_cancel=should_cancel,
                                 on_chunk=embedded)
    x_val = _pooled_embeddings(shared, val_texts, max_length=max_length, batch_size=batch_size,
                               should_cancel=should_cancel,
                               on_chunk=lambda done: embedded(done, len(train_texts)))
    generator = torch.Generator().manual_seed(seed)
    # Seeded here and in the loop (dropout, shuffling): the same inputs give the same head.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        head = ClassificationHead(shared.encoder.hidden_size, len(names))
        optimizer = torch.optim.AdamW(head.parameters(), lr=learning_rate,
                                      weight_decay=weight_decay)
        targets = torch.from_numpy(y_train)
        weights = None
        if class_weighting:
            counts = np.bincount(y_train, minlength=len(names)).astype(np.float64)
            weights = torch.tensor(len(y_train) / (len(names) * np.maximum(counts, 1)),
                                   dtype=torch.float32)
        has_validation = len(val_texts) > 0
        best_score, best_epoch, bad_epochs, step = -math.inf, 0, 0, 0
        best_state: dict[str, torch.Tensor] = {}
        best_metrics: dict[str, Any] = {}
        history: list[dict[str, Any]] = []
        stopped_early = False
        epochs_run = 0
        for epoch in range(epochs):
            if should_cancel is not None and should_cancel():
                raise Cancelled(f"cancelled during epoch {epoch + 1}")
            head.train()
            order = torch.randperm(len(targets), generator=generator)
            losses: list[float] = []
            for start in range(0, len(order), batch_size):
                rows = order[start:start + batch_size]
                loss = F.cross_entropy(head(x_train[rows]), targets[rows], weight=weights)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                step += 1
                losses.append(float(loss.detach()))
                if on_step is not None and step % max(1, log_every) == 0:
                    on_step(step, float(np.mean(losses[-log_every:])))
            epochs_run = epoch + 1
            epoch_metrics: dict[str, Any] = {"epoch": epoch + 1,
                                             "train_loss": float(np.mean(losses))}
            head.eval()
            if has_validation:
                with torch.inference_mode():
                    logits = head(x_val)
                val = classification_metrics(y_val.tolist(), logits.argmax(dim=1).tolist(), names)
                val["loss"] = float(F.cross_entropy(logits, torch.from_numpy(y_val)))
                epoch_metrics.update(val_loss=val["loss"], accuracy=val["accuracy"],
                                     macro_f1=val["macro_f1"])
                score = float(val["macro_f1"])
            else:
                val, score = {"validation_size": 0}, float(epoch + 1)
            if score > best_score + 1e-9:
                best_score, best_epoch, bad_epochs = score, epoch + 1, 0
                best_state = {k: v.detach().clone() for k, v in head.state_dict().items()}
                best_metrics = {k: v for k, v in val.items() if k != "loss"}
            else:
                bad_epochs += 1
            history.append(epoch_metrics)
            if on_progress is not None:
                on_progress(total_texts + epoch + 1, total_units)
            if on_epoch is not None:
                on_epoch(epoch + 1, epoch_metrics)
            if (has_validation and early_stopping_patience is not None
                    and bad_epochs >= early_stopping_patience):
                stopped_early = epoch + 1 < epochs
                break
    head.load_state_dict(best_state)
    head.eval()
    training_seconds = time.monotonic() - started

    manifest = {
        "format": FORMAT_VERSION, "base": base, "method": "head", "max_length": max_length,
        "pooling": shared.encoder.pooling, "labels": names,
        "hidden_size": shared.encoder.hidden_size, "head": "dropout+linear", "lora": None,
        "best_epoch": best_epoch, "seed": seed,
    }
    label_map = {name: i for i, name in enumerate(names)}
    _write_artifact(output_dir, manifest, label_map, head, shared.encoder, None,
                    {"metrics": best_metrics, "history": history}, save_encoder=False)
    in_memory = Classifier(shared, head, names, max_length=max_length, manifest=manifest)
    return FineTuneResult(
        output_dir=output_dir, label_map=label_map, metrics=best_metrics, history=history,
        method="head", base=base, epochs_run=epochs_run, best_epoch=best_epoch,
        stopped_early=stopped_early, resumed_from_epoch=0, train_size=len(train_texts),
        validation_size=len(val_texts), training_seconds=round(training_seconds, 3),
        artifact_bytes=_directory_bytes(output_dir), classifier=in_memory)
