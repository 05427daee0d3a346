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
    """For each Monday in *ends* (consecutive weeks), the member's ``period_days`` ending with
    that week (a rolling sum: each week is added once and removed once)."""
    span = period_days // 7
    out: dict[date, MemberPeriod] = {}
    if not ends:
        return out
    totals = [0.0] * 5
    window: list[MemberWeek | None] = [
        weeks.get(ends[0] - timedelta(weeks=back)) for back in range(span - 1, 0, -1)
    ]
    for row in window:
        if row is not None:
            _add(totals, row, 1)
    for end in ends:
        row = weeks.get(end)
        window.append(row)
        if row is not None:
            _add(totals, row, 1)
        if len(window) > span:
            gone = window.pop(0)
            if gone is not None:
                _add(totals, gone, -1)
        out[end] = MemberPeriod(
            period_days=period_days,
            days_on_site=int(totals[0]),
            moments_attended=int(totals[1]),
            minutes_desk=totals[2],
            minutes_community=totals[3],
            minutes_other_rooms=totals[4],
        )
    return out


def _add(totals: list[float], row: MemberWeek, sign: int) -> None:
    totals[0] += sign * row.days_on_site
    totals[1] += sign * row.moments
    totals[2] += sign * row.minutes_desk
    totals[3] += sign * row.minutes_community
    totals[4] += sign * row.minutes_other
