"""The quota refusal, shared by the job pipeline, the real-time endpoints and the API's error
handler (which answers it as a 402 in the one error format). It is a ``ServiceError`` like
every other refusal, so the API layer maps it without importing billing."""

from __future__ import annotations

from decimal import Decimal

from billing.numbers import plain
from config.errors import ServiceError


class QuotaExceeded(ServiceError):
    """Usage of ``meter`` would go past the plan's hard limit for the period. ``details`` are
    the extra keys of the API error body (strings, like DRF's decimals)."""

    default_code = "quota_exceeded"

    def __init__(self, *, meter: str, used: Decimal, limit: Decimal,
                 requested: Decimal | int = 0) -> None:
        self.meter = meter
        self.used = Decimal(used)
        self.limit = Decimal(limit)
        self.requested = Decimal(requested)
        super().__init__(
            f"The plan's limit for {meter.replace('_', ' ')} is reached: {plain(self.used)} "
            f"used of {plain(self.limit)} this period"
            + (f", {plain(self.requested)} more requested" if self.requested else "")
            + ". Upgrade the plan or wait for the next period.",
            details={"meter": meter, "used": plain(self.used), "limit": plain(self.limit),
                     "requested": plain(self.requested)},
        )
