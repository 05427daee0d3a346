"""Rollups are incremental: a second refresh does nothing, a new row recomputes only its day,
and the incremental result equals a rebuild from scratch (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from hub.config import HubConfig
from hub.db.models import (
    InsightMemberDay,
    InsightRollupDay,
    InsightRollupMark,
    InsightRoomHour,
    PresenceSession,
)
from hub.insights.rollups import mark_dirty, refresh
from hub.insights.settings import InsightsSettings
from hub.insights.synthetic import SyntheticSpec, generate
from hub.runtime import HubRuntime

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
    with sessions.begin() as session:
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


def test_the_hub_keeps_the_rollups_up_to_date(
    site_config: HubConfig, sessions: sessionmaker[Session]
) -> None:
    config = site_config.model_copy(
        update={"insights": InsightsSettings.model_validate({"settle_hours": 0})}
    )
    runtime = HubRuntime(config)
    try:
        with sessions.begin() as session:
            generate(session, SyntheticSpec(seed=8, sites=1, members_per_site=10, days=7))
        assert runtime.refresh_insights(NOW) == 5
        assert runtime.refresh_insights(NOW) == 0
    finally:
        runtime.engine.dispose()


def test_insights_settings_come_from_the_hub_configuration() -> None:
    data = {
        "sites": [{"id": "s", "name": "S", "rooms": [{"id": "r", "name": "R", "kind": "desk"}]}]
    }
    config = HubConfig.model_validate(data | {"insights": {"posture": {"absent_max_days": 1}}})
    assert config.insights.posture.absent_max_days == 1
    with pytest.raises(ValueError, match="min_cell_members"):
        HubConfig.model_validate(data | {"insights": {"min_cell_members": 2}})
