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

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import case, select
from sqlalchemy.orm import Session

from hub.db.models import InsightNudgeFact
from hub.insights.privacy import Suppressed
from hub.insights.reports.period import Period
from hub.insights.reports.postures import PostureTimeline
from hub.insights.stats import Uplift, uplift

DIMENSIONS = ("rule", "channel", "variant", "timing", "segment", "rank", "month")
ARMS = ("treatment", "holdout")

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
    """The fatigue group of the member's *rank*-th decision of a rule (as the report's query)."""
    return "1-5" if rank <= 5 else "6-20" if rank <= 20 else "21+"


def nudge_cells(session: Session, period: Period, line: PostureTimeline | None) -> Cells:
    """The site's cells for *period*, summed per member from the rollup.

    One covered index range read of the facts, no ``GROUP BY``: the facts are already one row
    per decision with its groups, and a grouping by every dimension at once would hardly
    merge any row (measured: 9,000 groups out of 14,000 facts a year at a site), so sorting
    them in SQL only costs. Each fact counts once in every dimension it has a value for.
    """
    f = InsightNudgeFact
    query = select(
        f.rule,
        f.arm,
        f.member_id,
        f.channel,
        f.variant,
        f.timing,
        case((f.rank <= 5, "1-5"), (f.rank <= 20, "6-20"), else_="21+"),  # rank_bucket
        f.month,
        f.week_start,
        f.attended,
    ).where(
        f.site_id == period.site_id,
        f.day >= period.start,
        f.day < period.end,
        f.arm.in_(ARMS),  # only the experiment's two arms
    )
    cells = _cells()
    # One fetch of the driver's own rows (SQLAlchemy's rows and date parsing cost more than the
    # query), then one column per tuple: every pass below runs in C (zip, Counter, compress)
    # rather than once per fact in Python.
    result = session.connection().execute(query)
    try:
        rows = result.cursor.fetchall()
    finally:
        result.close()
    if not rows:
        return cells
    rules, arms, members, channels, variants, timings, ranks, months, weeks, attended = zip(
        *rows, strict=True
    )

    def tally(dimension: str, values: Sequence[str | None]) -> None:
        # Counter counts in C: one pass per dimension beats one dictionary update per fact
        # and dimension in Python (one per distinct member, value and outcome instead).
        grouped = Counter(zip(rules, values, arms, members, attended, strict=True))
        for (rule, value, arm, member_id, came), n in grouped.items():
            if value:
                counts = cells[(rule, dimension, value)][arm][member_id]
                counts[0] += n
                if came:
                    counts[1] += n

    tally("rule", rules)
    tally("channel", channels)
    tally("variant", variants)
    tally("timing", timings)
    tally("rank", ranks)
    tally("month", months)
    if line is not None:
        pairs = list(zip(members, weeks, strict=True))
        # SQLite's driver gives dates as ISO text: parsed once per distinct week.
        mondays = {w: w if isinstance(w, date) else date.fromisoformat(w) for w in set(weeks)}
        segments: dict[tuple[int, date | str], str | None] = {}
        for member_id, week in set(pairs):
            posture = line.before(member_id, mondays[week])
            segments[(member_id, week)] = posture.value if posture is not None else None
        tally("segment", list(map(segments.__getitem__, pairs)))
    return cells


def uplift_rows(cells: Cells, minimum: int, confidence: float = 0.95) -> list[UpliftRow]:
    """Uplift per cell; a cell whose smaller arm has fewer than *minimum* members is hidden."""
    out = []
    for (rule, dimension, value), arms in sorted(cells.items()):
        # In member order: the sums behind the interval do not depend on how rows came back.
        treated = [(n, y) for _, (n, y) in sorted(arms["treatment"].items())]
        held = [(n, y) for _, (n, y) in sorted(arms["holdout"].items())]
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
