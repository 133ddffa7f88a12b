"""Liveness and readiness probes (no authentication, no tenant).

``/readyz`` is the web tier's readiness: its status (200 or 503) depends on the database and
Redis alone, so that cold or absent workers never take web pods out of service. Beside the
checks it reports whether the online workers are warm (``config.warmth``), for people, scripts
and ``make run`` to wait on: ``{"workers": {"online": "warm" | "cold"}}`` (``"unknown"``
when Redis cannot say).
"""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache

from config.redis import redis_client
from config.warmth import queue_warmth

# The queues whose workers load models as they start.
WARMED_QUEUES = ("online",)


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as error:  # any failure means not ready; the reason goes to the probe
        checks["database"] = f"error: {type(error).__name__}"
    try:
        redis_client().ping()
        checks["redis"] = "ok"
    except Exception as error:
        checks["redis"] = f"error: {type(error).__name__}"
    workers = {queue: queue_warmth(queue) if checks["redis"] == "ok" else "unknown"
               for queue in WARMED_QUEUES}
    ready = all(value == "ok" for value in checks.values())
    return JsonResponse({"status": "ok" if ready else "unavailable", "checks": checks,
                         "workers": workers}, status=200 if ready else 503)
