"""Real-time inference from the web tier: a task on the ``online`` queue, answered by the
same workers that run jobs, with a short timeout and a clear error when none answers."""

from __future__ import annotations

from typing import Any

from celery.exceptions import TimeoutError as CeleryTimeout
from django.conf import settings

from billing.metering import metered
from billing.models import Meter
from config.celery import task_send
from tenancy.context import require_tenant_id


class OnlineUnavailable(Exception):
    """No worker answered in time (503 for the caller)."""


class OnlineFailed(Exception):
    """A worker answered with an error (e.g. no model is available)."""


def online_call(task: str, *args: Any, timeout: float | None = None) -> Any:
    timeout = settings.ONLINE_TIMEOUT_SECONDS if timeout is None else timeout
    result = task_send(task, require_tenant_id(), *args, queue="online", expires=timeout)
    try:
        return result.get(timeout=timeout, propagate=True)
    except CeleryTimeout as error:
        result.revoke()
        raise OnlineUnavailable(
            f"No inference worker answered within {timeout:g} s; try again shortly."
        ) from error
    except Exception as error:  # the worker's exception, re-raised by Celery
        raise OnlineFailed(str(error)) from error
    finally:
        result.forget()


def online_classify(*, app: str, texts: list[str], timeout: float | None = None
                    ) -> list[dict[str, Any]]:
    """Classify now; each text counts one ``items_inferred`` (refused with ``QuotaExceeded``
    over the plan's limit, given back when no worker answers or the worker fails)."""
    with metered(meter=Meter.ITEMS_INFERRED, quantity=len(texts)):
        return list(online_call("online.classify", app, texts, timeout=timeout))
