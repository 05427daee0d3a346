"""Badge enrolment by tap, read from the badge log (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub.config import HubConfig
from hub.db.models import BadgeEnrolment, BadgeTap, Credential, TapOutcome
from hub.enrolment import (
    ENROLMENT_WINDOW,
    EnrolmentError,
    cancel_enrolment,
    complete_enrolments,
    start_enrolment,
)
from hub.members import add_member
from tests.support.hub_server import NODE, SITE

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def tap(session: Session, credential: str, at: datetime, *, node: str = NODE,
        outcome: TapOutcome = TapOutcome.UNKNOWN) -> None:  # fmt: skip
    session.add(
        BadgeTap(
            site_id=SITE,
            node_id=node,
            room_id="accueil",
            reader="porte",
            msg_id=f"m-{credential}-{at.timestamp()}",
            credential=credential,
            member_id=None,
            outcome=outcome.value,
            observed_at=at,
            received_at=at,
        )
    )
    session.flush()


def status(session: Session, enrolment_id: int) -> str:
    row = session.get(BadgeEnrolment, enrolment_id)
    assert row is not None
    return row.status


def test_next_unknown_tap_in_the_window_is_enrolled(
    sessions: sessionmaker[Session], site_config: HubConfig
) -> None:
    site = site_config.sites[0]
    with sessions.begin() as session:
        member = add_member(session, "Camille")
        tap(session, "e" * 32, NOW - timedelta(seconds=5))  # before: never counts
        enrolment = start_enrolment(session, site, NODE, member.id, NOW)
        tap(session, "a" * 32, NOW + timedelta(seconds=3), outcome=TapOutcome.ACCEPTED)
        assert complete_enrolments(session, NOW + timedelta(seconds=4)) == []
        assert status(session, enrolment.id) == "waiting"
        tap(session, "b" * 32, NOW + timedelta(seconds=10))
        tap(session, "c" * 32, NOW + timedelta(seconds=12))  # a second tap: too late for this one
        settled = complete_enrolments(session, NOW + timedelta(seconds=13))
        assert [e.id for e in settled] == [enrolment.id]
        assert status(session, enrolment.id) == "enrolled"
        credential = session.scalars(select(Credential)).one()
        assert (credential.member_id, credential.kind, credential.value) == (
            member.id,
            "badge",
            "b" * 32,
        )
        assert complete_enrolments(session, NOW + timedelta(seconds=20)) == []  # settled once


def test_no_tap_expires_and_late_taps_do_not_count(
    sessions: sessionmaker[Session], site_config: HubConfig
) -> None:
    site = site_config.sites[0]
    with sessions.begin() as session:
        member = add_member(session, "Inès")
        enrolment = start_enrolment(session, site, NODE, member.id, NOW)
        tap(session, "d" * 32, NOW + ENROLMENT_WINDOW + timedelta(seconds=1))
        assert complete_enrolments(session, NOW + ENROLMENT_WINDOW) == []
        settled = complete_enrolments(session, NOW + ENROLMENT_WINDOW + timedelta(seconds=2))
        assert [e.status for e in settled] == ["expired"]
        assert session.scalars(select(Credential)).all() == []
        assert status(session, enrolment.id) == "expired"


def test_a_badge_of_someone_else_is_a_conflict(
    sessions: sessionmaker[Session], site_config: HubConfig
) -> None:
    site = site_config.sites[0]
    with sessions.begin() as session:
        owner = add_member(session, "Zoé")
        other = add_member(session, "Hugo")
        enrolment = start_enrolment(session, site, NODE, other.id, NOW)
        tap(session, "f" * 32, NOW + timedelta(seconds=2))  # unknown when tapped...
        owner.credentials.append(Credential(kind="badge", value="f" * 32, created_at=NOW))
        session.flush()  # ...enrolled for Zoé meanwhile
        complete_enrolments(session, NOW + timedelta(seconds=3))
        assert status(session, enrolment.id) == "conflict"
        assert [c.member_id for c in session.scalars(select(Credential))] == [owner.id]


def test_a_new_enrolment_at_the_node_cancels_the_waiting_one(
    sessions: sessionmaker[Session], site_config: HubConfig
) -> None:
    site = site_config.sites[0]
    with sessions.begin() as session:
        first = add_member(session, "Léa")
        second = add_member(session, "Noé")
        one = start_enrolment(session, site, NODE, first.id, NOW)
        two = start_enrolment(session, site, NODE, second.id, NOW + timedelta(seconds=5))
        assert status(session, one.id) == "cancelled"
        tap(session, "9" * 32, NOW + timedelta(seconds=6))
        complete_enrolments(session, NOW + timedelta(seconds=7))
        assert status(session, two.id) == "enrolled"
        assert session.scalars(select(Credential.member_id)).one() == second.id
        assert not cancel_enrolment(session, two.id, NOW)
        with pytest.raises(EnrolmentError, match="unknown node"):
            start_enrolment(session, site, "cave", first.id, NOW)
        with pytest.raises(EnrolmentError, match="unknown member"):
            start_enrolment(session, site, NODE, 999_999, NOW)
