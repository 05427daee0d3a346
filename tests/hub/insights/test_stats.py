"""Uplift intervals: known values, and coverage measured over thousands of simulated experiments.

The simulations are seeded, so the figures are fixed; the tolerances say how far from nominal a
correct method may land by chance. With 2,000 experiments the standard error of a coverage of
95 % is 0.49 points: the band [93 %, 97 %] is four standard errors wide each side.
"""

from __future__ import annotations

import random

import pytest

from hub.insights.stats import arm, uplift, wilson

EXPERIMENTS = 2000


def test_wilson_and_newcombe_match_the_published_example() -> None:
    # Newcombe (1998), example (a): 56/70 against 48/80, method 10 gives 0.0524 to 0.3339.
    low, high = wilson(56, 70)
    assert (round(low, 4), round(high, 4)) == (0.6918, 0.877)
    result = uplift([(1, 1)] * 56 + [(1, 0)] * 14, [(1, 1)] * 48 + [(1, 0)] * 32)
    assert result is not None
    assert result.treatment.design_effect == pytest.approx(1.0)
    assert (round(result.low, 4), round(result.high, 4)) == (0.0524, 0.3339)
    assert result.significant


def test_an_arm_without_success_still_gets_a_proper_interval() -> None:
    result = uplift([(10, 2)] * 20, [(10, 0)] * 20)
    assert result is not None
    assert result.difference == pytest.approx(0.2)
    assert 0.0 < result.low < result.difference < result.high <= 1.0


def test_correlated_decisions_of_one_member_widen_the_interval() -> None:
    clustered = arm([(20, 20)] * 5 + [(20, 0)] * 5)
    independent = arm([(20, 10)] * 10)
    assert clustered.design_effect > 10
    assert independent.design_effect == 1.0


def simulate(rng: random.Random, members: int, effect: float) -> tuple[bool, bool]:
    """One stable-holdout experiment with heterogeneous members; (covered, significant)."""
    treated: list[tuple[int, int]] = []
    held: list[tuple[int, int]] = []
    truth: list[tuple[int, float]] = []
    for _ in range(members):
        base = rng.choice((0.02, 0.1, 0.4))  # tenants, occasional, coworkers
        lift = effect * rng.uniform(0.0, 2.0)
        decisions = rng.randint(3, 15)
        in_holdout = rng.random() < 0.3
        p1 = base + (1 - base) * lift
        truth.append((decisions, (p1 - base) * decisions))
        p = base if in_holdout else p1
        came = sum(rng.random() < p for _ in range(decisions))
        (held if in_holdout else treated).append((decisions, came))
    result = uplift(treated, held)
    assert result is not None
    true_uplift = sum(t for _, t in truth) / sum(n for n, _ in truth)
    return result.low <= true_uplift <= result.high, result.significant


@pytest.mark.parametrize("effect", [0.05, 0.15])
def test_the_95_percent_interval_covers_the_truth_95_percent_of_the_time(effect: float) -> None:
    rng = random.Random(20261126)
    covered = sum(simulate(rng, 60, effect)[0] for _ in range(EXPERIMENTS))
    assert 0.93 <= covered / EXPERIMENTS <= 0.97


def test_without_an_effect_about_5_percent_are_called_significant() -> None:
    rng = random.Random(7)
    significant = sum(simulate(rng, 60, 0.0)[1] for _ in range(EXPERIMENTS))
    assert 0.03 <= significant / EXPERIMENTS <= 0.07
