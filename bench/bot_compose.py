"""Customer-service bot: composed, grounded answers (``apps.support_bot.compose``) on BANKING77.

The demo's knowledge base (one article per intent, each linked to its intent,
``apps/support_bot/demo``) with templates switched off, and the platform default intent model
shipped in ``models/shipped/support_bot`` (the one the demo answers with): every question is
answered the way ``message_answer`` does without templates. A confident intent (≥ the default
intent threshold, 0.6) composes from its linked article first and the three nearest articles;
otherwise the nearest articles compose when the best passes the default article threshold
(0.55), and the bot hands off (counted as unsupported) when it does not. The articles'
sentences are embedded once, as the ``embed_articles`` job does, and the 1,000 fixed-seed test
questions in one batch (the online analysis computes that vector anyway)::

    python bench/bot_compose.py [--questions 1000] [--seed 7]

- ``bot.grounded_answer_support_rate``: the composed answer cites, and quotes a sentence of,
  the article of the question's true intent (bar ≥ 0.85). Baseline in the same run: the
  single nearest article (retrieval alone) being the true one.
- ``bot.compose_ms_p95`` (bar ≤ 5 ms): what composing adds per message: scoring the candidate
  articles' stored sentence vectors against the question (in production pgvector does these
  dot products inside the one sentence query, ``selectors.sentences_scored``) and
  ``compose``. Baseline in the same run: embedding the candidates' sentences per message (the
  design this replaced), on a subsample. The database round trip of the sentence query is not
  in this figure (one indexed query, about the cost of the article search).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
# One thread, as the online worker runs a message: on a shared machine torch's default thread
# pool makes the per-message baseline's small forward passes erratic.
os.environ.setdefault("AIPLATFORM_TORCH_THREADS", "1")
sys.path[:0] = [str(HERE), str(HERE.parent / "platform"), str(HERE.parent)]

from common import read_csv, record  # noqa: E402

from apps.support_bot.compose import Passage, compose  # noqa: E402
from apps.support_bot.text import sentences_split  # noqa: E402
from workers.runtime import embed, load_classifier  # noqa: E402

ANSWERS = HERE.parent / "apps" / "support_bot" / "demo" / "banking77_answers.json"
TOP_ARTICLES = 3  # as the chat service asks the worker
ARTICLE_THRESHOLD = 0.55  # BotSettings.article_threshold's default
INTENT_THRESHOLD = 0.6  # BotSettings.intent_threshold's default
SHIPPED_MODEL = HERE.parent / "models" / "shipped" / "support_bot"


def _unit(texts: list[str]) -> np.ndarray:
    vectors = np.concatenate([block for _, block in embed(texts, chunk_size=4096)])
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--questions", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--baseline-sample", type=int, default=60)
    args = parser.parse_args()

    answers: dict[str, str] = json.loads(ANSWERS.read_text(encoding="utf-8"))
    names = list(answers)
    # The article's question is the intent's first training utterance, as the demo seeds it.
    first: dict[str, str] = {}
    for row in read_csv("banking77/train.csv"):
        first.setdefault(row["category"], " ".join(row["text"].split()))
    article_vectors = _unit([f"{first[name]}\n{answers[name]}" for name in names])
    sentences = {index: sentences_split(answers[name]) for index, name in enumerate(names)}
    flat = [(index, position, text) for index, texts in sentences.items()
            for position, text in enumerate(texts)]
    sentence_vectors = _unit([text for _, _, text in flat])
    owner = np.array([index for index, _, _ in flat])

    test = [row for row in read_csv("banking77/test.csv") if row["category"] in answers]
    rows = random.Random(args.seed).sample(test, min(args.questions, len(test)))
    questions = _unit([row["text"] for row in rows])
    truth = [names.index(row["category"]) for row in rows]
    classifier = load_classifier(SHIPPED_MODEL)
    probabilities = classifier.probabilities([row["text"] for row in rows])
    labels = sorted(names)  # the artefact's label order
    predicted = [names.index(labels[i]) for i in probabilities.argmax(1)]
    confidence = probabilities.max(1)

    supported = top1 = handed_off = 0
    timings: list[float] = []
    candidates_of: list[tuple[list[tuple[int, float]], int | None, list[int]]] = []
    for question, true_index, intent, score in zip(questions, truth, predicted, confidence,
                                                   strict=True):
        similarities = article_vectors @ question
        nearest = np.argsort(-similarities)[:TOP_ARTICLES].tolist()
        retrieved = [(index, float(similarities[index])) for index in nearest]
        top1 += int(nearest[0] == true_index)
        primary = intent if score >= INTENT_THRESHOLD else None
        if primary is None and retrieved[0][1] < ARTICLE_THRESHOLD:
            handed_off += 1
            continue
        wanted = sorted(set(nearest) | ({primary} if primary is not None else set()))
        candidates_of.append((retrieved, primary, wanted))
        started = time.perf_counter()
        rows_of = np.flatnonzero(np.isin(owner, wanted))
        scores = sentence_vectors[rows_of] @ question
        passages = [Passage(*flat[k], float(value)) for k, value in zip(rows_of.tolist(),
                                                                          scores.tolist(),
                                                                          strict=True)]
        quoted = compose(articles=retrieved, passages=passages, primary=primary)
        timings.append((time.perf_counter() - started) * 1000)
        supported += int(any(q.article_id == true_index and q.text in sentences[true_index]
                             for q in quoted))

    # Baseline: the same composition, embedding the candidates' sentences per message.
    baseline_timings: list[float] = []
    for question, (retrieved, primary, wanted) in zip(questions[:args.baseline_sample],
                                                       candidates_of[:args.baseline_sample],
                                                       strict=False):
        started = time.perf_counter()
        texts = [item for item in flat if item[0] in wanted]
        vectors = _unit([text for _, _, text in texts])
        compose(articles=retrieved, primary=primary, passages=[
            Passage(*item, float(vector @ question))
            for item, vector in zip(texts, vectors, strict=True)])
        baseline_timings.append((time.perf_counter() - started) * 1000)

    total = len(rows)
    rate = supported / total
    print(f"{total} questions, {len(flat)} sentences in {len(names)} articles; intent "
          f"accuracy {np.mean(np.array(predicted) == np.array(truth)):.3f}; nearest article "
          f"is the true one for {top1 / total:.3f}; handed off {handed_off}", flush=True)
    record("bot.grounded_answer_support_rate", rate, "share", baseline=top1 / total,
           ratio=rate / (top1 / total))
    p95 = _percentile(timings, 0.95)
    baseline_p95 = _percentile(baseline_timings, 0.95)
    record("bot.compose_ms_p95", p95, "ms", baseline=baseline_p95, ratio=p95 / baseline_p95)
    record("bot.compose_ms_p50", _percentile(timings, 0.5), "ms")
    record("bot.compose_handed_off_share", handed_off / total, "share")


if __name__ == "__main__":
    main()
