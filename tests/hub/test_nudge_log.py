"""The nudge log: decisions of both arms are recorded and resolved alike, for the uplift."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub.attendance import mark_attendance
from hub.config import HubConfig
from hub.db.models import Moment, NudgeRecord
from hub.members import add_member
from hub.moments import add_moment
from hub.nudge_log import NudgeLogError, mark_sent, record_decision, resolve_outcomes

SITE = "ekilibre"
START = datetime(2026, 11, 26, 13, 0, tzinfo=UTC)  # workshop at 14:00 in Paris
END = START + timedelta(hours=1)
TRIGGER = START - timedelta(minutes=20)
SETTLE = timedelta(hours=1)


def setup(sessions: sessionmaker[Session], site_config: HubConfig) -> tuple[int, list[int]]:
    """A workshop and four members."""
    with sessions.begin() as session:
        workshop = add_moment(
            session,
            site_config.sites[0],
            room_id="cuisine",
            title="Atelier",
            kind="workshop",
            starts_at=START,
            ends_at=END,
            now=START - timedelta(days=1),
        )
        people = [add_member(session, name) for name in ("Léa", "Tom", "Zoé", "Ali")]
        session.flush()
        return workshop.id, [p.id for p in people]


def decide(session: Session, member_id: int | None, arm: str, moment_id: int | None) -> NudgeRecord:
    if arm == "treatment":
        return record_decision(
            session,
            site_id=SITE,
            rule="moment_soon",
            decision="sent",
            triggered_at=TRIGGER,
            member_id=member_id,
            channel="email",
            variant_id="moment_soon.fr.2",
            arm="treatment",
            moment_id=moment_id,
            not_before=TRIGGER + timedelta(minutes=5),
            not_after=START,
        )
    return record_decision(
        session,
        site_id=SITE,
        rule="moment_soon",
        decision="holdout",
        triggered_at=TRIGGER,
        member_id=member_id,
        channel="email",
        variant_id="moment_soon.fr.2",
        arm="holdout",
        moment_id=moment_id,
    )


def outcomes(sessions: sessionmaker[Session]) -> list[tuple[int | None, str | None, str]]:
    with sessions() as session:
        rows = session.scalars(select(NudgeRecord).order_by(NudgeRecord.id))
        return [(r.member_id, r.arm, r.outcome) for r in rows]


def test_outcomes_resolve_for_treatment_and_holdout_after_the_moment(
    sessions: sessionmaker[Session], site_config: HubConfig
) -> None:
    moment_id, (lea, tom, zoe, ali) = setup(sessions, site_config)
    with sessions.begin() as session:
        sent = decide(session, lea, "treatment", moment_id)
        decide(session, tom, "treatment", moment_id)
        decide(session, zoe, "holdout", moment_id)
        decide(session, ali, "holdout", moment_id)
        mark_sent(session, sent.id, TRIGGER + timedelta(minutes=6))
        workshop = session.get_one(Moment, moment_id)
        mark_attendance(session, workshop, lea, END)
        mark_attendance(session, workshop, zoe, END)
    with sessions.begin() as session:
        # Not yet: the moment is on, then it needs time to settle (inference, late marks).
        assert resolve_outcomes(session, START + timedelta(minutes=30), SETTLE) == []
        assert resolve_outcomes(session, END + timedelta(minutes=59), SETTLE) == []
        done = resolve_outcomes(session, END + SETTLE, SETTLE)
        assert {r.outcome_at for r in done} == {END + SETTLE}
    assert outcomes(sessions) == [
        (lea, "treatment", "attended"),
        (tom, "treatment", "not_attended"),
        (zoe, "holdout", "attended"),
        (ali, "holdout", "not_attended"),
    ]
    with sessions.begin() as session:
        # Resolved once: later attendance changes nothing, later runs find nothing.
        mark_attendance(session, session.get_one(Moment, moment_id), tom, END + SETTLE)
        assert resolve_outcomes(session, END + 2 * SETTLE, SETTLE) == []
    assert outcomes(sessions)[1] == (tom, "treatment", "not_attended")


def test_records_without_moment_or_member_stay_pending(
    sessions: sessionmaker[Session], site_config: HubConfig
) -> None:
    moment_id, (lea, *_) = setup(sessions, site_config)
    with sessions.begin() as session:
        decide(session, lea, "treatment", None)  # nothing to measure against
        record_decision(
            session,
            site_id=SITE,
            rule="low_attendance_staff",
            decision="sent",
            triggered_at=START + timedelta(minutes=15),
            channel="staff",
            variant_id="low.fr.1",
            arm="treatment",
            moment_id=moment_id,
            not_before=START + timedelta(minutes=15),
            not_after=END,
        )
        assert resolve_outcomes(session, END + 2 * SETTLE, SETTLE) == []
    assert [o[2] for o in outcomes(sessions)] == ["pending", "pending"]


def test_skips_are_logged_with_their_reasons_and_resolved_too(
    sessions: sessionmaker[Session], site_config: HubConfig
) -> None:
    moment_id, (lea, *_) = setup(sessions, site_config)
    with sessions.begin() as session:
        record_decision(
            session,
            site_id=SITE,
            rule="moment_soon",
            decision="skipped",
            triggered_at=TRIGGER,
            member_id=lea,
            reasons=["no_consent", "quiet_hours"],
            moment_id=moment_id,
        )
        mark_attendance(session, session.get_one(Moment, moment_id), lea, END)
        (done,) = resolve_outcomes(session, END + SETTLE, SETTLE)
        assert (done.decision, done.reasons, done.outcome) == (
            "skipped",
            ["no_consent", "quiet_hours"],
            "attended",
        )
        assert (done.arm, done.channel, done.sent_at) == (None, None, None)


def test_mark_sent_keeps_the_first_delivery(
    sessions: sessionmaker[Session], site_config: HubConfig
) -> None:
    moment_id, (lea, zoe, *_) = setup(sessions, site_config)
    with sessions.begin() as session:
        sent = decide(session, lea, "treatment", moment_id)
        held = decide(session, zoe, "holdout", moment_id)
        first = TRIGGER + timedelta(minutes=6)
        mark_sent(session, sent.id, first)
        assert mark_sent(session, sent.id, first + timedelta(minutes=1)).sent_at == first
        with pytest.raises(NudgeLogError, match="not sent"):
            mark_sent(session, held.id, first)
        with pytest.raises(NudgeLogError, match="no nudge record"):
            mark_sent(session, 999_999, first)


def test_inconsistent_decisions_are_refused(
    sessions: sessionmaker[Session], site_config: HubConfig
) -> None:
    with sessions.begin() as session:
        with pytest.raises(NudgeLogError, match="unknown rule"):
            record_decision(
                session, site_id=SITE, rule="spam", decision="skipped", triggered_at=TRIGGER
            )
        with pytest.raises(NudgeLogError, match="unknown channel"):
            record_decision(
                session,
                rule="moment_soon",
                decision="skipped",
                channel="pigeon",
                site_id=SITE,
                triggered_at=TRIGGER,
            )
        with pytest.raises(NudgeLogError, match="treatment arm"):
            record_decision(
                session,
                rule="moment_soon",
                decision="sent",
                arm="holdout",
                channel="email",
                not_before=TRIGGER,
                not_after=START,
                site_id=SITE,
                triggered_at=TRIGGER,
            )
        with pytest.raises(NudgeLogError, match="holdout arm"):
            record_decision(
                session,
                rule="moment_soon",
                decision="holdout",
                arm="treatment",
                site_id=SITE,
                triggered_at=TRIGGER,
            )
