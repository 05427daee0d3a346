"""The synthetic population respects the rooms' capacities (SQLite and PostgreSQL).

Peaks are checked twice: on the generated dwells themselves (an exact sweep over every
enter/leave) and through the rollups and the room report, which must also show every room's
average occupancy below its capacity.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub.db.models import Room, RoomDwell
from hub.insights.privacy import Suppressed
from hub.insights.reports.period import Period
from hub.insights.reports.spaces import room_usage
from hub.insights.rollups import refresh
from hub.insights.settings import InsightsSettings
from hub.insights.synthetic import SyntheticSpec, generate

# Two sites: the test site keeps the capacities of its configured rooms, the second one gets
# the generator's rooms sized for 100 members.
SPEC = SyntheticSpec(seed=21, sites=2, members_per_site=100, days=4 * 7)


def test_rooms_are_never_over_capacity(sessions: sessionmaker[Session]) -> None:
    settings = InsightsSettings()
    with sessions.begin() as session:
        generate(session, SPEC)
        refresh(session, datetime(2026, 6, 1, tzinfo=UTC), settings)
    with sessions() as session:
        capacity = {
            (site_id, room_id): cap
            for site_id, room_id, cap in session.execute(
                select(Room.site_id, Room.id, Room.capacity)
            )
        }
        events: dict[tuple[str, str], list[tuple[datetime, int]]] = defaultdict(list)
        for site_id, room_id, entered, left in session.execute(
            select(RoomDwell.site_id, RoomDwell.room_id, RoomDwell.entered_at, RoomDwell.left_at)
        ):
            assert left is not None  # the generator closes every dwell
            events[(site_id, room_id)] += [(entered, 1), (left, -1)]
        reports = {
            site_id: room_usage(
                session,
                Period(site_id, SPEC.start, SPEC.start + timedelta(days=SPEC.days)),
                settings,
            )
            for site_id in {site_id for site_id, _ in capacity}
        }
    assert len(reports) == 2
    checked = 0
    for room, steps in events.items():
        level = peak = 0
        for _at, step in sorted(steps):  # a leave sorts before an enter at the same instant
            level += step
            peak = max(peak, level)
        cap = capacity[room]
        if cap is not None:
            assert peak <= cap, f"{room}: {peak} people at once for {cap} places"
            checked += 1
    assert checked >= 8
    busy = 0
    for site_id, rooms in reports.items():
        for usage in rooms:
            if usage.capacity is None or isinstance(usage.average_of_capacity, Suppressed):
                continue
            assert usage.average_of_capacity is not None
            assert usage.peak_of_capacity is not None
            assert not isinstance(usage.peak_of_capacity, Suppressed)
            assert usage.average_of_capacity <= 1.0, (site_id, usage.room_id)
            assert usage.peak_of_capacity <= 1.0, (site_id, usage.room_id)
            # Averages stay well below the capacity; busy desk rooms may touch it at peaks.
            assert usage.average_of_capacity <= 0.9, (site_id, usage.room_id)
            busy += usage.peak_of_capacity >= 0.5
    assert busy >= 2  # the rooms are used, not sized for nobody
