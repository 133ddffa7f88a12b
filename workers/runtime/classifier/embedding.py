"""The base model's pooled embeddings: ``embed`` (L2-normalised, for retrieval) and
``pooled_embeddings`` (unnormalised, what a classification head reads).

Both read the input in chunks (``embed``: ``chunk_size`` texts, yielded before the next chunk is
read, so memory stays flat whatever the input size); each chunk is tokenised once (fast
tokenizer, batch call, no padding), ordered by token count, padded per batch and run under
``torch.inference_mode()`` with no adapter. Sorting by token count is what keeps padding low:
on the interleaved lengths of ``test_inference_runs_in_inference_mode_sorted_by_token_count``
unsorted batches would be about 40% padding, sorted ones stay under 6%.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812

from workers.runtime.base_models import DEFAULT_BASE, SharedBase, get_base
from workers.runtime.batching import chunked, pad_batch, sorted_batches, tokenize
from workers.runtime.cache import ModelCache

DEFAULT_BATCH_SIZE = 64
DEFAULT_CHUNK_SIZE = 4096


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


def pooled_embeddings(shared: SharedBase, texts: Sequence[str], *, max_length: int,
                      batch_size: int, before_chunk: Callable[[], None] | None = None,
                      on_chunk: Callable[[int], None] | None = None) -> torch.Tensor:
    """The base model's pooled (unnormalised, as the head sees them at inference) vectors of
    ``texts``, float32 on the CPU, input order. ``before_chunk()`` runs before each chunk of
    1,024 texts (training raises ``Cancelled`` from it), ``on_chunk(texts done)`` after."""
    out = torch.empty((len(texts), shared.encoder.hidden_size), dtype=torch.float32)
    pad_id = shared.encoder.pad_token_id
    done = 0
    for chunk in chunked(texts, 1024):
        if before_chunk is not None:
            before_chunk()
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
