"""Postures per site: the distribution, its week-by-week trend, and movements between postures.

A member's posture at week *W* describes the ``period_days`` ending with *W* (a trailing
window), so the trend moves smoothly. The members of a site are those with any rolled-up day
there in the window or before it in the report's range: a member who never came at all is
unknown to presence data (a membership roster would add them as absent).

Weeks whose window reaches before the member-day rollups still kept (they expire with the
identified data, :mod:`hub.insights.retention`) come from the site-level counts folded when
they expired: the distribution and the value index remain, per-member classifications
(transitions, conversions, reach, nudge segments) do not.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.db.models import InsightPostureWeek
from hub.insights.posture import POSTURES, Posture, classify
from hub.insights.privacy import Suppressed, guard_counts
from hub.insights.reports.period import (
    MemberWeek,
    Period,
    member_weeks,
    trailing_periods,
    weeks_of,
)
from hub.insights.settings import InsightsSettings
from hub.insights.value import member_value
from hub.insights.weeks import ABSENT, Judged, read_weeks


@dataclass(frozen=True)
class PostureWeek:
    """Members per posture over the period ending with the week starting *week_start*."""

    week_start: date
    counts: dict[Posture, int | Suppressed]
    members: int
    value_index: float | Suppressed  # mean community value captured, 0..1


@dataclass(frozen=True)
class Transition:
    """Members whose posture went from *before* to *after* between consecutive periods."""

    before: Posture
    after: Posture
    members: int | Suppressed


@dataclass(frozen=True)
class PostureReport:
    """Postures of one site."""

    site_id: str
    weeks: list[PostureWeek]
    transitions: list[Transition]


@dataclass(frozen=True)
class PostureTimeline:
    """Every member's posture and value index per week (for the moment and nudge reports)."""

    by_member: dict[int, dict[date, Judged]]
    folded: dict[date, InsightPostureWeek] = field(default_factory=dict)
    _previous_week: dict[date, date] = field(default_factory=dict, repr=False, compare=False)

    def before(self, member_id: int, day: date) -> Posture | None:
        """The member's posture over the period ending the week before *day*."""
        week = self._previous_week.get(day)
        if week is None:
            week = day - timedelta(days=day.weekday() + 7)
            self._previous_week[day] = week
        weeks = self.by_member.get(member_id)
        found = weeks.get(week) if weeks is not None else None
        return found.posture if found is not None else None


def folded_week(row: InsightPostureWeek, minimum: int) -> PostureWeek:
    """A week kept as site-level counts past the member rollups' retention."""
    counts = {
        Posture.ABSENT: row.absent,
        Posture.TENANT: row.tenant,
        Posture.OCCASIONAL: row.occasional,
        Posture.COWORKER: row.coworker,
    }
    members = sum(counts.values())
    index: float | Suppressed = (
        row.value_sum / members if members >= minimum else Suppressed(minimum)
    )
    return PostureWeek(row.week_start, guard_counts(counts, minimum), members, index)


def period_ends(period: Period, settings: InsightsSettings) -> list[date]:
    """Last weeks of consecutive, non-overlapping posture periods in *period* (transitions)."""
    return weeks_of(period)[:: settings.posture.period_days // 7]


def timeline(
    session: Session, period: Period, settings: InsightsSettings
) -> tuple[PostureTimeline, dict[int, dict[date, MemberWeek]]]:
    """Classify every member of the site at every week of *period* (trailing windows).

    Reads the classified member weeks (:mod:`hub.insights.weeks`) when they can serve the
    period, else sums and classifies the member days (:func:`classify_days`): the same result.
    """
    ends = weeks_of(Period(period.site_id, period.start - timedelta(weeks=1), period.end))
    w = InsightPostureWeek
    folded = {
        row.week_start: row
        for row in session.scalars(
            select(w).where(
                w.site_id == period.site_id,
                w.week_start >= (ends[0] if ends else period.start),
                w.week_start < period.end,
            )
        )
    }
    found = read_weeks(session, period, settings)
    if found is None:
        weeks_data, out = classify_days(session, period, settings, ends, folded)
    else:
        weeks_data, judged = found
        out = {}
        for member_id, weeks in weeks_data.items():
            joined = min(weeks)  # not a member before their first week seen
            mine = judged[member_id]
            out[member_id] = {
                end: mine.get(end, ABSENT) for end in ends if end >= joined and end not in folded
            }
    return PostureTimeline(out, folded), weeks_data


def classify_days(
    session: Session,
    period: Period,
    settings: InsightsSettings,
    ends: list[date],
    folded: dict[date, InsightPostureWeek],
) -> tuple[dict[int, dict[date, MemberWeek]], dict[int, dict[date, Judged]]]:
    """The member weeks of the period and its posture window, summed from the member days, and
    every member classified at each of *ends* (except folded weeks)."""
    span = timedelta(days=settings.posture.period_days)
    weeks_data = member_weeks(session, Period(period.site_id, period.start - span, period.end))
    out: dict[int, dict[date, Judged]] = {}
    for member_id, weeks in weeks_data.items():
        joined = min(weeks)  # not a member before their first week seen
        periods = trailing_periods(weeks, ends, settings.posture.period_days)
        out[member_id] = {
            end: Judged(classify(p, settings.posture).posture, member_value(p, settings.value))
            for end, p in periods.items()
            if end >= joined and end not in folded  # a folded week's days are (partly) gone
        }
    return weeks_data, out


def posture_report(
    session: Session,
    period: Period,
    settings: InsightsSettings,
    line: PostureTimeline | None = None,
    weeks_data: dict[int, dict[date, MemberWeek]] | None = None,
) -> PostureReport:
    """Distribution and value index per week, and transitions between consecutive periods."""
    if line is None or weeks_data is None:
        line, weeks_data = timeline(session, period, settings)
    minimum = settings.min_cell_members
    rows = []
    for week in weeks_of(period):
        kept = line.folded.get(week)
        if kept is not None:
            rows.append(folded_week(kept, minimum))
            continue
        found = {m: c[week] for m, c in line.by_member.items() if week in c}
        counts = Counter(c.posture for c in found.values())
        values = [c.value for c in found.values()]
        # fsum: exact, so the mean does not depend on the order the members came back in.
        index: float | Suppressed = (
            math.fsum(values) / len(values) if len(values) >= minimum else Suppressed(minimum)
        )
        rows.append(
            PostureWeek(
                week,
                guard_counts({p: counts.get(p, 0) for p in POSTURES}, minimum),
                len(found),
                index,
            )
        )
    moves: Counter[tuple[Posture, Posture]] = Counter()
    checkpoints = period_ends(period, settings)
    for earlier, later in itertools.pairwise(checkpoints):
        for classes in line.by_member.values():
            if earlier in classes and later in classes:
                moves[(classes[earlier].posture, classes[later].posture)] += 1
    transitions = [
        Transition(b, a, n if n >= minimum or n == 0 else Suppressed(minimum))
        for b in POSTURES
        for a in POSTURES
        if b is not a
        for n in [moves.get((b, a), 0)]
    ]
    return PostureReport(period.site_id, rows, transitions)
