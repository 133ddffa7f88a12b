from celery import shared_task

from jobs.services import job_sweep


@shared_task(name="jobs.sweep", ignore_result=True)
def sweep() -> dict[str, int]:
    return job_sweep()
