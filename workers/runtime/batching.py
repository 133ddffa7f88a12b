"""Tokenising and batching: tokenise once without padding, order by token count, pad per batch.

Sorting by token count (not characters) is what keeps padding near zero: batches hold texts of
(almost) the same length, so the forward pass computes almost nothing on pad tokens.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from typing import Any, TypeVar

import numpy as np
import torch

T = TypeVar("T")


def chunked(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Consecutive lists of ``size`` items (the last may be shorter); never holds more."""
    if size < 1:
        raise ValueError("chunk size must be positive")
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def tokenize(tokenizer: Any, texts: Sequence[str], max_length: int) -> list[list[int]]:
    """Token ids of each text (with special tokens, truncated, unpadded), in one batch call
    to the fast tokenizer."""
    if not texts:
        return []
    encoded = tokenizer(list(texts), truncation=True, max_length=max_length, padding=False,
                        return_attention_mask=False, return_token_type_ids=False)
    return list(encoded["input_ids"])


def pad_batch(sequences: Sequence[Sequence[int]], pad_id: int, device: torch.device
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(input_ids, attention_mask)`` padded to the longest sequence of this batch."""
    lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
    width = int(lengths.max()) if len(sequences) else 0
    ids = np.full((len(sequences), width), pad_id, dtype=np.int64)
    for row, seq in enumerate(sequences):
        ids[row, : len(seq)] = seq
    mask = (np.arange(width)[None, :] < lengths[:, None]).astype(np.int64)
    return (torch.from_numpy(ids).to(device, non_blocking=True),
            torch.from_numpy(mask).to(device, non_blocking=True))


def sorted_batches(lengths: Sequence[int], batch_size: int) -> list[np.ndarray]:
    """Positions grouped into batches of similar token count (longest first)."""
    order = np.argsort(-np.asarray(lengths, dtype=np.int64), kind="stable")
    return [order[i: i + batch_size] for i in range(0, len(order), batch_size)]


def padded_batches(lengths: Sequence[int], max_batch: int, max_padding: float = 0.2
                   ) -> list[np.ndarray]:
    """Positions grouped into batches of similar token count (longest first), a new batch
    starting when the next text would make pad tokens more than ``max_padding`` of the batch.

    For the few texts of a real-time batch (``sorted_batches`` would pad them all to the
    longest): on the CPU a forward pass costs about its padded token count, so splitting 20
    chat messages by length is ~35% cheaper than one batch, and still far cheaper than 20
    passes of one text (measured with all-MiniLM-L6-v2 on BANKING77 questions)."""
    order = np.argsort(-np.asarray(lengths, dtype=np.int64), kind="stable")
    batches: list[np.ndarray] = []
    start, real = 0, 0
    for position, index in enumerate(order):
        width = lengths[order[start]]
        count = position - start + 1
        real_with = real + lengths[index]
        if position > start and (count > max_batch
                                 or 1 - real_with / (width * count) > max_padding):
            batches.append(order[start:position])
            start, real_with = position, lengths[index]
        real = real_with
    if len(order):
        batches.append(order[start:])
    return batches


def grouped_shuffled_batches(lengths: Sequence[int], batch_size: int,
                             rng: np.random.Generator, group: int = 50) -> list[np.ndarray]:
    """Training batches: a random permutation, sorted by length inside groups of
    ``group`` batches (little padding), then batches in random order."""
    permutation = rng.permutation(len(lengths))
    lengths_arr = np.asarray(lengths, dtype=np.int64)
    batches: list[np.ndarray] = []
    span = batch_size * group
    for start in range(0, len(permutation), span):
        block = permutation[start: start + span]
        block = block[np.argsort(-lengths_arr[block], kind="stable")]
        batches.extend(block[i: i + batch_size] for i in range(0, len(block), batch_size))
    order = rng.permutation(len(batches))
    return [batches[i] for i in order]


def padding_fraction(lengths: Sequence[int], batches: Sequence[np.ndarray]) -> float:
    """Share of pad tokens over all tokens computed when running ``batches``."""
    lengths_arr = np.asarray(lengths, dtype=np.int64)
    real = padded = 0
    for batch in batches:
        if len(batch) == 0:
            continue
        batch_lengths = lengths_arr[batch]
        real += int(batch_lengths.sum())
        padded += int(batch_lengths.max()) * len(batch)
    return 1.0 - real / padded if padded else 0.0
