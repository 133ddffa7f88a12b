from __future__ import annotations

import contextlib

import pytest
import torch

from workers.runtime import device as device_module
from workers.runtime.device import select_device


@pytest.fixture(autouse=True)
def _fresh_selection() -> None:
    device_module._select.cache_clear()


def test_falls_back_to_cpu_without_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for wanted in ("", "cuda", "cpu"):
        monkeypatch.setenv("AIPLATFORM_DEVICE", wanted)
        config = select_device()
        assert config.device == torch.device("cpu")
        assert config.amp_dtype is None
        assert isinstance(config.autocast(), contextlib.nullcontext)
        assert not config.grad_scaler().is_enabled()


def test_cuda_uses_bf16_when_supported_else_fp16(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIPLATFORM_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    assert select_device() == device_module.DeviceConfig(torch.device("cuda"), torch.bfloat16)
    device_module._select.cache_clear()
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    config = select_device()
    assert config.is_cuda
    assert config.amp_dtype == torch.float16


def test_env_forces_cpu_even_with_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setenv("AIPLATFORM_DEVICE", "cpu")
    assert select_device().device.type == "cpu"


def test_unknown_device_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIPLATFORM_DEVICE", "tpu")
    with pytest.raises(ValueError, match="AIPLATFORM_DEVICE"):
        select_device()
