"""Nudges: attendance with the nudge against the holdout, per rule, channel, timing and segment,
with the uplift's 95 % interval (:mod:`hub.insights.stats`), and its fatigue over time.

Only resolved decisions about a moment that took place count: ``sent`` in the treatment arm
against ``holdout``; skips and dry runs are not part of the experiment. Dimensions:

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
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.db.models import Moment, NudgeRecord, Site
from hub.insights.privacy import Suppressed
from hub.insights.reports.period import Period
from hub.insights.reports.postures import PostureTimeline
from hub.insights.stats import Uplift, uplift

DIMENSIONS = ("rule", "channel", "variant", "timing", "segment", "rank", "month")


@dataclass(frozen=True)
class UpliftRow:
    """One group of one rule: the experiment's figures, or a suppression marker."""

    rule: str
    dimension: str  # "rule" for the rule as a whole
    value: str
    result: Uplift | Suppressed | None  # None: an arm has no decision


@dataclass(frozen=True)
class Decision:
    """A resolved decision of the experiment, as the report reads it."""

    member_id: int
    rule: str
    arm: str
    attended: bool
    keys: dict[str, str]


def decisions(session: Session, period: Period, line: PostureTimeline | None) -> list[Decision]:
    """The site's resolved experiment decisions in *period*, with their dimension values."""
    zone = ZoneInfo(session.get(Site, period.site_id).timezone)  # type: ignore[union-attr]
    n = NudgeRecord
    rows = session.execute(
        select(
            n.member_id,
            n.rule,
            n.channel,
            n.variant_id,
            n.arm,
            n.outcome,
            n.triggered_at,
            n.not_before,
            Moment.starts_at,
        )
        .join(Moment, Moment.id == n.moment_id)
        .where(
            n.site_id == period.site_id,
            n.member_id.is_not(None),
            n.outcome.in_(("attended", "not_attended")),
            n.decision.in_(("sent", "holdout")),
            Moment.cancelled_at.is_(None),
        )
        .order_by(n.member_id, n.rule, n.triggered_at)
    )
    out = []
    rank: dict[tuple[int, str], int] = defaultdict(int)
    for member, rule, channel, variant, arm, outcome, triggered, not_before, starts in rows:
        member_id, arm = int(member or 0), str(arm)
        rank[(member_id, rule)] += 1
        local = triggered.astimezone(zone).date()
        if not period.start <= local < period.end:
            continue
        lead = (starts - (not_before or triggered)).total_seconds() / 60
        k = rank[(member_id, rule)]
        segment = line.before(member_id, local) if line is not None else None
        out.append(
            Decision(
                member_id,
                rule,
                arm,
                outcome == "attended",
                {
                    "rule": rule,
                    "channel": channel or "",
                    "variant": variant or "",
                    "timing": "0-15" if lead < 15 else "15-45" if lead < 45 else "45+",
                    "segment": segment.value if segment is not None else "",
                    "rank": "1-5" if k <= 5 else "6-20" if k <= 20 else "21+",
                    "month": f"{local:%Y-%m}",
                },
            )
        )
    return out


def nudge_report(
    decided: list[Decision], minimum: int, confidence: float = 0.95
) -> list[UpliftRow]:
    """Uplift per rule and per value of each dimension within the rule."""
    cells: dict[tuple[str, str, str], dict[str, dict[int, list[int]]]] = defaultdict(
        lambda: {"treatment": defaultdict(lambda: [0, 0]), "holdout": defaultdict(lambda: [0, 0])}
    )
    for d in decided:
        if d.arm not in ("treatment", "holdout"):
            continue
        for dimension in DIMENSIONS:
            value = d.keys[dimension]
            if dimension != "rule" and not value:
                continue
            counts = cells[(d.rule, dimension, value)][d.arm][d.member_id]
            counts[0] += 1
            counts[1] += int(d.attended)
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
