"""Write-back of 100,000 result rows: the COPY helper against Django's per-row ``save()`` and
``bulk_create`` on the same table and rows, in one run.

    PYTHONPATH=platform:. python bench/writeback.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from django_setup import bench_tenant, setup  # noqa: E402

ROWS = 100_000


def main() -> None:
    setup()
    from django.db import transaction

    from bench.common import record
    from jobs.models import Job, Prediction
    from jobs.writeback import bulk_insert_ignore
    from tenancy.context import tenant_context

    tenant = bench_tenant()
    with tenant_context(tenant.pk):
        Prediction.objects.all().delete()
        jobs = [Job.objects.create(app="finance_sentiment", kind="batch_inference")
                for _ in range(3)]
        probabilities = {"negative": 0.1, "neutral": 0.2, "positive": 0.7}

        def rows(job: Job) -> list[tuple]:
            return [(job.pk, item, "positive", 0.7, probabilities) for item in range(1, ROWS + 1)]

        started = time.perf_counter()
        # The kindest case for save(): one transaction, and an INSERT straight away (a model
        # whose primary key is set, as a prediction's (tenant, job, item) is, would otherwise
        # try an UPDATE first).
        with transaction.atomic():
            for job_id, item, label, confidence, probs in rows(jobs[0]):
                Prediction(job_id=job_id, item=item, label=label, confidence=confidence,
                           probabilities=probs).save(force_insert=True)
        save_rate = ROWS / (time.perf_counter() - started)

        started = time.perf_counter()
        Prediction.objects.bulk_create(
            [Prediction(tenant_id=tenant.pk, job_id=job_id, item=item, label=label,
                        confidence=confidence, probabilities=probs)
             for job_id, item, label, confidence, probs in rows(jobs[1])],
            batch_size=2_000, ignore_conflicts=True,
        )
        bulk_rate = ROWS / (time.perf_counter() - started)

        started = time.perf_counter()
        written = bulk_insert_ignore(Prediction, ("job_id", "item", "label", "confidence",
                                                  "probabilities"), rows(jobs[2]))
        helper_rate = ROWS / (time.perf_counter() - started)
        assert written == ROWS
        Prediction.objects.all().delete()
        Job.objects.filter(pk__in=[job.pk for job in jobs]).delete()

    print(f"per-row save: {save_rate:,.0f} rows/s; bulk_create: {bulk_rate:,.0f} rows/s; "
          f"COPY helper: {helper_rate:,.0f} rows/s")
    record("writeback.rows_per_s", helper_rate, "rows/s", baseline=save_rate)
    record("writeback.speedup_vs_save", helper_rate / save_rate, "x", baseline=save_rate,
           ratio=helper_rate / save_rate)
    record("writeback.speedup_vs_bulk_create", helper_rate / bulk_rate, "x", baseline=bulk_rate,
           ratio=helper_rate / bulk_rate)


if __name__ == "__main__":
    main()
