"""Presence by observation time: taps, exits, BLE absence as weak evidence, staff, cut-off."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub.config import HubConfig
from hub.db.models import PresenceSession, RoomDwell
from hub.members import add_member
from hub.presence import (
    apply_badge,
    ble_absent,
    close_at_cutoff,
    cutoff_instant,
    enter_room,
    open_session,
    staff_check_in,
    staff_check_out,
)
from vivant.wire.payloads import Badge

SITE = "ekilibre"
T0 = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)  # 09:00 in Paris
CRED = "c" * 32


def tap(at: datetime, msg: str) -> Badge:
    return Badge(
        id=msg, ts=int(at.timestamp() * 1000), room="accueil", reader="porte", credential=CRED
    )


def member(sessions: sessionmaker[Session]) -> int:
    with sessions.begin() as session:
        return add_member(session, "Léa", badges=[CRED]).id


def visits(
    sessions: sessionmaker[Session],
) -> list[tuple[datetime, datetime | None, str, str | None]]:
    with sessions() as session:
        rows = session.scalars(select(PresenceSession).order_by(PresenceSession.arrived_at)).all()
        return [(r.arrived_at, r.departed_at, r.arrival_source, r.departure_source) for r in rows]


def test_tap_opens_one_session_and_repeats_keep_it(sessions: sessionmaker[Session]) -> None:
    member(sessions)
    with sessions.begin() as session:
        first = apply_badge(session, SITE, "entree", tap(T0, "1"), T0)
        again = apply_badge(session, SITE, "entree", tap(T0 + timedelta(hours=2), "2"), T0)
    assert (first.arrived, again.arrived) == (True, False)
    assert visits(sessions) == [(T0, None, "badge", None)]


def test_late_tap_moves_arrival_earlier(sessions: sessionmaker[Session]) -> None:
    member(sessions)
    with sessions.begin() as session:
        apply_badge(session, SITE, "entree", tap(T0, "1"), T0)
        replayed = apply_badge(session, SITE, "entree", tap(T0 - timedelta(minutes=40), "0"), T0)
    assert not replayed.arrived
    assert visits(sessions) == [(T0 - timedelta(minutes=40), None, "badge", None)]


def test_exit_reader_closes_and_replayed_tap_inside_closed_visit_changes_nothing(
    sessions: sessionmaker[Session],
) -> None:
    member(sessions)
    leave = T0 + timedelta(hours=8)
    with sessions.begin() as session:
        apply_badge(session, SITE, "entree", tap(T0, "1"), T0)
        out = apply_badge(session, SITE, "entree", tap(leave, "2"), leave, exit_reader=True)
        inside = apply_badge(session, SITE, "entree", tap(T0 + timedelta(hours=3), "3"), leave)
    assert out.departed
    assert not inside.arrived
    assert visits(sessions) == [(T0, leave, "badge", "badge")]


def test_ble_absence_never_beats_a_later_tap(sessions: sessionmaker[Session]) -> None:
    member_id = member(sessions)
    with sessions.begin() as session:
        apply_badge(session, SITE, "entree", tap(T0 + timedelta(minutes=30), "1"), T0)
        # The tag was last heard before the tap: the tap is stronger, the session stays.
        assert ble_absent(session, member_id, SITE, T0) is None
        closed = ble_absent(session, member_id, SITE, T0 + timedelta(hours=4))
    assert closed is not None
    assert visits(sessions) == [
        (T0 + timedelta(minutes=30), T0 + timedelta(hours=4), "badge", "ble")
    ]


def test_staff_check_in_and_out(sessions: sessionmaker[Session]) -> None:
    member_id = member(sessions)
    with sessions.begin() as session:
        staff_check_in(session, member_id, SITE, T0)
        staff_check_out(session, member_id, SITE, T0 + timedelta(hours=1))
        assert open_session(session, member_id, SITE) is None
    assert visits(sessions) == [(T0, T0 + timedelta(hours=1), "staff", "staff")]


def test_cutoff_closes_forgotten_sessions_at_last_evidence(
    sessions: sessionmaker[Session], site_config: HubConfig
) -> None:
    member_id = member(sessions)
    site = site_config.sites[0]
    assert site.cutoff == time(23, 30)
    last = T0 + timedelta(hours=9)
    with sessions.begin() as session:
        apply_badge(session, SITE, "entree", tap(T0, "1"), T0)
        apply_badge(session, SITE, "entree", tap(last, "2"), last)
        enter_room(session, member_id, SITE, "cuisine", T0 + timedelta(hours=1))
        before = close_at_cutoff(session, site, T0 + timedelta(hours=14))  # 23:00 local
        after = close_at_cutoff(session, site, T0 + timedelta(hours=15))  # 00:00 local
    assert (len(before), len(after)) == (0, 1)
    assert visits(sessions) == [(T0, last, "badge", "cutoff")]
    with sessions() as session:
        dwell = session.scalars(select(RoomDwell)).one()
    assert (dwell.room_id, dwell.left_at) == ("cuisine", last)


def test_cutoff_instant_follows_daylight_saving(site_config: HubConfig) -> None:
    site = site_config.sites[0]
    summer = datetime(2026, 7, 1, 22, 0, tzinfo=UTC)  # 00:00 Paris (UTC+2)
    winter = datetime(2026, 1, 1, 23, 0, tzinfo=UTC)  # 00:00 Paris (UTC+1)
    assert cutoff_instant(site, summer) == datetime(2026, 7, 1, 21, 30, tzinfo=UTC)
    assert cutoff_instant(site, winter) == datetime(2026, 1, 1, 22, 30, tzinfo=UTC)


def test_dwell_segments_follow_room_changes(sessions: sessionmaker[Session]) -> None:
    member_id = member(sessions)
    with sessions.begin() as session:
        enter_room(session, member_id, SITE, "open-space", T0)
        enter_room(session, member_id, SITE, "cuisine", T0 + timedelta(hours=1))
        enter_room(session, member_id, SITE, None, T0 + timedelta(hours=2))
    with sessions() as session:
        rows = session.scalars(select(RoomDwell).order_by(RoomDwell.entered_at)).all()
    assert [(r.room_id, r.entered_at, r.left_at) for r in rows] == [
        ("open-space", T0, T0 + timedelta(hours=1)),
        ("cuisine", T0 + timedelta(hours=1), T0 + timedelta(hours=2)),
    ]
