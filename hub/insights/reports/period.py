"""The period a report covers, and the member-weeks every member report starts from."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from hub.db.models import InsightMemberDay
from hub.insights.posture import MemberPeriod


@dataclass(frozen=True)
class Period:
    """Site-local days ``[start, end)`` of one site."""

    site_id: str
    start: date
    end: date

    @property
    def days(self) -> int:
        """Number of days covered."""
        return (self.end - self.start).days


@dataclass(frozen=True)
class MemberWeek:
    """One member's week at a site, summed from the daily rollup."""

    member_id: int
    week_start: date
    days_on_site: int
    moments: int
    rsvps: int
    minutes_desk: float
    minutes_community: float
    minutes_other: float
    desk_room_id: str | None


def member_weeks(
    session: Session, period: Period, member_id: int | None = None
) -> dict[int, dict[date, MemberWeek]]:
    """Per member (or for *member_id* only), their weeks in *period* (one grouped query)."""
    d = InsightMemberDay
    on_site = case((d.sessions > 0, 1), (d.moments_attended > 0, 1), else_=0)
    scope = [d.site_id == period.site_id, d.day >= period.start, d.day < period.end]
    if member_id is not None:
        scope.append(d.member_id == member_id)
    rows = (
        session.connection()
        .execute(
            select(
                d.member_id,
                d.week_start,
                func.sum(on_site),
                func.sum(d.moments_attended),
                func.sum(d.rsvps),
                func.sum(d.minutes_desk),
                func.sum(d.minutes_community),
                func.sum(d.minutes_meeting + d.minutes_phone_booth + d.minutes_lobby),
                func.max(d.desk_room_id),
            )
            .where(*scope)
            .group_by(d.member_id, d.week_start)
        )
        .all()
    )
    out: dict[int, dict[date, MemberWeek]] = defaultdict(dict)
    for member, week, days, moments, rsvps, desk, community, other, desk_room in rows:
        out[member][week] = MemberWeek(
            member,
            week,
            int(days or 0),
            int(moments or 0),
            int(rsvps or 0),
            float(desk or 0),
            float(community or 0),
            float(other or 0),
            desk_room,
        )
    return out


def weeks_of(period: Period) -> list[date]:
    """Mondays of the weeks that start inside *period*."""
    first = period.start + timedelta(days=(7 - period.start.weekday()) % 7)
    return [
        first + timedelta(weeks=i)
        for i in range((period.end - first).days // 7 + 1)
        if first + timedelta(weeks=i) < period.end
    ]


def trailing_periods(
    weeks: dict[date, MemberWeek], ends: list[date], period_days: int
) -> dict[date, MemberPeriod]:
    """For each Monday in *ends*, the member's ``period_days`` ending with that week.

    Each window is summed afresh, oldest week first (a handful of additions): a running sum
    that adds each week and later subtracts it leaves rounding residues (``5e-14`` minutes in
    rooms after every week with room time has left the window), which made room shares out of
    nothing and made a window depend on the weeks before it.
    """
    span = period_days // 7
    back = [timedelta(weeks=i) for i in range(span - 1, -1, -1)]
    out: dict[date, MemberPeriod] = {}
    for end in ends:
        days = moments = 0
        desk = community = other = 0.0
        for step in back:
            row = weeks.get(end - step)
            if row is not None:
                days += row.days_on_site
                moments += row.moments
                desk += row.minutes_desk
                community += row.minutes_community
                other += row.minutes_other
        out[end] = MemberPeriod(period_days, days, moments, desk, community, other)
    return out
