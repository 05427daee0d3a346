"""Rollups are incremental: a second refresh does nothing, a new row recomputes only its day,
and the incremental result equals a rebuild from scratch (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from hub.db.models import InsightMemberDay, InsightRollupDay, InsightRoomHour, PresenceSession
from hub.insights.rollups import mark_dirty, refresh
from hub.insights.synthetic import SyntheticSpec, generate

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def snapshot(session: Session) -> set[tuple[object, ...]]:
    rows = session.execute(
        select(
            InsightMemberDay.member_id,
            InsightMemberDay.day,
            InsightMemberDay.sessions,
            InsightMemberDay.minutes_on_site,
            InsightMemberDay.moments_attended,
        )
    ).all()
    return {(m, d, s, round(mi, 3), a) for m, d, s, mi, a in rows}


def test_refresh_is_incremental_and_equals_a_rebuild(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        generate(session, SyntheticSpec(seed=5, sites=1, members_per_site=20, days=28))
        first = refresh(session, NOW)
        assert first.days == 20
        assert first.member_days > 100
        assert first.room_hours > 100
        assert refresh(session, NOW).days == 0
        member_id = session.scalars(select(PresenceSession.member_id)).first()
        session.add(
            PresenceSession(
                member_id=member_id,
                site_id="ekilibre",
                arrived_at=datetime(2025, 12, 6, 9, tzinfo=UTC),
                arrival_source="badge",
                last_seen_at=datetime(2025, 12, 6, 11, tzinfo=UTC),
                departed_at=datetime(2025, 12, 6, 11, tzinfo=UTC),
                departure_source="badge",
            )
        )
        session.flush()
        again = refresh(session, NOW)
        assert again.days == 1  # Saturday 6 December only
        saturday = session.get(InsightMemberDay, ("ekilibre", member_id, date(2025, 12, 6)))
        assert saturday is not None
        assert saturday.minutes_on_site == 120
        mark_dirty(session, "ekilibre", [date(2025, 12, 1)])
        assert refresh(session, NOW).days == 1
        incremental = snapshot(session)
        session.execute(delete(InsightMemberDay))
        session.execute(delete(InsightRoomHour))
        session.execute(delete(InsightRollupDay))
        session.execute(delete(InsightRollupDay))
    with sessions.begin() as session:
        from hub.db.models import InsightRollupMark

        session.execute(delete(InsightRollupMark))
        refresh(session, NOW)
        assert snapshot(session) == incremental


def test_days_still_settling_are_recomputed(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        generate(session, SyntheticSpec(seed=6, sites=1, members_per_site=10, days=7))
        early = datetime(2025, 11, 28, 20, tzinfo=UTC)  # Friday evening: days not final yet
        assert refresh(session, early).days == 5
        assert refresh(session, early).days >= 2  # the last two days are still settling
        assert refresh(session, NOW).days >= 2
        assert refresh(session, NOW).days == 0
