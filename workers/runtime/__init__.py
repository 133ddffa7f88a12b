"""Model runtime for the workers: pure Python + torch + transformers + peft (no Django).

Public API::

    select_device() -> DeviceConfig
    load_base(name) -> (tokenizer, model); get_base(name) -> SharedBase; register_base(name, target)
    ModelCache / default_cache()
    fine_tune_classifier(texts, labels, FineTuneConfig(output_dir=..., ...)) -> FineTuneResult
    load_classifier(artifact_dir, *, cache=None, key=None) -> Classifier; unload_classifier(key)
    Classifier.classify(texts, batch_size, chunk_size) -> Iterator[list[Prediction]]
    classify_and_embed_many([(classifier | None, text)]) -> (predictions, vectors)  (one pass)
    MicroBatcher(run, max_batch, max_wait).submit(key, item)  (workers.runtime.microbatch)
    embed(texts, base, *, batch_size, chunk_size) -> Iterator[(indices, vectors)]
"""

from workers.runtime.base_models import (
    DEFAULT_BASE,
    SharedBase,
    get_base,
    load_base,
    register_base,
    resolve_base,
)
from workers.runtime.cache import ModelCache, default_cache
from workers.runtime.classifier import (
    Classifier,
    Prediction,
    cached_classifier,
    classify_and_embed_many,
    embed,
    load_classifier,
    unload_classifier,
)
from workers.runtime.device import DeviceConfig, select_device
from workers.runtime.training import (
    Cancelled,
    FineTuneConfig,
    FineTuneResult,
    fine_tune_classifier,
    stratified_split,
)

__all__ = [
    "DEFAULT_BASE",
    "Cancelled",
    "Classifier",
    "DeviceConfig",
    "FineTuneConfig",
    "FineTuneResult",
    "ModelCache",
    "Prediction",
    "SharedBase",
    "cached_classifier",
    "classify_and_embed_many",
    "default_cache",
    "embed",
    "fine_tune_classifier",
    "get_base",
    "load_base",
    "load_classifier",
    "register_base",
    "resolve_base",
    "select_device",
    "stratified_split",
    "unload_classifier",
]
