"""Moments: who they reach (regulars, newcomers, converted tenants), attendance against RSVPs
and capacity, by kind, weekday and hour.

Reach of one attendance, judged on the attendee's posture over the period ending the week before:

* **newcomer** — their first moment at the site in the data;
* **converted tenant** — they were a tenant (or absent) just before;
* **regular** — everyone else who came.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.db.models import Attendance, Moment, Rsvp, Site
from hub.insights.posture import Posture
from hub.insights.privacy import Suppressed, guard
from hub.insights.reports.period import Period
from hub.insights.reports.postures import PostureTimeline
from hub.insights.rollups import SiteClock
from hub.insights.settings import InsightsSettings


class Reach(StrEnum):
    """Who an attendance reached."""

    REGULAR = "regular"
    NEWCOMER = "newcomer"
    CONVERTED_TENANT = "converted_tenant"


@dataclass(frozen=True)
class MomentGroup:
    """Moments sharing a kind, a weekday or an hour."""

    dimension: str  # kind, weekday or hour
    value: str
    moments: int
    attendances: int | Suppressed
    rsvps: int | Suppressed
    rsvp_show_rate: float | Suppressed | None  # RSVP'd members who came / RSVPs
    fill_rate: float | Suppressed | None  # attendances / capacity (moments with a capacity)
    reach: dict[Reach, int | Suppressed]


def moment_report(
    session: Session, period: Period, settings: InsightsSettings, line: PostureTimeline
) -> list[MomentGroup]:
    """Groups by kind, weekday and hour of the site's moments in *period*."""
    zone = ZoneInfo(session.get(Site, period.site_id).timezone)  # type: ignore[union-attr]
    start = datetime.combine(period.start, datetime.min.time(), tzinfo=zone)
    end = datetime.combine(period.end, datetime.min.time(), tzinfo=zone)
    clock = SiteClock(zone)
    moments = {
        m_id: (kind, starts, capacity, clock.label(int(starts.timestamp()) // 3600))
        for m_id, kind, starts, capacity in session.connection().execute(
            select(Moment.id, Moment.kind, Moment.starts_at, Moment.capacity).where(
                Moment.site_id == period.site_id,
                Moment.starts_at >= start,
                Moment.starts_at < end,
                Moment.cancelled_at.is_(None),
            )
        )
    }
    first_seen: dict[int, datetime] = dict(
        session.connection()
        .execute(
            select(Attendance.member_id, func.min(Moment.starts_at))
            .join(Moment, Moment.id == Attendance.moment_id)
            .where(Moment.site_id == period.site_id, Moment.cancelled_at.is_(None))
            .group_by(Attendance.member_id)
        )
        .all()
    )
    came: dict[int, set[int]] = defaultdict(set)
    for moment_id, member_id in (
        session.connection()
        .execute(
            select(Attendance.moment_id, Attendance.member_id)
            .join(Moment, Moment.id == Attendance.moment_id)
            .where(
                Moment.site_id == period.site_id, Moment.starts_at >= start, Moment.starts_at < end
            )
        )
        .all()
    ):
        came[moment_id].add(member_id)
    said: dict[int, set[int]] = defaultdict(set)
    for moment_id, member_id in (
        session.connection()
        .execute(
            select(Rsvp.moment_id, Rsvp.member_id)
            .join(Moment, Moment.id == Rsvp.moment_id)
            .where(
                Moment.site_id == period.site_id,
                Moment.starts_at >= start,
                Moment.starts_at < end,
                Rsvp.status == "going",  # not the waiting list
            )
        )
        .all()
    ):
        said[moment_id].add(member_id)

    # Who each attendance reached, judged once per attendance (not once per dimension).
    reached: dict[int, dict[Reach, set[int]]] = {}
    for moment_id, (_kind, starts, _cap, (local_day, _hour, _weekday)) in moments.items():
        who = came.get(moment_id)
        if not who:
            continue
        judged: dict[Reach, set[int]] = defaultdict(set)
        for member_id in who:
            if first_seen.get(member_id) == starts:
                reach = Reach.NEWCOMER
            elif line.before(member_id, local_day) in (Posture.TENANT, Posture.ABSENT):
                reach = Reach.CONVERTED_TENANT
            else:
                reach = Reach.REGULAR
            judged[reach].add(member_id)
        reached[moment_id] = judged

    nobody: set[int] = set()
    # Per moment once (each moment is in three groups): attendances, RSVPs, RSVPs who came.
    counted = {
        moment_id: (len(who := came.get(moment_id, nobody)), len(p), len(who & p))
        for moment_id in moments
        for p in [said.get(moment_id, nobody)]
    }
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for moment_id, (kind, _starts, _capacity, (_day, hour, weekday)) in moments.items():
        groups[("kind", kind)].append(moment_id)
        groups[("weekday", str(weekday))].append(moment_id)
        groups[("hour", f"{hour:02d}")].append(moment_id)
    minimum = settings.min_cell_members
    out = []
    for (dimension, value), ids in sorted(groups.items()):
        attendees: set[int] = set()
        rsvpers: set[int] = set()
        reach_members: dict[Reach, set[int]] = defaultdict(set)
        attendances = rsvps = shows = capacity = capped_attendances = 0
        for moment_id in ids:
            cap = moments[moment_id][2]
            who, promised = came.get(moment_id, nobody), said.get(moment_id, nobody)
            came_n, said_n, shows_n = counted[moment_id]
            attendances += came_n
            rsvps += said_n
            shows += shows_n
            attendees |= who
            rsvpers |= promised
            if cap:
                capacity += cap
                capped_attendances += came_n
            for reach, members in reached.get(moment_id, {}).items():
                reach_members[reach] |= members
        out.append(
            MomentGroup(
                dimension=dimension,
                value=value,
                moments=len(ids),
                attendances=guard(attendances, len(attendees), minimum),
                rsvps=guard(rsvps, len(rsvpers), minimum),
                rsvp_show_rate=guard(shows / rsvps, len(rsvpers), minimum) if rsvps else None,
                fill_rate=(
                    guard(capped_attendances / capacity, len(attendees), minimum)
                    if capacity
                    else None
                ),
                reach={
                    r: guard(len(reach_members[r]), len(reach_members[r]), minimum)
                    if reach_members[r]
                    else 0
                    for r in Reach
                },
            )
        )
    return out
