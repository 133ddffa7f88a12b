"""The A/B arithmetic against hand calculations: Wilson 95% intervals, the pooled
two-proportion z-test and its call, and the stable hash that assigns users to arms."""

from __future__ import annotations

import math

import pytest

from apps.recommendation.experiments import stats
from apps.recommendation.experiments.selectors import arm_assign


def test_wilson_interval_matches_a_hand_calculation() -> None:
    # 30 clicked lists of 200, z = 1.96:
    #   p = 0.15, z²/n = 0.019208, denominator = 1.019208
    #   centre = (0.15 + 0.009604) / 1.019208 = 0.156596
    #   half = 1.96 · √(0.15·0.85/200 + 3.8416/160000) / 1.019208
    #        = 1.96 · √(0.0006375 + 0.00002401) / 1.019208 = 0.049460
    #   interval = (0.107136, 0.206056)
    found = stats.wilson(30, 200)
    assert found.rate == pytest.approx(0.15)
    assert found.low == pytest.approx(0.107136, abs=2e-5)
    assert found.high == pytest.approx(0.206056, abs=2e-5)
    # No successes: the interval starts at 0 and is not empty (the Wald one would be [0, 0]).
    none = stats.wilson(0, 50)
    assert none.low == 0.0
    assert none.high == pytest.approx(3.8416 / 50 / (1 + 3.8416 / 50), abs=1e-5)
    assert stats.wilson(0, 0).rate is None


def test_two_proportion_z_test_and_its_call() -> None:
    # A: 100 of 1,000 lists clicked; B: 140 of 1,000. Pooled p = 0.12,
    # se = √(0.12 · 0.88 · 2/1000) = 0.014533, z = 0.04 / 0.014533 = 2.7524,
    # two-sided p = erfc(2.7524/√2) = 0.005915.
    a, b = stats.wilson(100, 1000), stats.wilson(140, 1000)
    found = stats.compare(a, b)
    assert found.difference == pytest.approx(0.04)
    assert found.z == pytest.approx(2.7524, abs=1e-4)
    assert found.p_value == pytest.approx(0.005915, abs=1e-5)
    assert found.call == "b_better"
    assert stats.compare(b, a).call == "a_better"
    # 100 vs 110 of 1,000: z ≈ 0.73, not significant.
    assert stats.compare(a, stats.wilson(110, 1000)).call == "no_difference"
    # Below the minimum sample nothing is called, however large the difference.
    assert stats.compare(stats.wilson(0, 99), stats.wilson(99, 99)).call == "not_enough_data"
    assert stats.compare(stats.wilson(0, 500), stats.wilson(0, 500)).call == "no_difference"
    assert math.isclose(stats.Z_95, 1.959964, rel_tol=1e-6)


def test_assignment_is_stable_and_follows_the_split() -> None:
    users = [f"user-{index}" for index in range(10_000)]
    arms = [arm_assign(tenant_id=1, experiment_id=7, external_id=user, traffic_b=30)
            for user in users]
    assert arms == [arm_assign(tenant_id=1, experiment_id=7, external_id=user, traffic_b=30)
                    for user in users]
    assert arms.count("b") / len(arms) == pytest.approx(0.30, abs=0.02)
    even = [arm_assign(tenant_id=1, experiment_id=7, external_id=user, traffic_b=50)
            for user in users]
    assert even.count("b") / len(even) == pytest.approx(0.50, abs=0.02)
    # Raising B's share only moves users from A to B, never back.
    assert all(wide == "b" for narrow, wide in zip(arms, even, strict=True) if narrow == "b")
    # Another experiment (or tenant) shuffles users afresh.
    other = [arm_assign(tenant_id=1, experiment_id=8, external_id=user, traffic_b=50)
             for user in users]
    agreement = sum(x == y for x, y in zip(even, other, strict=True)) / len(users)
    assert agreement == pytest.approx(0.5, abs=0.03)
