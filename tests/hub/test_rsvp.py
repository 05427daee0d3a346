"""RSVP: seats, the waiting list and its promotions, and concurrent joins on both databases."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub.config import HubConfig
from hub.db.engine import make_engine, make_sessionmaker
from hub.db.models import Consent, Moment, Rsvp
from hub.members import add_member
from hub.moments import add_moment, cancel_moment
from hub.rsvp import (
    RsvpError,
    RsvpStatus,
    counts,
    going,
    going_by_moment,
    join,
    leave,
    members_joined,
    status_of,
)

T0 = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)


def workshop(db: sessionmaker[Session], config: HubConfig, capacity: int | None) -> int:
    with db.begin() as session:
        moment = add_moment(
            session, config.sites[0], room_id="cuisine", title="Atelier", kind="workshop",
            starts_at=T0 + timedelta(hours=2), ends_at=T0 + timedelta(hours=3),
            capacity=capacity, now=T0,
        )  # fmt: skip
        session.flush()
        return moment.id


def members(db: sessionmaker[Session], *names: str, screen: bool = True) -> list[int]:
    consents = [Consent.SCREEN_DISPLAY] if screen else []
    with db.begin() as session:
        return [add_member(session, name, consents=consents, now=T0).id for name in names]


def test_seats_then_waiting_list_then_promotion_in_order(
    sessions: sessionmaker[Session], site_config: HubConfig
) -> None:
    moment = workshop(sessions, site_config, capacity=2)
    ana, ben, cleo, dan = members(sessions, "Ana", "Ben", "Cléo", "Dan")
    with sessions.begin() as session:
        assert join(session, moment, ana, T0).status is RsvpStatus.GOING
        assert join(session, moment, ben, T0 + timedelta(seconds=1)).status is RsvpStatus.GOING
        assert join(session, moment, cleo, T0 + timedelta(seconds=2)).status is RsvpStatus.WAITING
        assert join(session, moment, dan, T0 + timedelta(seconds=3)).status is RsvpStatus.WAITING
        assert join(session, moment, ana, T0).status is RsvpStatus.GOING  # idempotent
    with sessions.begin() as session:
        change = leave(session, moment, ben, T0 + timedelta(minutes=1))
        assert change.promoted == (cleo,)  # the longest wait first
        assert status_of(session, moment, cleo) is RsvpStatus.GOING
        assert status_of(session, moment, dan) is RsvpStatus.WAITING
        assert status_of(session, moment, ben) is RsvpStatus.NONE
        assert going(session, moment) == (2, ["Ana", "Cléo"])
        assert members_joined(session, [moment]) == {moment: {ana, cleo, dan}}
        assert counts(session, [moment, moment + 1000]) == {moment: (2, 1), moment + 1000: (0, 0)}


def test_going_shows_only_first_names_allowed_on_screens(
    sessions: sessionmaker[Session], site_config: HubConfig
) -> None:
    moment = workshop(sessions, site_config, capacity=None)
    (shown,) = members(sessions, "Affichée")
    (hidden,) = members(sessions, "Discret", screen=False)
    with sessions.begin() as session:
        join(session, moment, shown, T0)
        join(session, moment, hidden, T0)
        assert going(session, moment) == (2, ["Affichée"])


def test_capacity_raised_promotes_and_cancelled_or_past_moments_refuse(
    sessions: sessionmaker[Session], site_config: HubConfig
) -> None:
    moment = workshop(sessions, site_config, capacity=1)
    ana, ben = members(sessions, "Ana", "Ben")
    with sessions.begin() as session:
        join(session, moment, ana, T0)
        join(session, moment, ben, T0)
        row = session.get(Moment, moment)
        assert row is not None
        row.capacity = 2
    with sessions.begin() as session:
        assert join(session, moment, ben, T0).status is RsvpStatus.GOING
    with pytest.raises(RsvpError, match="over"), sessions.begin() as session:
        join(session, moment, ana, T0 + timedelta(hours=3))
    with sessions.begin() as session:
        cancel_moment(session, site_config.sites[0], moment, now=T0)
    with pytest.raises(RsvpError, match="cancelled"), sessions.begin() as session:
        join(session, moment, ana, T0)


def test_concurrent_joins_never_exceed_capacity(
    sessions: sessionmaker[Session], site_config: HubConfig
) -> None:
    moment = workshop(sessions, site_config, capacity=3)
    people = members(sessions, *(f"Membre{i}" for i in range(8)))
    engine = make_engine(site_config.database.url)
    factory = make_sessionmaker(engine)
    barrier = threading.Barrier(len(people))
    errors: list[BaseException] = []

    def scan(member_id: int) -> None:
        try:
            barrier.wait()
            with factory.begin() as session:
                join(session, moment, member_id, T0)
        except BaseException as error:  # collected and re-raised in the test thread
            errors.append(error)

    threads = [threading.Thread(target=scan, args=(m,)) for m in people]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    finally:
        engine.dispose()
    assert errors == []
    with sessions() as session:
        statuses = list(session.scalars(select(Rsvp.status).where(Rsvp.moment_id == moment)))
    assert sorted(statuses) == ["going"] * 3 + ["waiting"] * 5


def test_going_of_several_moments_at_once_is_going_of_each(
    sessions: sessionmaker[Session], site_config: HubConfig
) -> None:
    small = workshop(sessions, site_config, capacity=1)
    large = workshop(sessions, site_config, capacity=None)
    empty = workshop(sessions, site_config, capacity=None)
    ana, ben = members(sessions, "Ana", "Ben")
    (shy,) = members(sessions, "Discret", screen=False)
    with sessions.begin() as session:
        join(session, small, ana, T0)
        join(session, small, ben, T0 + timedelta(seconds=1))  # waiting: not counted
        join(session, large, shy, T0)
        join(session, large, ben, T0 + timedelta(seconds=1))
        found = going_by_moment(session, [small, large, empty])
        assert found == {small: (1, ["Ana"]), large: (2, ["Ben"]), empty: (0, [])}
        assert found == {moment: going(session, moment) for moment in (small, large, empty)}
        assert going_by_moment(session, []) == {}
