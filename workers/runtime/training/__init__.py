"""Fine-tuning text classifiers (``fine_tune_classifier``) on a shared base model.

- ``config``: ``FineTuneConfig``, every setting of a run (and what a checkpoint must match);
- ``data``: label ids, the stratified train/validation split, the run's fingerprint;
- ``loop``: full and LoRA training; ``head``: head-only training on the frozen base;
- ``state``: ``TrainState``, the one rule for the kept epoch and early stopping, and averaging;
- ``checkpoints``: per-epoch checkpoints, the RNG states, resuming;
- ``optim``: parameter groups (layer decay), class weights, the warm-up schedule;
- ``result``: the artefact and ``FineTuneResult`` every method ends with;
- ``hooks``: progress callbacks and ``Cancelled``.

Measured on MiniLM: a LoRA artefact is a few hundred KB (adapter + head), a full fine-tune's
about the base's size (~90 MB), a head-only one the head and metadata alone; a head trains in
seconds after one inference pass over the texts. The model, its inference and the artefact
format live in ``workers.runtime.classifier``.
"""

from workers.runtime.training.config import FineTuneConfig, Method
from workers.runtime.training.data import stratified_split
from workers.runtime.training.fine_tune import fine_tune_classifier
from workers.runtime.training.hooks import Cancelled
from workers.runtime.training.result import FineTuneResult
from workers.runtime.training.state import TrainState

__all__ = [
    "Cancelled",
    "FineTuneConfig",
    "FineTuneResult",
    "Method",
    "TrainState",
    "fine_tune_classifier",
    "stratified_split",
]
