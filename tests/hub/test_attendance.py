"""Attendance of moments: dwell overlap, taps at the room reader, staff marks, never a downgrade."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from hub.attendance import (
    AttendanceError,
    AttendanceSettings,
    attendees,
    dwell_confidence,
    infer_attendance,
    mark_attendance,
)
from hub.config import HubConfig
from hub.db.models import Attendance, BadgeTap, Moment, RoomDwell, TapOutcome
from hub.members import add_member
from hub.moments import add_moment, cancel_moment

SITE = "ekilibre"
START = datetime(2026, 11, 26, 8, 30, tzinfo=UTC)  # 09:30 in Paris
SETTINGS = AttendanceSettings()


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def member(sessions: sessionmaker[Session], name: str = "Léa") -> int:
    with sessions.begin() as session:
        return add_member(session, name).id


def moment(
    sessions: sessionmaker[Session],
    site_config: HubConfig,
    length: timedelta = timedelta(hours=2),
    room: str = "cuisine",
) -> int:
    with sessions.begin() as session:
        created = add_moment(
            session,
            site_config.sites[0],
            room_id=room,
            title="Petit-déjeuner",
            kind="breakfast",
            starts_at=START,
            ends_at=START + length,
            now=START - timedelta(days=1),
        )
        session.flush()
        return created.id


def dwell(
    sessions: sessionmaker[Session],
    member_id: int,
    entered: datetime,
    left: datetime | None,
    room: str = "cuisine",
) -> None:
    with sessions.begin() as session:
        session.add(
            RoomDwell(
                member_id=member_id,
                site_id=SITE,
                room_id=room,
                entered_at=entered,
                left_at=left,
                source="ble",
            )
        )


def tap(
    sessions: sessionmaker[Session], member_id: int, at: datetime, room: str = "cuisine"
) -> None:
    with sessions.begin() as session:
        session.add(
            BadgeTap(
                site_id=SITE,
                node_id="entree",
                room_id=room,
                reader="lecteur",
                msg_id=f"m{at.timestamp()}",
                credential="c" * 32,
                member_id=member_id,
                outcome=TapOutcome.ACCEPTED.value,
                observed_at=at,
                received_at=at,
            )
        )


def infer(
    sessions: sessionmaker[Session], moment_id: int, now: datetime
) -> list[tuple[int, str, float, datetime | None, float]]:
    with sessions.begin() as session:
        rows = infer_attendance(session, session.get_one(Moment, moment_id), SETTINGS, now)
        return [
            (r.member_id, r.source, r.confidence, r.first_seen_at, r.minutes_present) for r in rows
        ]


def test_threshold_is_the_shorter_of_minutes_and_share() -> None:
    long = Moment(starts_at=START, ends_at=START + timedelta(hours=2))
    short = Moment(starts_at=START, ends_at=START + minutes(20))
    assert SETTINGS.threshold(long) == minutes(15)
    assert SETTINGS.threshold(short) == minutes(10)
    assert AttendanceSettings(min_minutes=30, min_share=0.1).threshold(long) == minutes(12)


def test_exactly_fifteen_minutes_counts_fourteen_does_not(
    sessions: sessionmaker[Session], site_config: HubConfig
) -> None:
    lea, tom = member(sessions, "Léa"), member(sessions, "Tom")
    moment_id = moment(sessions, site_config)
    dwell(sessions, lea, START + minutes(30), START + minutes(45))
    dwell(sessions, tom, START + minutes(30), START + minutes(44))
    end = START + timedelta(hours=2)
    assert infer(sessions, moment_id, end) == [
        (lea, "dwell", dwell_confidence(minutes(15), timedelta(hours=2)), START + minutes(30), 15)
    ]


def test_short_moment_needs_half_its_length(
    sessions: sessionmaker[Session], site_config: HubConfig
) -> None:
    lea, tom = member(sessions, "Léa"), member(sessions, "Tom")
    moment_id = moment(sessions, site_config, length=minutes(20))
    dwell(sessions, lea, START + minutes(5), START + minutes(15))
    dwell(sessions, tom, START + minutes(5), START + minutes(14))
    rows = infer(sessions, moment_id, START + minutes(20))
    assert [(r[0], r[1], r[4]) for r in rows] == [(lea, "dwell", 10)]
    assert rows[0][2] == pytest.approx(0.7)  # half the moment: 0.5 + 0.4 × 0.5


def test_dwell_segments_are_summed_and_other_rooms_do_not_count(
    sessions: sessionmaker[Session], site_config: HubConfig
) -> None:
    lea, tom = member(sessions, "Léa"), member(sessions, "Tom")
    moment_id = moment(sessions, site_config)
    # Léa pops out to her desk in between: 8 + 8 minutes in the kitchen.
    dwell(sessions, lea, START + minutes(10), START + minutes(18))
    dwell(sessions, lea, START + minutes(18), START + minutes(40), room="open-space")
    dwell(sessions, lea, START + minutes(40), START + minutes(48))
    # Tom spends the whole moment in the open space next door.
    dwell(sessions, tom, START, START + timedelta(hours=2), room="open-space")
    rows = infer(sessions, moment_id, START + timedelta(hours=2))
    assert [(r[0], r[3], r[4]) for r in rows] == [(lea, START + minutes(10), 16)]


def test_dwell_started_before_the_moment_counts_only_inside_it(
    sessions: sessionmaker[Session], site_config: HubConfig
) -> None:
    lea, tom = member(sessions, "Léa"), member(sessions, "Tom")
    moment_id = moment(sessions, site_config)
    dwell(sessions, lea, START - timedelta(hours=1), START + minutes(15))  # 15 inside
    dwell(sessions, tom, START - timedelta(hours=1), START + minutes(10))  # 10 inside
    rows = infer(sessions, moment_id, START + timedelta(hours=3))
    assert [(r[0], r[3], r[4]) for r in rows] == [(lea, START, 15)]


def test_open_dwell_counts_until_now_while_the_moment_is_on(
    sessions: sessionmaker[Session], site_config: HubConfig
) -> None:
    lea = member(sessions)
    moment_id = moment(sessions, site_config)
    dwell(sessions, lea, START + minutes(5), None)
    assert infer(sessions, moment_id, START + minutes(19)) == []
    rows = infer(sessions, moment_id, START + minutes(20))
    assert [(r[0], r[1], r[4]) for r in rows] == [(lea, "dwell", 15)]
    # Later, the longer stay raises the confidence (same source, better evidence).
    later = infer(sessions, moment_id, START + timedelta(hours=2))
    assert later[0][2] > rows[0][2]
    assert later[0][4] == 115


def test_tap_during_the_moment_counts_outside_does_not(
    sessions: sessionmaker[Session], site_config: HubConfig
) -> None:
    lea, tom, zoe = member(sessions, "Léa"), member(sessions, "Tom"), member(sessions, "Zoé")
    moment_id = moment(sessions, site_config)
    tap(sessions, lea, START + minutes(3))
    tap(sessions, lea, START + minutes(50))
    tap(sessions, tom, START - minutes(1))  # before it starts
    tap(sessions, tom, START + timedelta(hours=2))  # the end is excluded
    tap(sessions, zoe, START + minutes(10), room="accueil")  # another room's reader
    assert infer(sessions, moment_id, START + timedelta(hours=3)) == [
        (lea, "tap", 1.0, START + minutes(3), 0)
    ]


def test_tap_beats_dwell_and_keeps_its_minutes(
    sessions: sessionmaker[Session], site_config: HubConfig
) -> None:
    lea = member(sessions)
    moment_id = moment(sessions, site_config)
    dwell(sessions, lea, START + minutes(20), START + minutes(60))
    assert infer(sessions, moment_id, START + minutes(40))[0][1] == "dwell"
    tap(sessions, lea, START + minutes(45))
    assert infer(sessions, moment_id, START + timedelta(hours=2)) == [
        (lea, "tap", 1.0, START + minutes(20), 40)
    ]


def test_staff_mark_wins_and_is_never_downgraded(
    sessions: sessionmaker[Session], site_config: HubConfig
) -> None:
    lea, tom = member(sessions, "Léa"), member(sessions, "Tom")
    moment_id = moment(sessions, site_config)
    dwell(sessions, lea, START, START + minutes(30))
    infer(sessions, moment_id, START + timedelta(hours=2))
    marked_at = START + timedelta(hours=3)
    with sessions.begin() as session:
        the_moment = session.get_one(Moment, moment_id)
        mark_attendance(session, the_moment, lea, marked_at)
        mark_attendance(session, the_moment, tom, marked_at)  # no sensor saw Tom
    tap(sessions, tom, START + minutes(5))
    rows = infer(sessions, moment_id, START + timedelta(hours=4))
    assert [(r[0], r[1], r[2]) for r in rows] == [(lea, "staff", 1.0), (tom, "staff", 1.0)]
    # The evidence the sensors found is kept beside the staff mark.
    assert [(r[3], r[4]) for r in rows] == [(START, 30), (START + minutes(5), 0)]


def test_inference_twice_changes_nothing(
    sessions: sessionmaker[Session], site_config: HubConfig
) -> None:
    lea, tom = member(sessions, "Léa"), member(sessions, "Tom")
    moment_id = moment(sessions, site_config)
    dwell(sessions, lea, START, START + minutes(30))
    tap(sessions, tom, START + minutes(5))
    end = START + timedelta(hours=2)
    first = infer(sessions, moment_id, end)
    with sessions() as session:
        recorded = [r.recorded_at for r in attendees(session, moment_id)]
    again = infer(sessions, moment_id, end + timedelta(hours=1))
    with sessions() as session:
        assert [r.recorded_at for r in attendees(session, moment_id)] == recorded
        assert session.query(Attendance).count() == 2
    assert again == first
    assert recorded == [end, end]


def test_cancelled_moment_gets_no_attendance(
    sessions: sessionmaker[Session], site_config: HubConfig
) -> None:
    lea = member(sessions)
    moment_id = moment(sessions, site_config)
    dwell(sessions, lea, START, START + timedelta(hours=2))
    tap(sessions, lea, START + minutes(5))
    with sessions.begin() as session:
        cancel_moment(session, site_config.sites[0], moment_id, now=START - timedelta(hours=1))
    assert infer(sessions, moment_id, START + timedelta(hours=3)) == []
    with pytest.raises(AttendanceError, match="cancelled"), sessions.begin() as session:
        mark_attendance(session, session.get_one(Moment, moment_id), lea, START)


def test_nothing_is_inferred_before_the_moment_starts(
    sessions: sessionmaker[Session], site_config: HubConfig
) -> None:
    lea = member(sessions)
    moment_id = moment(sessions, site_config)
    dwell(sessions, lea, START - timedelta(hours=1), None)
    assert infer(sessions, moment_id, START) == []
