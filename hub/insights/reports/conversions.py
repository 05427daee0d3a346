"""Tenants who became coworkers, and what came before: "how many, and after what?".

A conversion is a member classified *tenant* over one period and *coworker* over the next
(consecutive, non-overlapping periods, as in the transitions). For each, the report looks at the
later period: the kind of the first moment they came to, and whether they had been sent a nudge
(treatment arm) before that moment — a hint, not a cause: the uplift report is where causes are
measured, against the holdout.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.db.models import Attendance, InsightNudgeFact, Moment, Site
from hub.insights.posture import Posture
from hub.insights.privacy import Suppressed, guard
from hub.insights.reports.period import Period
from hub.insights.reports.postures import PostureTimeline, period_ends
from hub.insights.settings import InsightsSettings


@dataclass(frozen=True)
class Conversions:
    """Tenants who became coworkers in the period, and what preceded it."""

    converted: int | Suppressed
    first_moment_kind: dict[str, int | Suppressed]
    nudged_before: int | Suppressed  # had been sent a nudge before their first moment


def conversions(
    session: Session, period: Period, line: PostureTimeline, settings: InsightsSettings
) -> Conversions:
    """Count conversions and describe their first moment and the nudges before it."""
    minimum = settings.min_cell_members
    windows: dict[int, tuple[date, date]] = {}
    for earlier, later in itertools.pairwise(period_ends(period, settings)):
        for member_id, classes in line.by_member.items():
            before, after = classes.get(earlier), classes.get(later)
            if (
                member_id not in windows
                and before is not None
                and after is not None
                and before.posture is Posture.TENANT
                and after.posture is Posture.COWORKER
            ):
                windows[member_id] = (earlier + timedelta(weeks=1), later + timedelta(weeks=1))
    if not windows:
        return Conversions(0, {}, 0)
    zone = ZoneInfo(session.get(Site, period.site_id).timezone)  # type: ignore[union-attr]
    start = datetime.combine(period.start, time(0), tzinfo=zone)
    first: dict[int, tuple[datetime, str]] = {}
    for member_id, starts, kind in session.connection().execute(
        select(Attendance.member_id, Moment.starts_at, Moment.kind)
        .join(Moment, Moment.id == Attendance.moment_id)
        .where(
            Moment.site_id == period.site_id,
            Moment.starts_at >= start,
            Attendance.member_id.in_(windows),
        )
        .order_by(Moment.starts_at)
    ):
        low, high = windows[member_id]
        day = starts.astimezone(zone).date()
        if member_id not in first and low <= day < high:
            first[member_id] = (starts, kind)
    nudged: set[int] = set()
    for member_id, day in session.connection().execute(
        select(InsightNudgeFact.member_id, InsightNudgeFact.day).where(
            InsightNudgeFact.site_id == period.site_id,
            InsightNudgeFact.arm == "treatment",
            InsightNudgeFact.member_id.in_(windows),
        )
    ):
        seen = first.get(member_id)
        if seen is not None and windows[member_id][0] <= day <= seen[0].astimezone(zone).date():
            nudged.add(member_id)
    kinds = Counter(kind for _, kind in first.values())
    # The complement (converted but not nudged) must not be a small cell either.
    hide_nudged = 0 < len(nudged) < minimum or 0 < len(windows) - len(nudged) < minimum
    return Conversions(
        converted=guard(len(windows), len(windows), minimum),
        first_moment_kind={k: guard(n, n, minimum) for k, n in sorted(kinds.items())},
        nudged_before=Suppressed(minimum) if hide_nudged else len(nudged),
    )
