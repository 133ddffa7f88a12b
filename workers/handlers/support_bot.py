"""The customer-service bot on the workers: the intent fine-tune, article embeddings, the
backlog report, and the analysis of one chat message for the ``online`` queue.

The app decides what a reply is (``apps.support_bot.services.message_answer``); a worker only
does the model work: the intent and its confidence, and the nearest articles, which it reads
from pgvector under the tenant's context (row-level security applies).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Hashable
from typing import Any, NamedTuple

import numpy as np
from django.conf import settings
from django.db import connection

from apps.support_bot import selectors, services
from apps.support_bot.spec import OUT_OF_SCOPE
from apps.support_bot.text import sentences_split, text_hash
from jobs.models import Job, JobEvent, Prediction
from jobs.services import dataset_rows
from workers import runtime
from workers.execution import JobContext, Outcome
from workers.handlers import text_classification
from workers.handlers.text_classification import (
    NoModelAvailable,
    TrainedSplit,
    classifier_for_app,
)
from workers.runtime.microbatch import MicroBatcher
from workers.runtime.scope import scope_fit

APP = "support_bot"
EMBED_CHUNK = 256


def fine_tune_intents(job: Job, context: JobContext) -> Outcome:
    """From the job's ``text,intent`` dataset, else from the tenant's utterances. Rows of
    the intent ``out_of_scope`` are not an intent to answer: they are the examples the
    version's out-of-scope score is tuned and measured on (``_fit_scope``)."""
    if job.dataset is not None:
        rows = [(row["text"], row["intent"])
                for row in dataset_rows(job.dataset)]
        source = f"dataset {job.dataset.name}"
    else:
        rows = selectors.training_rows()
        source = "the intents' utterances"
    out_of_scope = [text for text, intent in rows if intent == OUT_OF_SCOPE]
    rows = [(text, intent) for text, intent in rows if intent != OUT_OF_SCOPE]
    counts = Counter(intent for _, intent in rows)
    if len(counts) < 2:
        raise ValueError("The intent model needs utterances of at least two intents "
                         f"({source} has {len(counts)}).")
    context.event(JobEvent.Kind.STATUS, f"Training on {len(rows)} utterances of "
                                        f"{len(counts)} intents from {source}"
                                        f" ({len(out_of_scope)} out-of-scope examples)",
                  rows=len(rows), intents=len(counts), out_of_scope=len(out_of_scope))
    target = services.bot_settings_get().target_false_handoff

    def fit_scope(trained: TrainedSplit) -> dict[str, Any]:
        return {"out_of_scope": _fit_scope(trained, out_of_scope, target)}

    return text_classification.fine_tune_on(job, context, [text for text, _ in rows],
                                            [intent for _, intent in rows],
                                            after_training=fit_scope)


def _embedded(texts: list[str]) -> np.ndarray:
    """``embed()``'s vectors of ``texts``: the space the online analysis scores messages in."""
    if not texts:
        return np.empty((0, runtime.get_base(runtime.DEFAULT_BASE).encoder.hidden_size),
                        dtype=np.float32)
    return np.concatenate([block for _, block in runtime.embed(texts, chunk_size=EMBED_CHUNK * 4)])


def _fit_scope(trained: TrainedSplit, out_of_scope: list[str], target: float
               ) -> dict[str, Any]:
    """Write the version's scope model into its artefact and return its report (the
    recommended threshold for the tenant's target false-handoff rate, out-of-scope
    precision and recall on held-out examples, the coverage-accuracy curve)."""
    predicted = [p.label for chunk in trained.classifier.classify(trained.validation_texts)
                 for p in chunk]
    correct = np.array([p == t for p, t in zip(predicted, trained.validation_labels,
                                                strict=True)], dtype=bool)
    model, report = scope_fit(train_vectors=_embedded(trained.train_texts),
                              train_labels=trained.train_labels,
                              validation_vectors=_embedded(trained.validation_texts),
                              validation_correct=correct,
                              out_of_scope_vectors=_embedded(out_of_scope),
                              target_false_handoff=target)
    model.save(trained.output)
    return report


def embed_articles(job: Job, context: JobContext) -> Outcome:
    """Embed the articles whose text changed since their last embedding (or all of them),
    in chunks, each written in one transaction; a retried job finds only what is left."""
    if job.params.get("all"):
        todo = list(selectors.article_list().only("id", "question", "answer").order_by("id"))
    else:
        todo = services.articles_stale()
    context.progress(0, items_total=len(todo), force=True)
    done = 0
    for start in range(0, len(todo), EMBED_CHUNK):
        context.check_cancelled()
        chunk = todo[start:start + EMBED_CHUNK]
        texts = [article.embedding_text for article in chunk]
        # The answer's sentences in the same pass: the composer quotes them without a
        # forward pass per message (``apps.support_bot.compose``).
        split = [sentences_split(article.answer) for article in chunk]
        flat = [sentence for sentences in split for sentence in sentences]
        vectors = [vector for _, block in runtime.embed(texts + flat, chunk_size=EMBED_CHUNK)
                   for vector in block]
        sentence_vectors = iter(vectors[len(texts):])
        services.article_embeddings_record(embeddings=[
            (article.pk, text_hash(text), vector.tolist())
            for article, text, vector in zip(chunk, texts, vectors, strict=False)],
            sentences={article.pk: [(sentence, next(sentence_vectors).tolist())
                                    for sentence in sentences]
                       for article, sentences in zip(chunk, split, strict=True)})
        done += len(chunk)
        context.progress(done)
    return Outcome(metrics={"items": done, "embedded": done}, items=done)


def classify_backlog(job: Job, context: JobContext) -> Outcome:
    """Each ticket's intent (``Prediction`` rows) and the intent distribution."""
    classifier, version = text_classification.classifier_for_job(job)
    outcome = text_classification.classify_rows(job, context, classifier, version)
    confidences = list(Prediction.objects.filter(job=job).values_list("confidence", flat=True))
    threshold = services.bot_settings_get().intent_threshold
    counts = outcome.metrics["label_counts"]
    total = sum(counts.values()) or 1
    outcome.metrics["distribution"] = sorted(
        ({"intent": name, "count": n, "share": round(n / total, 4)} for name, n in counts.items()),
        key=lambda row: (-row["count"], row["intent"]))
    outcome.metrics["low_confidence"] = sum(1 for c in confidences if c < threshold)
    return outcome


# --- One chat message (``support.analyse`` on the ``online`` queue) ----------------------------
#
# The online worker runs its tasks in threads. Each task thread reads what it needs under its
# own tenant's context (which model; afterwards the nearest articles: row-level security
# applies), and only the model work goes through the analysis batcher, so the messages that
# arrive together share one forward pass (``workers.runtime.microbatch``). Messages are batched
# by the forward pass they need: every head-only intent model on the retrieval base (the
# default method; each tenant's own head or the platform default) and messages without an
# intent model share the base's pass, and each message is then read by its own tenant's head;
# a LoRA or fully fine-tuned model needs a pass of its own, so its messages batch together.
# The batching thread sees texts and models only, never a tenant context or the database.

Request = tuple[runtime.Classifier | None, str]


class Analysed(NamedTuple):
    """One message's share of a batch: its intent (None without an intent model), its query
    vector, and how many messages the forward pass served (for logs and tests)."""

    prediction: runtime.Prediction | None
    vector: np.ndarray
    batch_size: int


_batcher: MicroBatcher[Request, Analysed] | None = None
_batcher_lock = threading.Lock()


def _forward_key(classifier: runtime.Classifier | None) -> Hashable:
    """What must run for a message: the retrieval base's plain pass, or the model's own."""
    base = runtime.get_base(runtime.DEFAULT_BASE)
    if classifier is None or classifier.shares_pass_with(base):
        return base
    return classifier


def _analyse_batch(key: Hashable, requests: list[Request]) -> list[Analysed]:
    """Intent predictions and query vectors of one batch of messages."""
    predictions, vectors = runtime.classify_and_embed_many(requests)
    return [Analysed(p, v, len(requests)) for p, v in zip(predictions, vectors, strict=True)]


def analysis_batcher() -> MicroBatcher[Request, Analysed]:
    """This process's batcher of chat analyses (``ONLINE_BATCH_MAX_SIZE`` messages at most,
    waiting ``ONLINE_BATCH_MAX_WAIT_MS`` for more)."""
    global _batcher
    with _batcher_lock:
        if _batcher is None:
            _batcher = MicroBatcher(_analyse_batch, max_batch=settings.ONLINE_BATCH_MAX_SIZE,
                                    max_wait=settings.ONLINE_BATCH_MAX_WAIT_MS / 1000,
                                    name="support-analyse")
        return _batcher


def analyse(text: str, top_k: int) -> dict[str, Any]:
    """The intent of one message (the tenant's active model, else the platform default; none
    when neither exists), the runner-up intent, the in-scope score (when the model has a
    scope model) and its ``top_k`` nearest articles. Runs in the tenant's context;
    the forward pass is shared with the messages that arrive at the same time."""
    intent, confidence = "", None
    runner_up, runner_up_confidence, scope_score = "", None, None
    classifier: runtime.Classifier | None
    try:
        classifier, version = classifier_for_app(APP)
    except NoModelAvailable:
        classifier, version = None, None
    # The wait for the shared forward pass holds no database connection: the process's pool
    # (DB_POOL_MAX_SIZE) has fewer connections than the worker has threads, and messages
    # waiting in a batch would keep the others' threads from reaching the batcher at all.
    if getattr(connection, "pool", None) is not None:  # PostgreSQL with pooling (Django 5.1+)
        connection.close()  # back to the pool; the article search below takes one again
    found = analysis_batcher().submit(_forward_key(classifier), (classifier, text),
                                      timeout=settings.ONLINE_TIMEOUT_SECONDS)
    if found.prediction is not None:
        ranked = sorted(found.prediction.probabilities.items(), key=lambda item: -item[1])
        intent, confidence = found.prediction.label, round(ranked[0][1], 6)
        if len(ranked) > 1:
            runner_up, runner_up_confidence = ranked[1][0], round(ranked[1][1], 6)
        if classifier is not None and classifier.scope is not None:
            scope_score = round(float(classifier.scope.scores(found.vector)[0]), 6)
    articles: list[dict[str, Any]] = []
    passages: list[dict[str, Any]] = []
    if top_k > 0:
        query = found.vector.tolist()
        articles = selectors.articles_nearest(vector=query, limit=top_k)
        # The composer's passages: the sentences of these articles and of the predicted
        # intent's linked article, scored against the same vector.
        passages = selectors.sentences_scored(
            vector=query, article_ids=[a["id"] for a in articles], intent=intent)
    ran = (text_classification.version_ran(version) if found.prediction is not None
           else {"model_version": None, "model_version_number": None})
    return {"intent": intent, "confidence": confidence, **ran,
            "runner_up": runner_up, "runner_up_confidence": runner_up_confidence,
            "scope_score": scope_score, "articles": articles, "passages": passages,
            "batch_size": found.batch_size}
