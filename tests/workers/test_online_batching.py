"""Chat analysis through a real online worker (Celery's thread pool, the embedded Redis and
PostgreSQL, the shipped MiniLM): messages of two tenants sent at the same time share a forward
pass of the base model, and each gets its own tenant's intent (its tenant's head) and only its
own tenant's articles."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from apps.support_bot import services
from apps.support_bot.text import text_hash
from jobs.models import Job, ModelVersion
from jobs.online import online_call
from jobs.services import model_version_create
from tenancy.context import tenant_context
from tests.conftest import TenantSetup, WorkerFactory
from tests.workers.runtime.conftest import KEYWORDS as ACME_KEYWORDS
from tests.workers.runtime.conftest import make_task

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

GLOBEX_KEYWORDS = {
    "card_arrival": ["card", "arrive", "arrival", "post", "mail", "delivered"],
    "exchange_rate": ["exchange", "rate", "currency", "euro", "dollar", "convert"],
    "lost_card": ["lost", "stolen", "missing", "thief", "gone", "robbed"],
}
PER_TENANT = 4  # concurrent messages per tenant


def _rows(keywords: dict[str, list[str]], count: int) -> tuple[list[str], list[str]]:
    filler = "the a my is it please help with today why can you me i we".split()
    texts, labels = [], []
    for index in range(count):
        label = list(keywords)[index % len(keywords)]
        words = [filler[(index * 7 + k) % len(filler)] for k in range(index % 4 + 1)]
        words += [keywords[label][(index + k) % len(keywords[label])] for k in range(3)]
        texts.append(" ".join(words))
        labels.append(label)
    return texts, labels


@pytest.fixture(scope="module")
def head_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two intent models (heads on the shipped MiniLM) with different intents."""
    from workers.runtime import FineTuneConfig, fine_tune_classifier

    out = {}
    for name, keywords in (("acme", ACME_KEYWORDS), ("globex", GLOBEX_KEYWORDS)):
        texts, labels = _rows(keywords, 60)
        folder = tmp_path_factory.mktemp(name) / "artifact"
        result = fine_tune_classifier(texts, labels, FineTuneConfig(
            output_dir=folder, label_names=sorted(keywords), method="head", epochs=40,
            max_length=64, early_stopping_patience=None, seed=0))
        if result.classifier is not None:
            result.classifier.release()
        out[name] = folder
    return out


def _install(setup: TenantSetup, folder: Path, labels: list[str]) -> list[int]:
    """The tenant's active intent model and two embedded articles; their ids."""
    from workers.handlers.text_classification import _zip_dir
    from workers.runtime import embed

    with tenant_context(setup.tenant.pk):
        job = Job.objects.create(app="support_bot", kind="fine_tune", status="succeeded")
        model_version_create(job=job, label_map=labels, metrics={"macro_f1": 0.9},
                             artifact_name="artifact.zip", artifact=_zip_dir(folder),
                             base_model="all-MiniLM-L6-v2", method="head")
        articles = [services.article_create(question=f"{setup.tenant.slug} question {n}",
                                            answer=f"{setup.tenant.slug} answer {n}")
                    for n in range(2)]
        [(_, vectors)] = list(embed([a.embedding_text for a in articles]))
        services.article_embeddings_record(embeddings=[
            (a.pk, text_hash(a.embedding_text), v.tolist())
            for a, v in zip(articles, vectors, strict=True)])
    return [a.pk for a in articles]


def test_concurrent_messages_of_two_tenants_share_a_forward_and_get_their_own_answers(
        acme: TenantSetup, globex: TenantSetup, head_models: dict[str, Path],
        workers: WorkerFactory, tmp_path: Path, settings: Any) -> None:
    from workers.runtime import load_classifier

    articles = {"acme": _install(acme, head_models["acme"], sorted(ACME_KEYWORDS)),
                "globex": _install(globex, head_models["globex"], sorted(GLOBEX_KEYWORDS))}
    tenants = {"acme": acme, "globex": globex}
    texts = {"acme": make_task(PER_TENANT, seed=21).texts,
             "globex": _rows(GLOBEX_KEYWORDS, PER_TENANT + 5)[0][5:]}
    # What each tenant's model says about its texts, computed here in process.
    expected = {name: [p for chunk in load_classifier(head_models[name]).classify(texts[name])
                       for p in chunk] for name in tenants}

    # Messages that arrive within half a second of each other share a batch.
    workers.start(queues="online", pool="threads", concurrency=2 * PER_TENANT,
                  MODEL_WORK_DIR=str(tmp_path / "models"), HF_HUB_OFFLINE="1",
                  DEFAULT_MODELS_DIR=str(tmp_path / "no-defaults"),
                  ONLINE_BATCH_MAX_WAIT_MS="500")
    for setup in tenants.values():  # loads MiniLM and both heads
        with tenant_context(setup.tenant.pk):
            online_call("support.analyse", "hello", 1, timeout=120)

    results: dict[tuple[str, int], dict[str, Any]] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(2 * PER_TENANT)

    def send(name: str, index: int) -> None:
        try:
            barrier.wait(10)
            with tenant_context(tenants[name].tenant.pk):
                results[(name, index)] = online_call("support.analyse", texts[name][index], 3,
                                                     timeout=60)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=send, args=(name, index))
               for index in range(PER_TENANT) for name in tenants]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    assert not errors, errors
    assert len(results) == 2 * PER_TENANT

    for (name, index), found in results.items():
        mine = expected[name][index]
        # Its own tenant's model answered, for its own text.
        assert found["intent"] == mine.label
        assert found["confidence"] == pytest.approx(max(mine.probabilities.values()), abs=1e-4)
        # The version that ran, by id (as jobs and the API name it) and number.
        with tenant_context(tenants[name].tenant.pk):
            version = ModelVersion.objects.get(app="support_bot")
        assert (found["model_version"], found["model_version_number"]) == (version.pk, 1)
        # Retrieval ran under its own tenant: only that tenant's articles.
        assert {a["id"] for a in found["articles"]} == set(articles[name])
        assert found["batch_size"] >= 2
    # Both tenants' heads sit on the shared MiniLM: their messages shared a forward pass, and
    # each still got its own tenant's answer above.
    assert max(found["batch_size"] for found in results.values()) > PER_TENANT
