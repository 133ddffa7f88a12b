"""Per-API-key rate limits kept in Redis (a fixed one-minute window per key).

One atomic INCR + EXPIRE per request; 429 with ``Retry-After`` set to the seconds left in the
window. Session (dashboard) requests are not limited here.
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from config.clientaddr import client_address
from config.redis import redis_client

WINDOW_SECONDS = 60


class FixedWindowThrottle(BaseThrottle):
    """A fixed one-minute window per bucket; subclasses name the bucket and its limit."""

    def __init__(self) -> None:
        self._retry_after = 0

    def bucket(self, request: Request, view: Any) -> tuple[str, int] | None:
        """``(bucket name, requests per minute)``, or None for no limit."""
        raise NotImplementedError

    def allow_request(self, request: Request, view: Any) -> bool:
        found = self.bucket(request, view)
        if found is None:
            return True
        name, limit = found
        now = time.time()
        window = int(now // WINDOW_SECONDS)
        redis_key = f"ratelimit:{name}:{window}"
        pipe = redis_client().pipeline()
        pipe.incr(redis_key)
        pipe.expire(redis_key, WINDOW_SECONDS + 5)
        count, _ = pipe.execute()
        if int(count) > limit:
            self._retry_after = max(1, int((window + 1) * WINDOW_SECONDS - now + 0.999))
            return False
        return True

    def wait(self) -> float | None:
        return self._retry_after

    def get_ident(self, request: Request) -> str:
        """The client address (DRF's own believes any ``X-Forwarded-For``)."""
        return client_address(request) or "unknown"


class ApiKeyRateThrottle(FixedWindowThrottle):
    def bucket(self, request: Request, view: Any) -> tuple[str, int] | None:
        key = getattr(request._request, "api_key", None)
        if key is None:
            return None
        return key.prefix, key.rate_limit_per_minute or settings.API_DEFAULT_RATE_LIMIT_PER_MINUTE
