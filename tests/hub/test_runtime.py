"""The hub's periodic jobs, run by hand with a chosen clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from hub.config import HubConfig
from hub.db.migrate import upgrade
from hub.db.models import Attendance, Consent, RoomDwell
from hub.members import add_member
from hub.moments import add_moment
from hub.runtime import HubRuntime
from hub.sites import sync_sites

T0 = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)


@pytest.fixture
def runtime(site_config: HubConfig) -> Iterator[HubRuntime]:
    hub = HubRuntime(site_config)
    upgrade(hub.engine)
    with hub.sessions.begin() as session:
        sync_sites(session, site_config)
    yield hub
    hub.engine.dispose()


def test_attendance_is_inferred_for_moments_in_progress(
    runtime: HubRuntime, site_config: HubConfig
) -> None:
    site = site_config.sites[0]
    with runtime.sessions.begin() as session:
        came = add_member(session, "Léa", consents=[Consent.ROOM_LOCATION])
        stayed_away = add_member(session, "Hugo", consents=[Consent.ROOM_LOCATION])
        breakfast = add_moment(
            session, site, room_id="cuisine", title="Petit-déjeuner", kind="breakfast",
            starts_at=T0, ends_at=T0 + timedelta(hours=1), now=T0,
        )  # fmt: skip
        session.add_all(
            [
                RoomDwell(
                    member_id=came.id,
                    site_id=site.id,
                    room_id="cuisine",
                    entered_at=T0 + timedelta(minutes=5),
                    source="ble",
                ),
                RoomDwell(
                    member_id=stayed_away.id,
                    site_id=site.id,
                    room_id="open-space",
                    entered_at=T0,
                    source="ble",
                ),
            ]
        )
        session.flush()
        came_id, moment_id = came.id, breakfast.id
    assert runtime.update_attendance(T0 + timedelta(minutes=10)) == 1
    with runtime.sessions() as session:
        assert session.scalars(select(Attendance)).all() == []  # 5 minutes: not yet
    runtime.update_attendance(T0 + timedelta(minutes=30))
    with runtime.sessions() as session:
        rows = session.scalars(select(Attendance)).all()
    assert [(r.moment_id, r.member_id, r.source) for r in rows] == [(moment_id, came_id, "dwell")]
    # Long after the moment (past the settling time) nothing is looked at any more.
    assert runtime.update_attendance(T0 + timedelta(hours=2)) == 0
