"""The insights against the synthetic population's hidden truth.

* Posture: a small population written into the database (SQLite and PostgreSQL), rolled up,
  classified week by week; compared with each member's true posture wherever it did not change
  during the window. Goal ≥ 90 % correct.
* Uplift: 20 seeds with a true effect (the 95 % interval must cover the true mean uplift in at
  least 18 of them) and 20 seeds without (at most 3 "significant", i.e. near 5 %: P(≥ 4 of 20)
  is 1.6 % at exactly 5 %). These run the generator in memory and the report's own aggregation
  (:func:`hub.insights.reports.nudges.nudge_report`); the thousands-of-experiments coverage
  check is in ``test_stats.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from hub.insights.privacy import Suppressed
from hub.insights.reports.nudges import Decision, cells_of, uplift_rows
from hub.insights.reports.period import Period
from hub.insights.reports.postures import timeline
from hub.insights.rollups import refresh
from hub.insights.settings import InsightsSettings
from hub.insights.stats import Uplift
from hub.insights.synthetic import SyntheticSpec, Truth, generate, simulate

SEEDS = range(20)


def test_posture_classification_matches_the_truth(sessions: sessionmaker[Session]) -> None:
    spec = SyntheticSpec(seed=3, sites=1, members_per_site=80, days=20 * 7)
    settings = InsightsSettings()
    with sessions.begin() as session:
        truth = generate(session, spec)
        refresh(session, datetime(2026, 6, 1, tzinfo=UTC), settings)
    period = Period("ekilibre", spec.start + timedelta(weeks=4), spec.start + timedelta(weeks=20))
    with sessions() as session:
        line, _ = timeline(session, period, settings)
    right = judged = 0
    for member_id, weeks in line.by_member.items():
        for week, classification in weeks.items():
            window = [week - timedelta(days=d) for d in range(-6, settings.posture.period_days - 6)]
            if week < period.start or len({truth.posture(member_id, d) for d in window}) > 1:
                continue
            judged += 1
            right += classification.posture is truth.posture(member_id, week)
    assert judged > 1000
    assert right / judged >= 0.90


def rule_uplift(truth: Truth, rule: str) -> Uplift:
    cells = cells_of(
        Decision(d.member_id, d.rule, d.arm, d.attended, {"rule": d.rule}) for d in truth.decisions
    )
    rows = [r for r in uplift_rows(cells, minimum=5) if r.rule == rule]
    assert len(rows) == 1
    result = rows[0].result
    assert isinstance(result, Uplift)
    return result


def test_uplift_intervals_cover_the_true_uplift() -> None:
    covered = 0
    for seed in SEEDS:
        world = simulate(SyntheticSpec(seed=seed, sites=1, members_per_site=60, days=56))
        result = rule_uplift(world.truth, "moment_soon")
        true = world.truth.uplift("moment_soon")
        assert true > 0.02  # the generator's effect is real
        covered += result.low <= true <= result.high
    assert covered >= 18


def test_without_effect_few_results_are_significant() -> None:
    significant = 0
    for seed in SEEDS:
        spec = SyntheticSpec(seed=100 + seed, sites=1, members_per_site=60, days=56, uplift_scale=0)
        world = simulate(spec)
        assert world.truth.uplift("moment_soon") == 0.0
        significant += rule_uplift(world.truth, "moment_soon").significant
    assert significant <= 3


def test_small_arms_are_suppressed_not_zero() -> None:
    decided = [
        Decision(m, "moment_soon", "treatment", True, {"rule": "moment_soon"}) for m in range(10)
    ]
    decided += [
        Decision(100 + m, "moment_soon", "holdout", False, {"rule": "moment_soon"})
        for m in range(3)
    ]
    rows = uplift_rows(cells_of(decided), minimum=5)
    assert [r.result for r in rows] == [Suppressed(5)]
