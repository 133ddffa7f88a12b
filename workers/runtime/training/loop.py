"""Full and LoRA fine-tuning: the encoder (with LoRA adapters, or every weight) and the head
trained together on the tokenised texts.

``method="lora"`` trains LoRA adapters (peft) on the attention query/value projections plus the
head, the base weights frozen; ``method="full"`` trains every weight. AdamW with one rate for
the encoder (per depth with layer decay) and one for the head, linear warm-up and decay,
gradients clipped to norm 1, mixed precision where the device has it. Batches group texts of
similar token counts (little padding) in an order drawn from ``(seed, epoch)``, so an epoch
draws the same batches whether or not the run was resumed before it.

Everything random is seeded from the run's seed inside ``torch.random.fork_rng``: the caller's
RNG state is untouched, and the same inputs give the same weights on the CPU.
"""

from __future__ import annotations

import logging
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from workers.runtime.base_models import Encoder, SharedBase, load_encoder, quiet_peft
from workers.runtime.batching import grouped_shuffled_batches, pad_batch, sorted_batches, tokenize
from workers.runtime.classifier.model import ClassificationHead
from workers.runtime.device import DeviceConfig, select_device
from workers.runtime.metrics import classification_metrics
from workers.runtime.training.checkpoints import (
    latest_checkpoint,
    load_trainable,
    rng_state,
    save_checkpoint,
    set_rng_state,
    trainable_state,
)
from workers.runtime.training.config import FineTuneConfig
from workers.runtime.training.data import TrainingData, fingerprint
from workers.runtime.training.hooks import TrainingHooks
from workers.runtime.training.optim import class_weights, encoder_param_groups, linear_warmup
from workers.runtime.training.result import FineTuneResult, save_fine_tune
from workers.runtime.training.state import TrainState

logger = logging.getLogger(__name__)


class _TrainModule(nn.Module):
    def __init__(self, encoder: Encoder, head: ClassificationHead) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = head

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(input_ids, attention_mask))


@dataclass
class _Run:
    """The objects one full or LoRA run trains with."""

    encoder: Encoder
    peft_model: Any  # the peft wrapper of ``encoder.model`` (LoRA), else None
    head: ClassificationHead
    module: _TrainModule
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    scaler: Any  # torch.amp.GradScaler (a disabled one off CUDA)
    device: DeviceConfig
    train_ids: list[list[int]]
    val_ids: list[list[int]]
    total_steps: int
    weights: torch.Tensor | None  # class weights

    def checkpoint(self, fingerprint: str, state: TrainState) -> dict[str, Any]:
        return {"fingerprint": fingerprint, "weights": trainable_state(self.module),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict(),
                "rng": rng_state(), "state": state.to_checkpoint()}


def train_encoder(data: TrainingData, config: FineTuneConfig, hooks: TrainingHooks
                  ) -> FineTuneResult:
    """``method="lora"`` or ``"full"`` (see the module docstring); resumes from the newest
    checkpoint in ``config.checkpoint_dir`` when there is one."""
    run_fingerprint = fingerprint(config.fingerprint_settings(data.names), data.train_texts,
                                  data.y_train, data.val_texts, data.y_val)
    device = select_device()
    forked = [torch.cuda.current_device()] if device.is_cuda else []
    checkpoints = Path(config.checkpoint_dir) if config.checkpoint_dir is not None else None
    averaging = config.average_last_epochs > 1

    with torch.random.fork_rng(devices=forked):
        torch.manual_seed(config.seed)
        random.seed(config.seed)
        run = _prepare(data, config, device)
        state, resumed_from = _resume(run, checkpoints, run_fingerprint)
        run_started = time.monotonic()
        for epoch in range(int(state.epoch), config.epochs):
            if state.finished:
                break
            train_loss = _train_epoch(run, state, data, config, hooks, epoch)
            validation = (_evaluate(run, run.val_ids, data.y_val, config.batch_size, data.names)
                          if data.has_validation else None)
            row = state.end_epoch(epoch=epoch + 1, epochs=config.epochs, train_loss=train_loss,
                                  validation=validation,
                                  weights=lambda: trainable_state(run.module),
                                  early_stopping_patience=config.early_stopping_patience)
            if averaging and epoch + 1 > config.epochs - config.average_last_epochs:
                state.accumulate_average(trainable_state(run.module))
            state.seconds = float(state.seconds) + time.monotonic() - run_started
            run_started = time.monotonic()
            if checkpoints is not None:
                save_checkpoint(checkpoints, epoch + 1, run.checkpoint(run_fingerprint, state),
                                config.keep_checkpoints)
            hooks.epoch_done(epoch + 1, row)
            if state.finished:
                break

        if state.averaged > 1 and data.has_validation and state.average is not None:
            load_trainable(run.module, state.average)
            state.consider_average(_evaluate(run, run.val_ids, data.y_val, config.batch_size,
                                             data.names))
        if state.best_state is not None:
            load_trainable(run.module, state.best_state)
        run.module.eval()
        validation_logits = (_logits(run, run.val_ids, config.batch_size, len(data.names))
                             if data.has_validation else None)
        training_seconds = float(state.seconds) + time.monotonic() - run_started

    shared = SharedBase(config.base, run.encoder, device)
    adapter_name = None
    if run.peft_model is not None:
        adapter_name = "default"
        shared.adopt_peft(run.peft_model, adapter_name)
    return save_fine_tune(config=config, data=data, state=state, head=run.head,
                          encoder=run.encoder, shared=shared, peft_model=run.peft_model,
                          adapter_name=adapter_name, training_seconds=training_seconds,
                          validation_logits=validation_logits, resumed_from=resumed_from)


def _prepare(data: TrainingData, config: FineTuneConfig, device: DeviceConfig) -> _Run:
    """The encoder, head, optimiser and tokenised texts, built in the order that draws the
    seeded RNG (LoRA's and the head's initial weights) the same way on every run."""
    encoder = load_encoder(config.base, device)
    peft_model: Any = None
    if config.method == "lora":
        from peft import LoraConfig, get_peft_model

        with quiet_peft():
            peft_model = get_peft_model(encoder.model, LoraConfig(
                r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                target_modules=list(config.lora_target_modules), bias="none"))
    head = ClassificationHead(encoder.hidden_size, len(data.names))
    module = _TrainModule(encoder, head).to(device.device)
    optimizer = torch.optim.AdamW(
        [*encoder_param_groups(encoder, config.lr, config.layer_decay),
         {"params": list(head.parameters()), "lr": config.head_lr}],
        weight_decay=config.weight_decay)

    train_ids = tokenize(encoder.tokenizer, data.train_texts, config.max_length)
    val_ids = tokenize(encoder.tokenizer, data.val_texts, config.max_length)
    total_steps = math.ceil(len(train_ids) / config.batch_size) * config.epochs
    warmup_steps = int(total_steps * config.warmup_fraction)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer,
                                                  linear_warmup(total_steps, warmup_steps))
    weights = (class_weights(data.y_train, len(data.names), device.device)
               if config.class_weighting else None)
    return _Run(encoder, peft_model, head, module, optimizer, scheduler, device.grad_scaler(),
                device, train_ids, val_ids, total_steps, weights)


def _resume(run: _Run, checkpoints: Path | None, run_fingerprint: str) -> tuple[TrainState, int]:
    """The state to start from (the newest checkpoint's, with the weights, optimiser and RNG
    states it saved, else a fresh one) and the epoch it resumes after."""
    latest = latest_checkpoint(checkpoints) if checkpoints is not None else None
    if latest is None:
        return TrainState(), 0
    saved = torch.load(latest, map_location="cpu", weights_only=True)
    if saved["fingerprint"] != run_fingerprint:
        raise ValueError(f"{latest} was written by a run with other inputs or settings")
    load_trainable(run.module, saved["weights"])
    run.optimizer.load_state_dict(saved["optimizer"])
    run.scheduler.load_state_dict(saved["scheduler"])
    run.scaler.load_state_dict(saved["scaler"])
    set_rng_state(saved["rng"])
    state = TrainState.from_checkpoint(saved["state"])
    logger.info("resuming fine-tune from %s (epoch %d)", latest, int(state.epoch))
    return state, int(state.epoch)


def _train_epoch(run: _Run, state: TrainState, data: TrainingData, config: FineTuneConfig,
                 hooks: TrainingHooks, epoch: int) -> float:
    """One epoch of optimiser steps (``epoch`` 0-based); the mean training loss."""
    run.module.train()
    rng = np.random.default_rng([config.seed, epoch])
    losses: list[float] = []
    window: list[float] = []
    device = run.device
    for batch in grouped_shuffled_batches([len(x) for x in run.train_ids], config.batch_size,
                                          rng):
        hooks.check_cancelled(f"cancelled during epoch {epoch + 1}")
        input_ids, mask = pad_batch([run.train_ids[i] for i in batch],
                                    run.encoder.pad_token_id, device.device)
        targets = torch.from_numpy(data.y_train[batch]).to(device.device)
        with device.autocast():
            logits = run.module(input_ids, mask)
        loss = F.cross_entropy(logits.float(), targets, weight=run.weights,
                               label_smoothing=config.label_smoothing)
        run.optimizer.zero_grad(set_to_none=True)
        run.scaler.scale(loss).backward()
        run.scaler.unscale_(run.optimizer)
        torch.nn.utils.clip_grad_norm_(
            [p for group in run.optimizer.param_groups for p in group["params"]], 1.0)
        run.scaler.step(run.optimizer)
        run.scaler.update()
        run.scheduler.step()
        state.global_step += 1
        value = float(loss.detach())
        losses.append(value)
        window.append(value)
        step = int(state.global_step)
        if hooks.on_step is not None and step % max(1, config.log_every) == 0:
            hooks.on_step(step, sum(window) / len(window))
            window.clear()
        steps_per_epoch = run.total_steps / config.epochs
        hooks.progress(step / steps_per_epoch, config.epochs, "epochs")
    return float(np.mean(losses))


def _logits(run: _Run, ids: list[list[int]], batch_size: int, classes: int) -> torch.Tensor:
    """The current weights' logits of tokenised texts, float32 on the CPU, input order."""
    module, device = run.module, run.device
    module.eval()
    logits = torch.empty((len(ids), classes), dtype=torch.float32)
    with torch.inference_mode():
        for batch in sorted_batches([len(x) for x in ids], max(batch_size, 64)):
            input_ids, mask = pad_batch([ids[i] for i in batch], module.encoder.pad_token_id,
                                        device.device)
            with device.autocast():
                out = module(input_ids, mask)
            logits[torch.from_numpy(batch)] = out.float().cpu()
    return logits


def _evaluate(run: _Run, ids: list[list[int]], y: np.ndarray, batch_size: int,
              label_names: list[str]) -> dict[str, Any]:
    """Validation metrics (``classification_metrics`` plus ``loss``) of the current weights."""
    logits = _logits(run, ids, batch_size, len(label_names))
    targets = torch.from_numpy(y)
    loss = float(F.cross_entropy(logits, targets)) if len(ids) else 0.0
    metrics = classification_metrics(y.tolist(), logits.argmax(dim=1).tolist(), label_names)
    metrics["loss"] = loss
    return metrics
