"""Text classifiers on a shared base model: the model and its batch inference (``model``), the
base's embeddings (``embedding``) and the artefact on disk, loaded once per process
(``artifacts``). Fine-tuning lives beside this package, in ``workers.runtime.training``, which
imports this package and is never imported by it: the dependency points one way. Callers that
want both reach them through ``workers.runtime``.
"""

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

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_CHUNK_SIZE",
    "FORMAT_VERSION",
    "ClassificationHead",
    "Classifier",
    "Prediction",
    "cached_classifier",
    "classify_and_embed_many",
    "embed",
    "load_classifier",
    "unload_classifier",
]
