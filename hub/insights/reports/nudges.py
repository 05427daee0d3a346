"""Nudges: attendance with the nudge against the holdout, per rule, channel, timing and segment,
with the uplift's 95 % interval (:mod:`hub.insights.stats`), and its fatigue over time.

Only resolved decisions about a moment that took place count: ``sent`` in the treatment arm
against ``holdout``; skips and dry runs are not part of the experiment. The rollup keeps them in
``insight_nudge_facts`` with their groups, and this report aggregates them in SQL per member
(the unit of randomisation, which the interval needs). Dimensions:

* **rule**, **channel**, **variant** as logged;
* **timing** — minutes from delivery (``not_before``; the trigger when unset) to the start:
  ``0-15``, ``15-45``, ``45+``; computed the same way for the holdout, which had the same trigger;
* **segment** — the member's posture over the period ending the week before the decision;
* **fatigue** — the rank of the decision among the member's decisions of that rule
  (``1-5``, ``6-20``, ``21+``) and the month: does the effect fade?

A group is shown only when each arm has at least ``min_cell_members`` members.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from hub.db.models import InsightNudgeFact
from hub.insights.privacy import Suppressed
from hub.insights.reports.period import Period
from hub.insights.reports.postures import PostureTimeline
from hub.insights.stats import Uplift, uplift

DIMENSIONS = ("rule", "channel", "variant", "timing", "segment", "rank", "month")

Cells = dict[tuple[str, str, str], dict[str, dict[int, list[int]]]]
"""(rule, dimension, value) -> arm -> member -> [decisions, attended]."""


@dataclass(frozen=True)
class UpliftRow:
    """One group of one rule: the experiment's figures, or a suppression marker."""

    rule: str
    dimension: str  # "rule" for the rule as a whole
    value: str
    result: Uplift | Suppressed | None  # None: an arm has no decision


@dataclass(frozen=True)
class Decision:
    """One resolved decision with its group values (for callers that hold decisions in hand)."""

    member_id: int
    rule: str
    arm: str
    attended: bool
    keys: dict[str, str]


def _cells() -> Cells:
    return defaultdict(
        lambda: {"treatment": defaultdict(lambda: [0, 0]), "holdout": defaultdict(lambda: [0, 0])}
    )


def cells_of(decided: Iterable[Decision]) -> Cells:
    """Group decisions into cells (every dimension present in their keys)."""
    cells = _cells()
    for d in decided:
        if d.arm not in ("treatment", "holdout"):
            continue
        for dimension, value in d.keys.items():
            if dimension != "rule" and not value:
                continue
            counts = cells[(d.rule, dimension, value)][d.arm][d.member_id]
            counts[0] += 1
            counts[1] += int(d.attended)
    return cells


def rank_bucket(rank: int) -> str:
    """The fatigue group of the member's *rank*-th decision of a rule."""
    return "1-5" if rank <= 5 else "6-20" if rank <= 20 else "21+"


def nudge_cells(session: Session, period: Period, line: PostureTimeline | None) -> Cells:
    """The site's cells for *period*, summed per member in SQL from the rollup."""
    f = InsightNudgeFact
    attended = func.sum(case((f.attended, 1), else_=0))
    scope = (f.site_id == period.site_id, f.day >= period.start, f.day < period.end)
    rank = case((f.rank <= 5, "1-5"), (f.rank <= 20, "6-20"), else_="21+")
    cells = _cells()
    # One grouped query; each row then counts in every dimension it has a value for.
    for (
        rule,
        arm,
        member_id,
        channel,
        variant,
        timing,
        ranked,
        month,
        count,
        came,
    ) in session.execute(
        select(
            f.rule,
            f.arm,
            f.member_id,
            f.channel,
            f.variant,
            f.timing,
            rank,
            f.month,
            func.count(),
            attended,
        )
        .where(*scope)
        .group_by(f.rule, f.arm, f.member_id, f.channel, f.variant, f.timing, rank, f.month)
    ):
        if arm not in ("treatment", "holdout"):
            continue
        n, y = int(count), int(came or 0)
        for dimension, value in (
            ("rule", rule),
            ("channel", channel),
            ("variant", variant),
            ("timing", timing),
            ("rank", ranked),
            ("month", month),
        ):
            if value:
                counts = cells[(rule, dimension, value)][arm][member_id]
                counts[0] += n
                counts[1] += y
    if line is not None:
        for rule, week, arm, member_id, count, came in session.execute(
            select(f.rule, f.week_start, f.arm, f.member_id, func.count(), attended)
            .where(*scope)
            .group_by(f.rule, f.week_start, f.arm, f.member_id)
        ):
            segment = line.before(member_id, week)
            if segment is None or arm not in ("treatment", "holdout"):
                continue
            counts = cells[(rule, "segment", segment.value)][arm][member_id]
            counts[0] += int(count)
            counts[1] += int(came or 0)
    return cells


def uplift_rows(cells: Cells, minimum: int, confidence: float = 0.95) -> list[UpliftRow]:
    """Uplift per cell; a cell whose smaller arm has fewer than *minimum* members is hidden."""
    out = []
    for (rule, dimension, value), arms in sorted(cells.items()):
        treated = [(n, y) for n, y in arms["treatment"].values()]
        held = [(n, y) for n, y in arms["holdout"].values()]
        result: Uplift | Suppressed | None
        if min(len(treated), len(held)) < minimum:
            result = Suppressed(minimum) if treated and held else None
        else:
            result = uplift(treated, held, confidence)
        out.append(UpliftRow(rule, dimension, value, result))
    return out


def nudge_report(
    session: Session,
    period: Period,
    line: PostureTimeline | None,
    minimum: int,
    confidence: float = 0.95,
) -> list[UpliftRow]:
    """Uplift per rule and per value of each dimension within the rule."""
    return uplift_rows(nudge_cells(session, period, line), minimum, confidence)
