"""The period a report covers, and the member-weeks every member report starts from."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from hub.db.models import InsightMemberDay
from hub.insights.posture import Classification, MemberPeriod, classify
from hub.insights.settings import PostureSettings


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


def member_weeks(session: Session, period: Period) -> dict[int, dict[date, MemberWeek]]:
    """Per member, their weeks in *period* (one grouped query on the daily rollup)."""
    d = InsightMemberDay
    on_site = case((d.sessions > 0, 1), (d.moments_attended > 0, 1), else_=0)
    rows = session.execute(
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
        .where(d.site_id == period.site_id, d.day >= period.start, d.day < period.end)
        .group_by(d.member_id, d.week_start)
    )
    out: dict[int, dict[date, MemberWeek]] = defaultdict(dict)
    for member_id, week, days, moments, rsvps, desk, community, other, desk_room in rows:
        out[member_id][week] = MemberWeek(
            member_id,
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


def classify_window(
    weeks: dict[date, MemberWeek], window_start: date, settings: PostureSettings
) -> Classification:
    """The posture of a member over the ``period_days`` starting at *window_start*."""
    chosen = weeks_in(weeks, window_start, window_start + timedelta(days=settings.period_days))
    return classify(
        MemberPeriod(
            period_days=settings.period_days,
            days_on_site=sum(w.days_on_site for w in chosen),
            moments_attended=sum(w.moments for w in chosen),
            minutes_desk=sum(w.minutes_desk for w in chosen),
            minutes_community=sum(w.minutes_community for w in chosen),
            minutes_other_rooms=sum(w.minutes_other for w in chosen),
        ),
        settings,
    )


def weeks_in(weeks: dict[date, MemberWeek], start: date, end: date) -> list[MemberWeek]:
    """The member's weeks starting in ``[start, end)`` (*start* a Monday): a few lookups."""
    found = []
    week = start
    while week < end:
        row = weeks.get(week)
        if row is not None:
            found.append(row)
        week += timedelta(weeks=1)
    return found
