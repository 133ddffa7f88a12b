"""Text classifiers on a shared base model, in memory: the head, ``Classifier`` and its batch
inference, and ``classify_and_embed_many`` (predictions and embeddings in one forward pass).

Model: the base encoder's mean-pooled token embeddings (MiniLM is a sentence-embedding model)
feed a dropout + linear head (``ClassificationHead``), whose logits become probabilities through
the artefact's calibrator (temperature scaling fitted on validation rows; plain softmax for
artefacts written before it). The encoder is the shared base plus a LoRA
adapter, the plain shared base (a head-only classifier), or a fully fine-tuned encoder of its own.

Inference (``Classifier.classify``): the input is read in chunks of ``chunk_size`` texts; each
chunk is tokenised once (fast tokenizer, batch call, no padding), ordered by token count, padded
per batch and run under ``torch.inference_mode()``; each chunk's results are yielded (in input
order, with their indices) before the next chunk is read, so memory stays flat whatever the
input size. The adapter is attached and run under the base's lock, because in a threaded worker
another request may evict (detach) it in between.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from workers.runtime.base_models import DEFAULT_BASE, SharedBase, get_base
from workers.runtime.batching import chunked, pad_batch, padded_batches, sorted_batches, tokenize
from workers.runtime.calibration import calibrator_from_manifest
from workers.runtime.classifier.embedding import DEFAULT_BATCH_SIZE, DEFAULT_CHUNK_SIZE, embed
from workers.runtime.device import DeviceConfig
from workers.runtime.scope import ScopeModel


@dataclass(frozen=True)
class Prediction:
    index: int  # position of the text in the input
    label: str
    probabilities: dict[str, float]


class LogitsForward(Protocol):
    """A reduced-precision copy of a classifier's encoder and head (``workers.runtime.
    quantization``): padded token ids and their mask in, the head's logits out."""

    def logits(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor: ...


class ClassificationHead(nn.Module):
    def __init__(self, hidden_size: int, num_labels: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(hidden_size, num_labels)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.linear(self.dropout(pooled))


class Classifier:
    """A loaded classifier: an encoder (shared base + adapter, or its own), a head, labels."""

    def __init__(self, base: SharedBase, head: ClassificationHead, labels: Sequence[str], *,
                 max_length: int, adapter_name: str | None = None,
                 adapter_dir: Path | None = None, manifest: dict[str, Any] | None = None,
                 scope: ScopeModel | None = None) -> None:
        self.base = base
        self.head = head.to(base.device.device).eval()
        self.labels = list(labels)
        self.max_length = max_length
        self.adapter_name = adapter_name
        self.adapter_dir = adapter_dir
        self.manifest = manifest or {}
        # Fitted on the version's validation rows and stored in its manifest: every
        # probability this classifier gives is calibrated (see ``workers.runtime.calibration``).
        self.calibrator = calibrator_from_manifest(self.manifest)
        # How near a message is to the training utterances (``workers.runtime.scope``);
        # None for an artefact written before out-of-scope scoring.
        self.scope = scope
        # The int8 model serving this classifier's forward passes once it has passed
        # validation (``load_classifier(precision="int8")``); None: the fp32 torch path.
        self.int8: LogitsForward | None = None

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
        int8 = self.int8
        with torch.inference_mode():
            for batch in sorted_batches([len(x) for x in ids], batch_size):
                input_ids, mask = pad_batch([ids[i] for i in batch], pad_id, device)
                if int8 is not None:
                    logits = int8.logits(input_ids, mask)
                    out[batch] = self.calibrator.probabilities(logits).cpu().numpy()
                    continue
                # Attach and run under the base's lock: in a threaded worker another request
                # may evict (detach) this adapter in between.
                with self.base.lock:
                    self._ensure_attached()
                    pooled = self.base.pooled(input_ids, mask, self.adapter_name)
                logits = self.head(pooled.float())
                out[batch] = self.calibrator.probabilities(logits).cpu().numpy()
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
                probabilities = classifier.calibrator.probabilities(logits).cpu().numpy()
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
