"""The arithmetic of an A/B test, free of Django: per-arm proportions with Wilson score
intervals, the difference between the arms with a two-proportion z-test, and the call in plain
words.

Wilson rather than the normal ("Wald") interval: at the small rates of recommendation clicks
(a few percent) and small samples the Wald interval can dip below zero and covers the true
rate far less often than its nominal 95%; Wilson's stays inside [0, 1] and keeps its coverage
(Brown, Cai and DasGupta 2001). The call waits for ``MIN_LISTS`` lists per arm: a z-test on a
handful of lists would declare winners by chance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Z_95 = 1.959963984540054  # the standard normal's 97.5th percentile
CONFIDENCE = 0.95
MIN_LISTS = 100  # per arm, before any call is made


@dataclass(frozen=True)
class Proportion:
    successes: int
    trials: int
    low: float
    high: float

    @property
    def rate(self) -> float | None:
        return self.successes / self.trials if self.trials else None


def wilson(successes: int, trials: int, z: float = Z_95) -> Proportion:
    """The proportion with its Wilson score interval (``[0, 1]`` when there are no trials)."""
    if trials <= 0:
        return Proportion(successes=0, trials=0, low=0.0, high=1.0)
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    # At 0 (or all) successes the bound is exactly 0 (or 1); the subtraction leaves ~1e-17.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return Proportion(successes=successes, trials=trials, low=low, high=high)


@dataclass(frozen=True)
class Comparison:
    difference: float | None  # B's rate minus A's
    z: float | None
    p_value: float | None
    call: str  # "b_better", "a_better", "no_difference", "not_enough_data"


def compare(a: Proportion, b: Proportion, *, min_trials: int = MIN_LISTS,
            confidence: float = CONFIDENCE) -> Comparison:
    """B against A by a two-sided two-proportion z-test with the pooled proportion."""
    if a.trials < min_trials or b.trials < min_trials:
        return Comparison(difference=None, z=None, p_value=None, call="not_enough_data")
    rate_a, rate_b = a.successes / a.trials, b.successes / b.trials
    pooled = (a.successes + b.successes) / (a.trials + b.trials)
    standard_error = math.sqrt(pooled * (1 - pooled) * (1 / a.trials + 1 / b.trials))
    if standard_error == 0:  # nobody clicked in either arm (or everybody did)
        return Comparison(difference=rate_b - rate_a, z=0.0, p_value=1.0, call="no_difference")
    z = (rate_b - rate_a) / standard_error
    p_value = math.erfc(abs(z) / math.sqrt(2))
    if p_value >= 1 - confidence:
        call = "no_difference"
    else:
        call = "b_better" if z > 0 else "a_better"
    return Comparison(difference=rate_b - rate_a, z=z, p_value=p_value, call=call)
