"""Throttles for sign-in and password-reset emails, kept in Redis.

- **Sign-in**: failures are counted per account (the email tried) and per client address,
  each in a sliding window of ``SIGN_IN_WINDOW_SECONDS``. Past ``SIGN_IN_MAX_FAILURES_PER_ACCOUNT``
  the account is locked for what is left of the window, whatever the password, with a message
  that says so and points to the password reset (which unlocks it); past
  ``SIGN_IN_MAX_FAILURES_PER_ADDRESS`` the address is refused the same way (one address
  trying many accounts). A successful sign-in clears the account's count.
- **Password reset**: at most ``PASSWORD_RESET_MAX_PER_EMAIL`` emails per address of mail
  per window and ``PASSWORD_RESET_MAX_PER_ADDRESS`` requests per client; past either, the
  page answers as usual (it never says whether an account exists) but no email is sent.

Every lock and every reset request is audited (``audit.AuditEvent``).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from django.conf import settings

from config.redis import redis_client

SIGN_IN_WINDOW_SECONDS = 15 * 60
RESET_WINDOW_SECONDS = 60 * 60


@dataclass(frozen=True)
class Lock:
    scope: str  # "account" or "address"
    retry_after_seconds: int

    @property
    def minutes(self) -> int:
        return max(1, -(-self.retry_after_seconds // 60))


def _digest(value: str) -> str:
    return hashlib.sha256(value.strip().lower().encode()).hexdigest()[:32]


def _keys(kind: str, email: str, address: str) -> dict[str, str]:
    return {"account": f"throttle:{kind}:account:{_digest(email)}",
            "address": f"throttle:{kind}:address:{address or 'unknown'}"}


def _count(key: str, window: int, now: float) -> tuple[int, float]:
    """Entries in the window, and the oldest one's time (sorted set of timestamps)."""
    client = redis_client()
    client.zremrangebyscore(key, 0, now - window)
    count = client.zcard(key)
    oldest = client.zrange(key, 0, 0, withscores=True)
    return int(count), (float(oldest[0][1]) if oldest else now)


def _add(key: str, window: int, now: float) -> None:
    pipe = redis_client().pipeline()
    pipe.zadd(key, {f"{now:.6f}": now})
    pipe.zremrangebyscore(key, 0, now - window)
    pipe.expire(key, window + 5)
    pipe.execute()


def sign_in_lock(*, email: str, address: str) -> Lock | None:
    """The lock that refuses this sign-in before the password is even checked, if any."""
    now = time.time()
    limits = {"account": settings.SIGN_IN_MAX_FAILURES_PER_ACCOUNT,
              "address": settings.SIGN_IN_MAX_FAILURES_PER_ADDRESS}
    for scope, key in _keys("signin", email, address).items():
        count, oldest = _count(key, SIGN_IN_WINDOW_SECONDS, now)
        if count >= limits[scope]:
            return Lock(scope=scope,
                        retry_after_seconds=int(oldest + SIGN_IN_WINDOW_SECONDS - now) + 1)
    return None


def sign_in_failed(*, email: str, address: str) -> None:
    now = time.time()
    for key in _keys("signin", email, address).values():
        _add(key, SIGN_IN_WINDOW_SECONDS, now)


def sign_in_clear(*, email: str) -> None:
    """A successful sign-in or a password reset unlocks the account."""
    redis_client().delete(_keys("signin", email, "")["account"])


def password_reset_allowed(*, email: str, address: str) -> bool:
    """Count this request; False when it is over either limit (then no email is sent)."""
    now = time.time()
    limits = {"account": settings.PASSWORD_RESET_MAX_PER_EMAIL,
              "address": settings.PASSWORD_RESET_MAX_PER_ADDRESS}
    keys = _keys("reset", email, address)
    allowed = all(_count(key, RESET_WINDOW_SECONDS, now)[0] < limits[scope]
                  for scope, key in keys.items())
    for key in keys.values():
        _add(key, RESET_WINDOW_SECONDS, now)
    return allowed
