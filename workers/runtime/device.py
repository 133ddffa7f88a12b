"""Device selection for the model runtime: one function, used everywhere.

CUDA when it is present (autocast in bf16 when the GPU supports it, fp16 otherwise), the CPU in
fp32 otherwise. Every caller runs the same code path: ``config.autocast()`` and
``config.grad_scaler()`` are no-ops on the CPU. ``AIPLATFORM_DEVICE=cpu|cuda`` overrides the
choice; asking for CUDA on a machine without it falls back to the CPU with a warning.
``AIPLATFORM_TORCH_THREADS`` sets the intra-op thread count (default: torch's own choice, one
per physical core).
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from functools import lru_cache

import torch

logger = logging.getLogger(__name__)

DEVICE_ENV = "AIPLATFORM_DEVICE"
THREADS_ENV = "AIPLATFORM_TORCH_THREADS"


@dataclass(frozen=True)
class DeviceConfig:
    """Where models run and in which precision. ``amp_dtype`` is None for plain fp32."""

    device: torch.device
    amp_dtype: torch.dtype | None = None

    @property
    def type(self) -> str:
        return self.device.type

    @property
    def is_cuda(self) -> bool:
        return self.device.type == "cuda"

    def autocast(self) -> contextlib.AbstractContextManager[object]:
        """Mixed-precision context for forward passes (a no-op in fp32)."""
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def grad_scaler(self) -> torch.amp.GradScaler:
        """Loss scaler for training: only active for fp16 (bf16 and fp32 need none)."""
        return torch.amp.GradScaler(self.device.type, enabled=self.amp_dtype == torch.float16)


def _cuda_config() -> DeviceConfig:
    amp = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return DeviceConfig(torch.device("cuda"), amp)


def select_device(prefer: str | None = None) -> DeviceConfig:
    """The device every model of this process uses.

    ``prefer`` (or ``$AIPLATFORM_DEVICE``) is ``"cpu"``, ``"cuda"`` or empty for automatic.
    """
    choice = (prefer if prefer is not None else os.environ.get(DEVICE_ENV, "")).strip().lower()
    if choice not in ("", "auto", "cpu", "cuda"):
        raise ValueError(f"{DEVICE_ENV} must be 'cpu' or 'cuda', not {choice!r}")
    return _select(choice, torch.cuda.is_available())


@lru_cache(maxsize=8)
def _select(choice: str, cuda_available: bool) -> DeviceConfig:
    configure_threads()
    if choice == "cpu":
        return DeviceConfig(torch.device("cpu"))
    if cuda_available:
        return _cuda_config()
    if choice == "cuda":
        logger.warning("%s=cuda but CUDA is not available: running on the CPU", DEVICE_ENV)
    return DeviceConfig(torch.device("cpu"))


def configure_threads() -> int:
    """Apply ``$AIPLATFORM_TORCH_THREADS`` when set; return the intra-op thread count."""
    wanted = os.environ.get(THREADS_ENV, "").strip()
    if wanted:
        count = max(1, int(wanted))
        if torch.get_num_threads() != count:
            torch.set_num_threads(count)
    return torch.get_num_threads()
