"""Sites and rooms: time used, occupancy against capacity, hour-of-week heatmap, desk-only rooms.

Occupancy here counts the members placed in a room by their dwells (members who allowed room
location); anonymous people counted by sensors are in ``occupancy_rollups`` and not merged yet.
A room or heatmap cell is shown only when some hour of it had at least ``min_cell_members``
distinct members: conservative (a room used by many people one at a time stays hidden).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.config import RoomKind
from hub.db.models import InsightRoomHour, Room
from hub.insights.privacy import Suppressed
from hub.insights.reports.period import MemberWeek, Period
from hub.insights.settings import InsightsSettings

REACHED_COMMUNITY_MINUTES = 15.0
"""Community-room minutes in a period from which an occupant counts as having reached them."""


@dataclass(frozen=True)
class RoomUsage:
    """One room over the period."""

    room_id: str
    name: str
    kind: str
    capacity: int | None
    hours_used: int | Suppressed  # site-local hours with at least one member in the room
    person_hours: float | Suppressed
    peak: int | Suppressed  # most members at once
    average: float | Suppressed  # mean members present over the hours used
    peak_of_capacity: float | Suppressed | None  # None without a capacity
    average_of_capacity: float | Suppressed | None
    desk_occupants: int | Suppressed | None  # desk rooms: members whose main desk it is
    reached_community: float | Suppressed | None  # share of them who reached community life
    desk_only: bool | None  # desk rooms: "rented desks" (see settings.desk_only_max_share)


@dataclass(frozen=True)
class HeatCell:
    """Mean members present in the site during one site-local hour of the week."""

    weekday: int  # 0 = Monday
    hour: int
    average: float | Suppressed


def room_usage(
    session: Session,
    period: Period,
    settings: InsightsSettings,
    weeks_data: dict[int, dict[date, MemberWeek]] | None = None,
) -> list[RoomUsage]:
    """Per room of the site: use, occupancy against capacity, desk-only flag."""
    h = InsightRoomHour
    minimum = settings.min_cell_members
    stats = {
        room_id: (int(hours), float(minutes), int(peak), int(most))
        for room_id, hours, minutes, peak, most in session.connection().execute(
            select(
                h.room_id,
                func.count(),
                func.sum(h.member_minutes),
                func.max(h.peak_members),
                func.max(h.members),
            )
            .where(h.site_id == period.site_id, h.day >= period.start, h.day < period.end)
            .group_by(h.room_id)
        )
    }
    occupants: dict[str, list[bool]] = defaultdict(list)
    for weeks in (weeks_data or {}).values():
        typed: list[MemberWeek] = [w for w in weeks.values() if period.start <= w.week_start]
        desk_rooms = [w.desk_room_id for w in typed if w.desk_room_id]
        if not desk_rooms:
            continue
        main = max(set(desk_rooms), key=desk_rooms.count)
        reached = sum(w.minutes_community for w in typed) >= REACHED_COMMUNITY_MINUTES or any(
            w.moments for w in typed
        )
        occupants[main].append(reached)
    out = []
    for room in session.scalars(
        select(Room).where(Room.site_id == period.site_id).order_by(Room.id)
    ):
        hours, minutes, peak, most = stats.get(room.id, (0, 0.0, 0, 0))
        hidden = most < minimum
        average = minutes / 60 / hours if hours else 0.0

        def hide(value: float | int) -> float | int | Suppressed:
            return Suppressed(minimum) if hidden else value  # noqa: B023

        capacity = room.capacity
        desk = room.kind == RoomKind.DESK.value
        people = occupants.get(room.id, [])
        share = sum(people) / len(people) if people else 0.0
        few = len(people) < minimum
        out.append(
            RoomUsage(
                room_id=room.id,
                name=room.name,
                kind=room.kind,
                capacity=capacity,
                hours_used=hide(hours),  # type: ignore[arg-type]
                person_hours=hide(minutes / 60),
                peak=hide(peak),  # type: ignore[arg-type]
                average=hide(average),
                peak_of_capacity=hide(peak / capacity) if capacity else None,
                average_of_capacity=hide(average / capacity) if capacity else None,
                desk_occupants=(Suppressed(minimum) if few else len(people)) if desk else None,
                reached_community=(Suppressed(minimum) if few else share) if desk else None,
                desk_only=(
                    bool(people) and share <= settings.desk_only_max_share if desk else None
                ),
            )
        )
    return out


def heatmap(session: Session, period: Period, settings: InsightsSettings) -> list[HeatCell]:
    """Hour-of-week heatmap of the whole site (members present on average)."""
    h = InsightRoomHour
    minimum = settings.min_cell_members
    scope = (h.site_id == period.site_id, h.day >= period.start, h.day < period.end)
    days_per_weekday = dict(
        session.connection()
        .execute(
            select(h.weekday, func.count(func.distinct(h.day))).where(*scope).group_by(h.weekday)
        )
        .all()
    )
    totals = {
        (weekday, hour): (float(minutes), int(most))
        for weekday, hour, minutes, most in session.connection().execute(
            select(h.weekday, h.hour, func.sum(h.member_minutes), func.max(h.members))
            .where(*scope)
            .group_by(h.weekday, h.hour)
        )
    }
    out = []
    for (weekday, hour), (total, widest) in sorted(totals.items()):
        days = days_per_weekday.get(weekday) or 1
        value: float | Suppressed = total / 60 / days if widest >= minimum else Suppressed(minimum)
        out.append(HeatCell(weekday, hour, value))
    return out
