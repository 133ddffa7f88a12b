"""Text classifiers on a shared base model: the model and its batch inference (``model``), the
base's embeddings (``embedding``) and the artefact on disk, loaded once per process
(``artifacts``). Fine-tuning lives beside this package, in ``workers.runtime.training``; its
entry points are exported here too, because the handlers reach the whole classifier API as
``from workers.runtime import classifier as runtime``.

Import order: ``workers.runtime.training`` imports this package's modules, and this package
re-exports training's names last. ``workers.runtime`` imports this package before anything in
``training`` runs, so each module is complete before the other side asks for it.
"""

from workers.runtime.base_models import DEFAULT_BASE, get_base
from workers.runtime.classifier.artifacts import (
    FORMAT_VERSION,
    cached_classifier,
    load_classifier,
    unload_classifier,
)
from workers.runtime.classifier.embedding import DEFAULT_BATCH_SIZE, DEFAULT_CHUNK_SIZE, embed
from workers.runtime.classifier.model import (
    ClassificationHead,
    Classifier,
    Prediction,
    classify_and_embed_many,
)
from workers.runtime.training import (
    Cancelled,
    FineTuneConfig,
    FineTuneResult,
    fine_tune_classifier,
    stratified_split,
)

__all__ = [
    "DEFAULT_BASE",
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_CHUNK_SIZE",
    "FORMAT_VERSION",
    "Cancelled",
    "ClassificationHead",
    "Classifier",
    "FineTuneConfig",
    "FineTuneResult",
    "Prediction",
    "cached_classifier",
    "classify_and_embed_many",
    "embed",
    "fine_tune_classifier",
    "get_base",
    "load_classifier",
    "stratified_split",
    "unload_classifier",
]
