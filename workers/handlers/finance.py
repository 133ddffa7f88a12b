"""The finance app's ``score_documents`` job: documents scored in micro-batches.

Each chunk is one transaction: claim the next documents (row locks; unscored ones locked by
another job are skipped), classify them, write their scores, their current labels and the
rollups (``services.document_scores_record``). A retried or resumed job starts over and finds
only what is left. Cancellation is honoured between chunks. At the end the alert rules of the
tickers it touched are evaluated, and if unscored documents arrived meanwhile another job is
scheduled (debounced).
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.finance_sentiment import selectors, services
from apps.finance_sentiment.spec import LABELS
from jobs.models import Job, JobEvent
from workers.execution import JobContext, Outcome
from workers.handlers import text_classification

logger = logging.getLogger(__name__)

CHUNK_SIZE = 256


def _classifier(job: Job) -> tuple[Any, Any]:
    """The version and classifier the job runs: as every batch job
    (``text_classification.classifier_for_job``: the job's version, else the active one,
    else the platform default)."""
    classifier, version = text_classification.classifier_for_job(job)
    return version, classifier


def score_documents(job: Job, context: JobContext) -> Outcome:
    selection = job.params.get("selection", "unscored")
    version, classifier = _classifier(job)
    unknown = set(classifier.labels) - set(LABELS)
    if unknown:
        raise ValueError(f"The model's labels {sorted(unknown)} are not sentiment labels "
                         f"({', '.join(LABELS)}).")
    if selection == "dataset":
        stored = services.documents_from_dataset(job=job)
        context.event(JobEvent.Kind.PROGRESS, f"{stored.created} dataset rows stored as documents",
                      created=stored.created, duplicates=stored.duplicates)
    total = selectors.scoring_candidates_count(job=job)
    context.progress(0, items_total=total, force=True)
    batch_size = int(job.params.get("batch_size", 64))
    done, after_id = 0, 0
    labels: Counter[str] = Counter()
    tickers: set[str] = set()
    while True:
        context.check_cancelled()
        with transaction.atomic():
            batch = services.scoring_batch_claim(job=job, after_id=after_id, limit=CHUNK_SIZE)
            if not batch:
                break
            texts = [text for _, text in batch]
            scores = [
                services.ScoreInput(document_id=batch[prediction.index][0],
                                    label=prediction.label,
                                    probabilities=prediction.probabilities)
                for chunk in classifier.classify(texts, batch_size=batch_size,
                                                 chunk_size=len(texts))
                for prediction in chunk
            ]
            tickers |= services.document_scores_record(job=job, model_version=version,
                                                       scores=scores)
        after_id = batch[-1][0]
        done += len(batch)
        labels.update(score.label for score in scores)
        # Documents that arrived after the count make the total grow rather than overflow.
        total = max(total, done)
        context.progress(done, items_total=total)
    context.progress(done, items_total=max(total, done), force=True)
    alerts, follow_up = _after_scoring(job, context, tickers, selection)
    return Outcome(metrics={
        "items": done, "selection": selection, "label_counts": dict(labels),
        **text_classification.version_ran(version),
        "model": f"v{version.version}" if version is not None else "platform default",
        "tickers": len(tickers), "alerts_raised": len(alerts),
        "follow_up_job": follow_up.pk if follow_up is not None else None,
    }, items=done)


def _after_scoring(job: Job, context: JobContext, tickers: set[str],
                   selection: str) -> tuple[list[Any], Job | None]:
    """Alert rules for the touched tickers, then a follow-up job if documents arrived meanwhile.
    The scores are committed by now: a failure here is reported, not turned into a failed job
    (the beat re-evaluates the rules every 5 minutes; the next ingest schedules scoring)."""
    alerts: list[Any] = []
    follow_up = None
    try:
        if tickers:
            alerts = services.alert_rules_evaluate(tickers=tickers, now=timezone.now())
        if alerts:
            context.event(JobEvent.Kind.STATUS, f"{len(alerts)} alert(s) raised",
                          alerts=[alert.pk for alert in alerts])
    except Exception as error:
        logger.exception("alert evaluation after job %s failed", job.pk)
        context.event(JobEvent.Kind.WARNING, f"Alert rules could not be evaluated: {error}")
    if selection == "unscored":
        try:
            follow_up = services.scoring_schedule()
        except Exception as error:
            logger.exception("could not schedule follow-up scoring after job %s", job.pk)
            context.event(JobEvent.Kind.WARNING, f"No follow-up scoring job: {error}")
    return alerts, follow_up
