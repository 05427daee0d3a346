"""Proportions and the uplift of a nudge, with intervals that keep their promised coverage.

**The question.** For a rule (or a channel, a timing, a segment), is the attendance of nudged
members higher than that of the holdout, and by how much? The estimate is the difference of two
proportions, ``p_treatment − p_holdout``, where each proportion is attended / decisions.

**Why not the textbook (Wald) interval.** ``d ± z·√(p₁q₁/n₁ + p₂q₂/n₂)`` has poor coverage when
a proportion is near 0 or 1 (a holdout of tenants who attend 2 % of the time), collapses to a
zero-width interval when an arm has no success, and can leave [−1, 1]. Newcombe (1998, *Stat.
Med.* 17:873, method 10) combines one Wilson score interval per arm ("hybrid score"):

    L = d − √((p₁ − l₁)² + (u₂ − p₂)²)      U = d + √((u₁ − p₁)² + (p₂ − l₂)²)

which stays within bounds and keeps close to nominal coverage down to small samples.

**Why an adjustment.** The arms are assigned per *member* (a stable holdout, see
:mod:`hub.nudges.experiment`), and each member contributes many decisions; members differ a lot
(a coworker comes to half the moments, a tenant to almost none), so decisions of the same member
are correlated and a binomial variance understates the uncertainty. Each arm's *design effect*
is estimated from its clusters (the ratio estimator's cluster-robust variance over the binomial
one, floored at 1) and the Wilson intervals use the effective sample size ``n / deff``: the
adjusted Wilson interval of Donner & Klar (*Design and Analysis of Cluster Randomization
Trials*, 2000). With one decision per member it reduces to plain Newcombe.

Validated by simulation in ``tests/hub/insights/test_stats.py`` (coverage and false positives
over thousands of simulated experiments) and against the synthetic population's truth.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist


def z_value(confidence: float) -> float:
    """The two-sided normal quantile for *confidence* (1.96 for 0.95)."""
    if not 0.0 < confidence < 1.0:
        raise ValueError("confidence must be between 0 and 1")
    return NormalDist().inv_cdf((1.0 + confidence) / 2.0)


def wilson(successes: float, trials: float, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of a proportion (trials may be an effective, fractional n)."""
    if trials <= 0:
        return (0.0, 1.0)
    z = z_value(confidence)
    p = successes / trials
    z2n = z * z / trials
    centre = (p + z2n / 2.0) / (1.0 + z2n)
    half = z * math.sqrt(p * (1.0 - p) / trials + z2n / (4.0 * trials)) / (1.0 + z2n)
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass(frozen=True)
class Arm:
    """One arm summed over its members: decisions, attended, members and design effect."""

    trials: int
    successes: int
    members: int
    design_effect: float

    @property
    def proportion(self) -> float:
        """Attended / decisions (0 for an empty arm)."""
        return self.successes / self.trials if self.trials else 0.0

    @property
    def effective_trials(self) -> float:
        """Decisions worth of independent information: ``trials / design_effect``."""
        return self.trials / self.design_effect


def arm(clusters: Sequence[tuple[int, int]]) -> Arm:
    """Sum an arm from ``(decisions, attended)`` per member, with its design effect."""
    trials = sum(n for n, _ in clusters)
    successes = sum(y for _, y in clusters)
    k = len(clusters)
    deff = 1.0
    if trials and k > 1:
        p = successes / trials
        binomial = trials * p * (1.0 - p)
        if binomial > 0:
            # Cluster-robust variance of the ratio estimator over the binomial one, with the
            # usual small-sample factor k/(k-1) when members have several decisions; exactly 1
            # when every member has one decision (there is no cluster variance to estimate).
            residual = sum((y - p * n) ** 2 for n, y in clusters)
            factor = k / (k - 1) if trials > k else 1.0
            deff = max(1.0, factor * residual / binomial)
    return Arm(trials=trials, successes=successes, members=k, design_effect=deff)


@dataclass(frozen=True)
class Uplift:
    """Attendance with the nudge against the holdout, and the interval of the difference."""

    treatment: Arm
    holdout: Arm
    difference: float
    low: float
    high: float
    confidence: float

    @property
    def significant(self) -> bool:
        """Whether the interval excludes zero."""
        return self.low > 0.0 or self.high < 0.0


def uplift(
    treatment: Sequence[tuple[int, int]],
    holdout: Sequence[tuple[int, int]],
    confidence: float = 0.95,
) -> Uplift | None:
    """Newcombe's hybrid score interval of ``p_treatment − p_holdout``, cluster-adjusted.

    Each arm is a list of ``(decisions, attended)`` per member. None when an arm is empty.
    """
    t, h = arm(treatment), arm(holdout)
    if not t.trials or not h.trials:
        return None
    p1, p2 = t.proportion, h.proportion
    l1, u1 = wilson(p1 * t.effective_trials, t.effective_trials, confidence)
    l2, u2 = wilson(p2 * h.effective_trials, h.effective_trials, confidence)
    d = p1 - p2
    low = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return Uplift(t, h, d, max(-1.0, low), min(1.0, high), confidence)
