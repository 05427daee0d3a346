"""Daily rollups, updated incrementally: reports read them instead of a year of raw sessions.

Two tables (see :mod:`hub.db.models`):

* ``insight_member_days`` — per site, member and site-local day: sessions, minutes on site,
  minutes per room kind, moments attended, RSVPs;
* ``insight_room_hours`` — per room, site-local day and hour: person-minutes, peak of members
  present at once, distinct members;

and, from the member days, the classified member weeks of :mod:`hub.insights.weeks`.

:func:`refresh` recomputes only the days that need it:

* days touched by rows added since the last refresh (each source table's highest id seen is
  kept in ``insight_rollup_marks``; a new session, dwell, attendance or RSVP marks its days);
* days not yet *final*: a day becomes final once it ended ``settle_hours`` ago and no session or
  dwell overlapping it was still open when it was rolled (late staff marks and sessions closed
  at the cut-off are picked up meanwhile);
* days :func:`mark_dirty` reopened (an edit of past data that adds no row).

A recomputed day is rebuilt from its sources in full (delete, then insert), so a refresh is
idempotent and never double counts. Erasing a member deletes their rollup rows by cascade.

Hours are cut at UTC hour boundaries and labelled with the site-local date and hour of their
start: exact for every zone whose offset is whole hours (Europe/Paris included); the autumn DST
night folds its two 02:00 hours into one row.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, delete, func, insert, or_, select
from sqlalchemy.orm import Session

from hub.config import RoomKind
from hub.db.models import (
    Attendance,
    InsightMemberDay,
    InsightNudgeFact,
    InsightRollupDay,
    InsightRollupMark,
    InsightRoomHour,
    Moment,
    NudgeRecord,
    PresenceSession,
    Room,
    RoomDwell,
    Rsvp,
    Site,
)
from hub.insights.settings import InsightsSettings
from hub.insights.weeks import roll_weeks

log = logging.getLogger(__name__)

_HOUR = 3600
_KIND_COLUMN = {
    RoomKind.DESK.value: "minutes_desk",
    RoomKind.COMMUNITY.value: "minutes_community",
    RoomKind.MEETING.value: "minutes_meeting",
    RoomKind.PHONE_BOOTH.value: "minutes_phone_booth",
    RoomKind.LOBBY.value: "minutes_lobby",
}
_RUN_GAP_DAYS = 7  # dirty days closer than this are recomputed with one query per source


@dataclass(frozen=True)
class RefreshResult:
    """What one refresh did."""

    days: int  # site-days recomputed
    member_days: int  # member-day rows written
    room_hours: int  # room-hour rows written


class SiteClock:
    """Site-local labels of UTC hours (cached: a year has only 8,760 of them)."""

    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone
        self._labels: dict[int, tuple[date, int, int]] = {}

    def label(self, utc_hour: int) -> tuple[date, int, int]:
        """(local date, local hour, weekday) of the UTC hour starting at ``utc_hour × 3600``."""
        found = self._labels.get(utc_hour)
        if found is None:
            local = datetime.fromtimestamp(utc_hour * _HOUR, tz=UTC).astimezone(self.zone)
            found = (local.date(), local.hour, local.weekday())
            self._labels[utc_hour] = found
        return found

    def day_bounds(self, day: date) -> tuple[datetime, datetime]:
        """UTC instants of the local midnight starting *day* and the next one."""
        start = datetime.combine(day, time(0), tzinfo=self.zone).astimezone(UTC)
        end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=self.zone)
        return start, end.astimezone(UTC)

    def days_of(self, start: float, end: float) -> Iterable[date]:
        """Local dates an interval of epoch seconds touches."""
        first = datetime.fromtimestamp(start, tz=UTC).astimezone(self.zone).date()
        last = datetime.fromtimestamp(max(start, end - 1e-6), tz=UTC).astimezone(self.zone).date()
        day = first
        while day <= last:
            yield day
            day += timedelta(days=1)


def mark_dirty(session: Session, site_id: str, days: Iterable[date]) -> None:
    """Have the next refresh recompute these site-local days (after an edit of past data)."""
    for day in days:
        row = session.get(InsightRollupDay, (site_id, day))
        if row is not None:
            row.final = False


def refresh(
    session: Session,
    now: datetime,
    settings: InsightsSettings | None = None,
    site_ids: Sequence[str] | None = None,
) -> RefreshResult:
    """Bring the rollups up to date with the sources as of *now*; returns what it recomputed."""
    settings = settings or InsightsSettings()
    sites = {s.id: s for s in session.scalars(select(Site))}
    wanted = [s for s in sites if site_ids is None or s in site_ids]
    clocks = {site_id: SiteClock(ZoneInfo(sites[site_id].timezone)) for site_id in wanted}
    tops = _source_tops(session)
    marks = {m.source: m.last_id for m in session.scalars(select(InsightRollupMark))}
    dirty = _new_row_days(session, clocks, marks, tops, now)
    for site_id, day in session.execute(
        select(InsightRollupDay.site_id, InsightRollupDay.day).where(
            InsightRollupDay.final.is_(False)
        )
    ):
        if site_id in clocks:
            dirty[site_id].add(day)
    kinds = {
        (r.site_id, r.id): r.kind for r in session.scalars(select(Room)) if r.site_id in clocks
    }
    result = RefreshResult(0, 0, 0)
    for site_id, days in dirty.items():
        for run in _runs(sorted(days)):
            part = _recompute(session, site_id, run, clocks[site_id], kinds, now, settings)
            result = RefreshResult(
                result.days + part.days,
                result.member_days + part.member_days,
                result.room_hours + part.room_hours,
            )
    for site_id in clocks:
        # The member weeks of the recomputed days (all of them when the basis changed).
        weeks = {day - timedelta(days=day.weekday()) for day in dirty.get(site_id, ())}
        roll_weeks(session, site_id, weeks, settings)
    if site_ids is None:
        for source, top in tops.items():
            mark = session.get(InsightRollupMark, source)
            if mark is None:
                session.add(InsightRollupMark(source=source, last_id=top))
            else:
                mark.last_id = top
    session.flush()
    log.info(
        "insights rollup: %d site-days, %d member-days, %d room-hours",
        result.days,
        result.member_days,
        result.room_hours,
    )
    return result


def _source_tops(session: Session) -> dict[str, int]:
    tables = {
        "presence_sessions": PresenceSession.id,
        "room_dwells": RoomDwell.id,
        "attendances": Attendance.id,
        "rsvps": Rsvp.id,
        "nudge_records": NudgeRecord.id,
    }
    return {name: session.scalar(select(func.max(column))) or 0 for name, column in tables.items()}


def _new_row_days(
    session: Session,
    clocks: dict[str, SiteClock],
    marks: dict[str, int],
    tops: dict[str, int],
    now: datetime,
) -> dict[str, set[date]]:
    """Site-local days touched by rows added since the marks (up to the tops)."""
    dirty: dict[str, set[date]] = defaultdict(set)
    now_ts = now.timestamp()

    def add(site_id: str, start: datetime, end: datetime | None) -> None:
        clock = clocks.get(site_id)
        if clock is not None:
            stop = end.timestamp() if end is not None else max(now_ts, start.timestamp())
            dirty[site_id].update(clock.days_of(start.timestamp(), stop))

    low, high = marks.get("presence_sessions", 0), tops["presence_sessions"]
    for site_id, start, end in session.execute(
        select(
            PresenceSession.site_id, PresenceSession.arrived_at, PresenceSession.departed_at
        ).where(PresenceSession.id > low, PresenceSession.id <= high)
    ):
        add(site_id, start, end)
    low, high = marks.get("room_dwells", 0), tops["room_dwells"]
    for site_id, start, end in session.execute(
        select(RoomDwell.site_id, RoomDwell.entered_at, RoomDwell.left_at).where(
            RoomDwell.id > low, RoomDwell.id <= high
        )
    ):
        add(site_id, start, end)
    low, high = marks.get("nudge_records", 0), tops["nudge_records"]
    for site_id, start in session.execute(
        select(NudgeRecord.site_id, NudgeRecord.triggered_at).where(
            NudgeRecord.id > low, NudgeRecord.id <= high
        )
    ):
        add(site_id, start, start)
    for table, source in ((Attendance, "attendances"), (Rsvp, "rsvps")):
        low, high = marks.get(source, 0), tops[source]
        for site_id, start in session.execute(
            select(Moment.site_id, Moment.starts_at)
            .join(table, table.moment_id == Moment.id)
            .where(table.id > low, table.id <= high)
            .distinct()
        ):
            add(site_id, start, start)
    return dirty


def _runs(days: list[date]) -> list[list[date]]:
    runs: list[list[date]] = []
    for day in days:
        if runs and (day - runs[-1][-1]).days <= _RUN_GAP_DAYS:
            runs[-1].append(day)
        else:
            runs.append([day])
    return runs


def _recompute(
    session: Session,
    site_id: str,
    days: list[date],
    clock: SiteClock,
    kinds: dict[tuple[str, str], str],
    now: datetime,
    settings: InsightsSettings,
) -> RefreshResult:
    """Rebuild the rollups of *days* (one run of close days) at *site_id* from the sources."""
    wanted = set(days)
    start, _ = clock.day_bounds(days[0])
    _, end = clock.day_bounds(days[-1])
    now_ts = now.timestamp()
    open_days: set[date] = set()

    member: dict[tuple[int, date], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for member_id, arrived, departed in session.execute(
        select(
            PresenceSession.member_id, PresenceSession.arrived_at, PresenceSession.departed_at
        ).where(
            PresenceSession.site_id == site_id,
            PresenceSession.arrived_at < end,
            or_(PresenceSession.departed_at.is_(None), PresenceSession.departed_at > start),
        )
    ):
        a = arrived.timestamp()
        d = departed.timestamp() if departed is not None else max(a, now_ts)
        if departed is None:
            open_days.update(clock.days_of(a, d))
        counted: set[date] = set()
        for day, _hour, _weekday, minutes in _hour_slices(clock, a, d):
            if day in wanted:
                row = member[(member_id, day)]
                row["minutes_on_site"] += minutes
                if day not in counted:
                    counted.add(day)
                    row["sessions"] += 1

    rooms: dict[tuple[str, date, int], list[float]] = {}
    desk_minutes: dict[tuple[int, date], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    room_members: dict[tuple[str, date, int], set[int]] = defaultdict(set)
    weekdays: dict[date, int] = {}
    intervals: dict[tuple[str, date], list[tuple[float, float]]] = defaultdict(list)
    for member_id, room_id, entered, left in session.execute(
        select(
            RoomDwell.member_id, RoomDwell.room_id, RoomDwell.entered_at, RoomDwell.left_at
        ).where(
            RoomDwell.site_id == site_id,
            RoomDwell.entered_at < end,
            or_(RoomDwell.left_at.is_(None), RoomDwell.left_at > start),
        )
    ):
        a = entered.timestamp()
        d = left.timestamp() if left is not None else max(a, now_ts)
        if left is None:
            open_days.update(clock.days_of(a, d))
        column = _KIND_COLUMN.get(kinds.get((site_id, room_id), ""), "minutes_lobby")
        for day, hour, weekday, minutes in _hour_slices(clock, a, d):
            if day not in wanted:
                continue
            member[(member_id, day)][column] += minutes
            if column == "minutes_desk":
                desk_minutes[(member_id, day)][room_id] += minutes
            key = (room_id, day, hour)
            cell = rooms.setdefault(key, [0.0, 0.0])
            cell[0] += minutes
            room_members[key].add(member_id)
            weekdays[day] = weekday
        for day in clock.days_of(a, d):
            if day in wanted:
                intervals[(room_id, day)].append((a, d))
    for (room_id, day), spans in intervals.items():
        for hour, peak in _hourly_peaks(clock, spans, day).items():
            slot = rooms.get((room_id, day, hour))
            if slot is not None:
                slot[1] = max(slot[1], peak)

    for table, column in ((Attendance, "moments_attended"), (Rsvp, "rsvps")):
        query = (
            select(table.member_id, Moment.starts_at)
            .join(Moment, Moment.id == table.moment_id)
            .where(
                Moment.site_id == site_id,
                Moment.starts_at >= start,
                Moment.starts_at < end,
                Moment.cancelled_at.is_(None),
            )
        )
        if table is Rsvp:
            query = query.where(Rsvp.status == "going")  # not the waiting list
        for member_id, starts in session.execute(query):
            day = clock.label(int(starts.timestamp()) // _HOUR)[0]
            if day in wanted:
                member[(member_id, day)][column] += 1

    facts = _nudge_facts(session, site_id, wanted, start, end, clock)
    session.execute(
        delete(InsightNudgeFact).where(
            InsightNudgeFact.site_id == site_id, InsightNudgeFact.day.in_(wanted)
        )
    )
    session.execute(
        delete(InsightMemberDay).where(
            InsightMemberDay.site_id == site_id, InsightMemberDay.day.in_(wanted)
        )
    )
    session.execute(
        delete(InsightRoomHour).where(
            InsightRoomHour.site_id == site_id, InsightRoomHour.day.in_(wanted)
        )
    )
    desks = {
        key: (max(spent, key=lambda r: spent[r]) if (spent := desk_minutes.get(key)) else None)
        for key in member
    }
    member_rows = [
        {
            "site_id": site_id,
            "member_id": member_id,
            "day": day,
            "week_start": day - timedelta(days=day.weekday()),
            "desk_room_id": desks[(member_id, day)],
            "sessions": int(values["sessions"]),
            "minutes_on_site": values["minutes_on_site"],
            "minutes_desk": values["minutes_desk"],
            "minutes_community": values["minutes_community"],
            "minutes_meeting": values["minutes_meeting"],
            "minutes_phone_booth": values["minutes_phone_booth"],
            "minutes_lobby": values["minutes_lobby"],
            "moments_attended": int(values["moments_attended"]),
            "rsvps": int(values["rsvps"]),
        }
        for (member_id, day), values in member.items()
    ]
    room_rows = [
        {
            "site_id": site_id,
            "room_id": room_id,
            "day": day,
            "hour": hour,
            "weekday": weekdays[day],
            "member_minutes": minutes,
            "peak_members": int(peak),
            "members": len(room_members[(room_id, day, hour)]),
        }
        for (room_id, day, hour), (minutes, peak) in rooms.items()
    ]
    for rows, model in (
        (member_rows, InsightMemberDay),
        (room_rows, InsightRoomHour),
        (facts, InsightNudgeFact),
    ):
        for chunk in range(0, len(rows), 5000):
            session.execute(insert(model), rows[chunk : chunk + 5000])

    settle = timedelta(hours=settings.settle_hours)
    existing = {
        row.day: row
        for row in session.scalars(
            select(InsightRollupDay).where(
                InsightRollupDay.site_id == site_id,
                and_(InsightRollupDay.day >= days[0], InsightRollupDay.day <= days[-1]),
            )
        )
    }
    for day in days:
        final = clock.day_bounds(day)[1] + settle <= now and day not in open_days
        rolled = existing.get(day)
        if rolled is None:
            session.add(InsightRollupDay(site_id=site_id, day=day, rolled_at=now, final=final))
        else:
            rolled.rolled_at, rolled.final = now, final
    return RefreshResult(len(days), len(member_rows), len(room_rows))


def timing_bucket(lead_minutes: float) -> str:
    """The timing group of a nudge delivered *lead_minutes* before its moment."""
    return "0-15" if lead_minutes < 15 else "15-45" if lead_minutes < 45 else "45+"


def _nudge_facts(
    session: Session,
    site_id: str,
    wanted: set[date],
    start: datetime,
    end: datetime,
    clock: SiteClock,
) -> list[dict[str, object]]:
    """Resolved experiment decisions triggered on *wanted* days, with their report groups."""
    n = NudgeRecord
    experiment = (
        n.site_id == site_id,
        n.member_id.is_not(None),
        n.decision.in_(("sent", "holdout")),
    )
    earlier: dict[tuple[int | None, str], int] = {
        (member_id, rule): count
        for member_id, rule, count in session.execute(
            select(n.member_id, n.rule, func.count())
            .where(*experiment, n.triggered_at < start)
            .group_by(n.member_id, n.rule)
        )
    }
    rows = session.execute(
        select(
            n.id,
            n.member_id,
            n.rule,
            n.arm,
            n.channel,
            n.variant_id,
            n.outcome,
            n.triggered_at,
            n.not_before,
            Moment.starts_at,
            Moment.cancelled_at,
        )
        .join(Moment, Moment.id == n.moment_id)
        .where(*experiment, n.triggered_at >= start, n.triggered_at < end)
        .order_by(n.triggered_at, n.id)
    )
    facts: list[dict[str, object]] = []
    for (
        record_id,
        member_id,
        rule,
        arm,
        channel,
        variant,
        outcome,
        triggered,
        not_before,
        starts,
        cancelled,
    ) in rows:
        key = (member_id, rule)
        rank = earlier[key] = earlier.get(key, 0) + 1
        day = clock.label(int(triggered.timestamp()) // _HOUR)[0]
        if (
            day not in wanted
            or cancelled is not None
            or outcome not in ("attended", "not_attended")
        ):
            continue
        delivered = not_before or triggered
        facts.append(
            {
                "id": record_id,
                "site_id": site_id,
                "member_id": member_id,
                "rule": rule,
                "arm": arm or "",
                "channel": channel or "",
                "variant": variant or "",
                "timing": timing_bucket((starts - delivered).total_seconds() / 60),
                "rank": rank,
                "day": day,
                "week_start": day - timedelta(days=day.weekday()),
                "month": f"{day:%Y-%m}",
                "attended": outcome == "attended",
            }
        )
    return facts


def _hour_slices(
    clock: SiteClock, start: float, end: float
) -> Iterable[tuple[date, int, int, float]]:
    """(local day, local hour, weekday, minutes) of an interval cut at UTC hour boundaries."""
    cursor = start
    while cursor < end:
        hour_index = int(cursor // _HOUR)
        boundary = min(end, (hour_index + 1) * _HOUR)
        day, hour, weekday = clock.label(hour_index)
        yield day, hour, weekday, (boundary - cursor) / 60.0
        cursor = boundary


def _hourly_peaks(clock: SiteClock, spans: list[tuple[float, float]], day: date) -> dict[int, int]:
    """Most members present at once in each local hour of *day* (sweep over enter/leave)."""
    events = sorted([(a, 1) for a, _ in spans] + [(d, -1) for _, d in spans])
    peaks: dict[int, int] = {}
    level = 0
    for index, (at, step) in enumerate(events):
        level += step
        until = events[index + 1][0] if index + 1 < len(events) else at
        if level <= 0 or until <= at:
            continue
        hour_index = int(at // _HOUR)
        while hour_index * _HOUR < until:
            label_day, hour, _ = clock.label(hour_index)
            if label_day == day and level > peaks.get(hour, 0):
                peaks[hour] = level
            hour_index += 1
    return peaks
