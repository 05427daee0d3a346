"""Retention through time travel: identified rows expire into anonymous daily counts."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from hub.config import HubConfig
from hub.db.models import BadgeTap, PresenceDaily, PresenceSession, PresenceSource, RoomDwell
from hub.members import add_member
from hub.presence import apply_badge, depart, enter_room
from hub.retention import SITE_WIDE, RetentionSettings, apply_retention, retention_cutoff
from hub.runtime import HubRuntime
from tests.support.hub_server import running_hub
from tests.support.mosquitto import free_port
from tests.support.waiting import wait_until
from vivant.wire.payloads import Badge

SITE = "ekilibre"
# 29 March 2026 (the clocks go forward in Paris): the day before is in winter time (UTC+1),
# the day after in summer time (UTC+2); the cut-off must still fall on local midnight.
DAY1 = datetime(2026, 3, 28, 7, 30, tzinfo=UTC)  # 08:30 in Paris
DAY2 = datetime(2026, 3, 29, 22, 30, tzinfo=UTC)  # 00:30 on 30 March in Paris (summer time)


def visit(
    session: Session, member_id: int, badge: str, arrive: datetime, hours: float, room: str
) -> None:
    """A tap at the entrance, an hour in *room*, a departure."""
    tap = Badge(
        id=f"t{member_id}-{int(arrive.timestamp())}", ts=int(arrive.timestamp() * 1000),
        room="accueil", reader="porte", credential=badge,
    )  # fmt: skip
    apply_badge(session, SITE, "entree", tap, arrive)
    enter_room(session, member_id, SITE, room, arrive + timedelta(minutes=5))
    depart(session, member_id, SITE, arrive + timedelta(hours=hours), PresenceSource.BADGE)


@pytest.fixture
def populated(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    with sessions.begin() as session:
        lea = add_member(session, "Léa", badges=["a" * 32])
        hugo = add_member(session, "Hugo", badges=["b" * 32])
        visit(session, lea.id, "a" * 32, DAY1, 2, "cuisine")
        visit(session, lea.id, "a" * 32, DAY1 + timedelta(hours=5), 1, "cuisine")
        visit(session, hugo.id, "b" * 32, DAY1 + timedelta(hours=1), 3, "open-space")
        visit(session, hugo.id, "b" * 32, DAY2, 1, "cuisine")
        session.add(
            BadgeTap(
                site_id=SITE, node_id="entree", room_id="accueil", reader="porte", msg_id="u1",
                credential="c" * 32, member_id=None, outcome="unknown", observed_at=DAY1,
                received_at=DAY1,
            )
        )  # fmt: skip
    return sessions


def count(session: Session, model: type[object]) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_the_cutoff_is_local_midnight_across_dst(site_config: HubConfig) -> None:
    site = site_config.sites[0]
    now = datetime(2026, 6, 27, 12, 0, tzinfo=UTC)
    assert retention_cutoff(site, now, 90) == datetime(2026, 3, 28, 23, 0, tzinfo=UTC)  # winter
    assert retention_cutoff(site, now, 1) == datetime(2026, 6, 25, 22, 0, tzinfo=UTC)  # summer


def test_nothing_expires_before_its_time(
    populated: sessionmaker[Session], site_config: HubConfig
) -> None:
    with populated.begin() as session:
        report = apply_retention(session, site_config, DAY2 + timedelta(days=30))
        assert (report.sessions, report.taps, report.dwells) == (0, 0, 0)
        assert count(session, PresenceDaily) == 0
        assert count(session, PresenceSession) == 4


def test_expired_days_fold_into_anonymous_counts_one_day_at_a_time(
    populated: sessionmaker[Session], site_config: HubConfig
) -> None:
    # 90 days after DAY1 (local 28 March): the 28th is older than the cut-off, the 30th not yet.
    first_run = datetime(2026, 6, 27, 9, 0, tzinfo=UTC)
    with populated.begin() as session:
        report = apply_retention(session, site_config, first_run)
    assert (report.sessions, report.dwells, report.taps) == (3, 3, 4)
    with populated() as session:
        rows = {
            (r.room_id, r.day): (r.visits, r.people, r.minutes, r.taps, r.unknown_taps)
            for r in session.scalars(select(PresenceDaily))
        }
        assert rows == {
            (SITE_WIDE, date(2026, 3, 28)): (3, 2, 360.0, 0, 0),
            ("cuisine", date(2026, 3, 28)): (2, 1, 170.0, 0, 0),
            ("open-space", date(2026, 3, 28)): (1, 1, 175.0, 0, 0),
            ("accueil", date(2026, 3, 28)): (0, 2, 0.0, 3, 1),
        }
        # What remains identified is only the later visit.
        assert count(session, PresenceSession) == 1
        assert count(session, RoomDwell) == 1
        assert count(session, BadgeTap) == 1
    # A run the same day changes nothing; two days later the 30th (local) expires too.
    with populated.begin() as session:
        assert apply_retention(session, site_config, first_run + timedelta(hours=3)).sessions == 0
        apply_retention(session, site_config, first_run + timedelta(days=2))
    with populated() as session:
        assert count(session, PresenceSession) == 0
        assert count(session, RoomDwell) == 0
        assert count(session, BadgeTap) == 0
        later = session.get(PresenceDaily, (SITE, SITE_WIDE, date(2026, 3, 30)))
        assert later is not None
        assert (later.visits, later.people, later.minutes) == (1, 1, 60.0)


def test_open_sessions_are_never_touched(
    sessions: sessionmaker[Session], site_config: HubConfig
) -> None:
    with sessions.begin() as session:
        member = add_member(session, "Ada", badges=["d" * 32])
        tap = Badge(
            id="open", ts=int(DAY1.timestamp() * 1000), room="accueil", reader="porte",
            credential="d" * 32,
        )  # fmt: skip
        apply_badge(session, SITE, "entree", tap, DAY1)
        assert member.id
    with sessions.begin() as session:
        apply_retention(session, site_config, DAY1 + timedelta(days=200))
    with sessions() as session:
        assert count(session, PresenceSession) == 1  # still open: the cut-off job closes it
        assert count(session, BadgeTap) == 0


def test_the_period_is_configurable(
    populated: sessionmaker[Session], site_config: HubConfig
) -> None:
    short = site_config.model_copy(update={"retention": RetentionSettings(identified_days=7)})
    with populated.begin() as session:
        report = apply_retention(session, short, DAY2 + timedelta(days=8))
    assert report.sessions == 4
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        RetentionSettings(identified_days=0)


def test_the_runtime_runs_retention(
    populated: sessionmaker[Session], site_config: HubConfig
) -> None:
    runtime = HubRuntime(site_config)
    try:
        report = runtime.apply_retention(DAY2 + timedelta(days=120))
    finally:
        runtime.engine.dispose()
    assert report.sessions == 4
    assert "4 session(s)" in str(report)


def test_a_running_hub_expires_old_rows_at_start(
    populated: sessionmaker[Session],
    site_config: HubConfig,
    system_broker_url: str,
    topic_root: str,
) -> None:
    """The runtime's daily task runs once at start: a hub that was off catches up at once."""
    data = site_config.model_dump(mode="json")
    data["mqtt"] = {"url": system_broker_url, "topic_root": topic_root,
                    "client_id": f"hub-{topic_root[:9]}"}  # fmt: skip
    data["http"]["port"] = free_port()
    with running_hub(HubConfig.model_validate(data)):
        wait_until(
            lambda: _count_in(populated, PresenceDaily) > 0, within=10, what="a retention run"
        )
    with populated() as session:
        assert count(session, PresenceSession) == 0  # DAY1 and DAY2 are months ago by now


def _count_in(sessions: sessionmaker[Session], model: type[object]) -> int:
    with sessions() as session:
        return count(session, model)
