"""Optimiser settings shared by the training methods: parameter groups with layer-wise decay,
inverse-frequency class weights and the warm-up schedule.

``class_weights`` gives class c the weight ``rows / (classes * rows of c)`` (1 for every class of
a balanced set; a class with no row counts as one row rather than dividing by zero), the same
for full/LoRA and head-only training. Layer decay (``layer_decay`` < 1) lowers the learning
rate geometrically from the top layer down to the embeddings (see ``encoder_param_groups``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from workers.runtime.base_models import Encoder


def encoder_param_groups(encoder: Encoder, lr: float, layer_decay: float
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


def class_weights(y_train: np.ndarray, num_labels: int, device: torch.device | None = None
                  ) -> torch.Tensor:
    """Cross-entropy weights of the classes, inversely proportional to their frequency."""
    counts = np.bincount(y_train, minlength=num_labels).astype(np.float64)
    return torch.tensor(len(y_train) / (num_labels * np.maximum(counts, 1)),
                        dtype=torch.float32, device=device)


def linear_warmup(total_steps: int, warmup_steps: int) -> Callable[[int], float]:
    """``LambdaLR``'s factor: linear warm-up over ``warmup_steps``, then linear decay to 0."""

    def schedule(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / (warmup_steps + 1)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return schedule
