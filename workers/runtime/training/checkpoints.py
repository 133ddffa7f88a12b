"""Checkpoints of a fine-tune (``checkpoint_dir``) and the weights they hold.

``epoch-NNN.pt`` is written after each epoch with the trainable weights (adapter + head, or the
whole model + head), optimizer, scheduler, grad scaler, RNG states (torch, CUDA, Python, NumPy),
the run's fingerprint and its ``TrainState`` (the best weights so far, the early-stopping and
averaging state). Calling ``fine_tune_classifier`` again with the same ``checkpoint_dir`` and
inputs resumes after the last completed epoch and ends exactly where an uninterrupted run
would; a checkpoint of other inputs or settings is refused (its fingerprint differs).

A checkpoint is written to a temporary file and renamed over the target, so a process killed
mid-write leaves the previous checkpoint, never a truncated one; only the newest
``keep_checkpoints`` are kept. Only trainable parameters are saved: for LoRA on MiniLM that is
the adapter and head, not the frozen base.
"""

from __future__ import annotations

import random
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn


def trainable_state(module: nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.detach().to("cpu", copy=True) for name, p in module.named_parameters()
            if p.requires_grad}


def load_trainable(module: nn.Module, state: dict[str, torch.Tensor]) -> None:
    params = dict(module.named_parameters())
    with torch.no_grad():
        for name, value in state.items():
            params[name].copy_(value)


def rng_state() -> dict[str, Any]:
    np_state: Any = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "python": random.getstate(),
        "numpy": [np_state[0], np_state[1].tolist(), *np_state[2:]],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))


def latest_checkpoint(directory: Path) -> Path | None:
    found = sorted(directory.glob("epoch-*.pt"))
    return found[-1] if found else None


def save_checkpoint(directory: Path, epoch: int, state: dict[str, Any], keep: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"epoch-{epoch:03d}.pt"
    tmp = directory / f".{target.name}.{uuid.uuid4().hex}.tmp"
    torch.save(state, tmp)
    tmp.replace(target)
    for old in sorted(directory.glob("epoch-*.pt"))[:-max(keep, 1)]:
        old.unlink(missing_ok=True)
