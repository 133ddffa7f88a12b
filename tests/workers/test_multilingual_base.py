"""A multilingual base model registered by configuration (``BASE_MODELS``, a local folder),
end to end: a tenant fine-tunes it on Chinese headlines through the real job path (a real
Celery worker, the embedded PostgreSQL and Redis), then classifies Chinese text through the
API. The shipped all-MiniLM-L6-v2 is English; this is how a Chinese-speaking tenant gets a
base that reads its text. The base here is a tiny random BERT whose vocabulary holds the
test texts' characters (a BERT tokenizer splits Chinese into characters)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from jobs.models import Job, ModelVersion
from jobs.services import dataset_create, job_submit
from tenancy.context import tenant_context
from tests.conftest import TenantSetup, WorkerFactory, wait_until
from tests.workers.conftest import to_csv

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

ZH_BASE_NAME = "tiny-bert-zh"
COMPANIES = ["腾讯", "阿里巴巴", "比亚迪", "茅台", "宁德时代", "小米"]
PHRASES = {
    "positive": ["利润大涨", "股价飙升", "业绩超预期", "获评级上调"],
    "negative": ["股价暴跌", "亏损严重", "遭欺诈调查", "被评级下调"],
    "neutral": ["召开股东会", "发布年报", "任命董事", "公布日程"],
}
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def zh_rows(count: int, seed: int = 0) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    labels = ("positive", "negative", "neutral")
    return [(f"{rng.choice(COMPANIES)}{rng.choice(PHRASES[label])}", label)
            for label in (labels[i % 3] for i in range(count))]


def build_tiny_zh_base(folder: Path) -> Path:
    """A random 2-layer BERT and a WordPiece tokenizer over the texts' characters."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    characters = sorted({c for texts in (COMPANIES, *PHRASES.values()) for t in texts
                         for c in t})
    folder.mkdir(parents=True, exist_ok=True)
    vocab = {token: index for index, token in enumerate([*SPECIALS, *characters])}
    tokenizer = BertTokenizerFast(vocab=vocab, tokenize_chinese_chars=True,
                                  do_lower_case=False)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(SPECIALS) + len(characters), hidden_size=32,
                        num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                        max_position_embeddings=128)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_the_tokenizer_reads_chinese_characters(tmp_path: Path) -> None:
    from workers.runtime.base_models import load_encoder, register_base

    register_base(ZH_BASE_NAME, str(build_tiny_zh_base(tmp_path / "zh")))
    tokenizer = load_encoder(ZH_BASE_NAME).tokenizer  # as the workers load it
    ids = tokenizer("腾讯股价暴跌", add_special_tokens=False)["input_ids"]
    assert len(ids) == 6  # one token per character
    assert tokenizer.unk_token_id not in ids
    assert tokenizer.convert_ids_to_tokens(ids) == list("腾讯股价暴跌")
    # A character it has never seen is [UNK]: the check above could fail.
    assert tokenizer("鲸", add_special_tokens=False)["input_ids"] == [tokenizer.unk_token_id]


def test_a_multilingual_base_fine_tunes_and_classifies_chinese_end_to_end(
    acme: TenantSetup, tmp_path: Path, workers: WorkerFactory, settings,
) -> None:
    base = build_tiny_zh_base(tmp_path / "tiny-bert-zh")
    settings.BASE_MODELS = {ZH_BASE_NAME: str(base)}
    workers.start(BASE_MODELS=json.dumps({ZH_BASE_NAME: str(base)}),
                  MODEL_WORK_DIR=str(tmp_path / "models"), MEDIA_ROOT=str(settings.MEDIA_ROOT),
                  DEFAULT_MODELS_DIR=str(tmp_path / "no-defaults"))
    with tenant_context(acme.tenant.pk):
        dataset = dataset_create(app="finance_sentiment", purpose="labelled", name="zh.csv",
                                 filename="zh.csv", data=to_csv(zh_rows(180), "text,label"),
                                 created_by_id=None)
        job = job_submit(app="finance_sentiment", kind="fine_tune", dataset_id=dataset.pk,
                         params={"base_model": ZH_BASE_NAME, "epochs": 4, "batch_size": 16,
                                 "learning_rate": 5e-3, "method": "full", "seed": 0,
                                 "early_stopping_patience": 0}).job

    def finished() -> Job | None:
        with tenant_context(acme.tenant.pk):
            current = Job.objects.get(pk=job.pk)
        return current if current.is_finished else None

    job = wait_until("the fine-tune", finished)
    assert job.status == "succeeded", job.error
    with tenant_context(acme.tenant.pk):
        version = ModelVersion.objects.get(pk=job.metrics["model_version"])
    assert (version.status, version.base_model) == ("active", ZH_BASE_NAME)

    held_out = zh_rows(12, seed=7)
    response = acme.api().post("/api/v1/finance/classify",
                               {"texts": [text for text, _ in held_out]}, format="json")
    assert response.status_code == 200, response.content
    results = response.json()
    assert len(results) == len(held_out)
    assert {r["label"] for r in results} <= {"negative", "neutral", "positive"}
    assert all((r["model_version"], r["model_version_number"]) == (version.pk, version.version)
               for r in results)
    right = sum(r["label"] == label for r, (_, label) in zip(results, held_out, strict=True))
    # Learnable only if the characters reached the model as tokens of their own: had the
    # tokenizer mapped them all to [UNK], every text would look alike (a third right).
    assert right >= 10, [(t, r["label"]) for r, (t, _) in zip(results, held_out, strict=True)]
