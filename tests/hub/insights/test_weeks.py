"""Classified member weeks (SQLite and PostgreSQL): kept up to date incrementally, equal to a
rebuild, the same report as from the member days, rebuilt when the settings change, expired
with the member days."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from hub.config import HubConfig
from hub.db.models import InsightMemberWeek, InsightPostureBasis, PresenceSession
from hub.insights.reports import postures
from hub.insights.reports.full import SiteInsights, site_insights
from hub.insights.reports.period import Period
from hub.insights.rollups import mark_dirty, refresh
from hub.insights.settings import InsightsSettings
from hub.insights.synthetic import SyntheticSpec, generate
from hub.insights.weeks import read_weeks
from hub.retention import apply_retention

SITE = "ekilibre"
SETTINGS = InsightsSettings()


def snapshot(session: Session) -> set[tuple[object, ...]]:
    """Every member week, floats rounded (sums of the same days in another order)."""
    w = InsightMemberWeek
    return {
        (
            row.member_id,
            row.week_start,
            row.active,
            row.days_on_site,
            row.moments,
            row.rsvps,
            round(row.minutes_desk, 6),
            round(row.minutes_community, 6),
            round(row.minutes_other, 6),
            row.desk_room_id,
            row.posture,
            round(row.value, 9),
        )
        for row in session.scalars(select(w).where(w.site_id == SITE))
    }


def rebuilt(session: Session, now: datetime, settings: InsightsSettings) -> set[tuple[object, ...]]:
    """The member weeks built afresh from the member days (the basis forgotten)."""
    session.execute(delete(InsightMemberWeek))
    session.execute(delete(InsightPostureBasis))
    refresh(session, now, settings)
    return snapshot(session)


def from_days(
    session: Session, period: Period, settings: InsightsSettings, monkeypatch: pytest.MonkeyPatch
) -> SiteInsights:
    """The report computed from the member days, as before the member weeks existed."""
    with monkeypatch.context() as patch:
        patch.setattr(postures, "read_weeks", lambda *args: None)
        return site_insights(session, period, settings)


def assert_same_report(fast: SiteInsights, slow: SiteInsights) -> None:
    assert fast.rooms == slow.rooms
    assert fast.heatmap == slow.heatmap
    assert fast.moments == slow.moments
    assert fast.conversions == slow.conversions
    assert fast.nudges == slow.nudges
    assert fast.postures.transitions == slow.postures.transitions
    assert len(fast.postures.weeks) == len(slow.postures.weeks)
    for new, old in zip(fast.postures.weeks, slow.postures.weeks, strict=True):
        assert new.week_start == old.week_start
        assert (new.counts, new.members) == (old.counts, old.members)
        if isinstance(old.value_index, float):
            assert new.value_index == pytest.approx(old.value_index, abs=1e-12)
        else:
            assert new.value_index == old.value_index


def test_weeks_follow_the_days_incrementally_and_equal_a_rebuild(
    sessions: sessionmaker[Session],
) -> None:
    spec = SyntheticSpec(seed=21, sites=1, members_per_site=25, days=8 * 7)
    with sessions.begin() as session:
        generate(session, spec)
        # Halfway: the weeks written so far, their last days still settling.
        halfway = datetime.combine(spec.start + timedelta(weeks=4, days=2), time(20), tzinfo=UTC)
        refresh(session, halfway, SETTINGS)
        assert session.scalar(select(func.count()).select_from(InsightMemberWeek))
        now = datetime(2026, 3, 1, tzinfo=UTC)
        refresh(session, now, SETTINGS)
        member_id = session.scalars(select(PresenceSession.member_id)).first()
        # A late session on a Saturday: its week and the windows after it change.
        saturday = spec.start + timedelta(weeks=2, days=5)
        session.add(
            PresenceSession(
                member_id=member_id,
                site_id=SITE,
                arrived_at=datetime.combine(saturday, time(9), tzinfo=UTC),
                arrival_source="badge",
                last_seen_at=datetime.combine(saturday, time(11), tzinfo=UTC),
                departed_at=datetime.combine(saturday, time(11), tzinfo=UTC),
                departure_source="badge",
            )
        )
        session.flush()
        before = snapshot(session)
        assert refresh(session, now, SETTINGS).days == 1
        incremental = snapshot(session)
        assert incremental != before  # the new day reached the weeks
        changed = {row[1] for row in incremental ^ before}
        monday = saturday - timedelta(days=saturday.weekday())
        assert changed <= {monday + timedelta(weeks=k) for k in range(4)}  # its window only
        mark_dirty(session, SITE, [spec.start + timedelta(days=10)])
        assert refresh(session, now, SETTINGS).days == 1
        assert snapshot(session) == incremental
        assert rebuilt(session, now, SETTINGS) == incremental


def test_pages_read_the_weeks_and_report_the_same_as_from_the_days(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = SyntheticSpec(seed=22, sites=1, members_per_site=40, days=14 * 7, conversion_share=1.0)
    period = Period(SITE, spec.start + timedelta(weeks=4), spec.start + timedelta(weeks=14))
    now = datetime(2026, 6, 1, tzinfo=UTC)
    with sessions.begin() as session:
        generate(session, spec)
        refresh(session, now, SETTINGS)
    with sessions() as session:
        assert read_weeks(session, period, SETTINGS) is not None  # whole weeks: the rows serve
        fast = site_insights(session, period, SETTINGS)
        assert_same_report(fast, from_days(session, period, SETTINGS, monkeypatch))
        # Not whole weeks: computed from the days.
        wednesday = Period(SITE, period.start + timedelta(days=2), period.end)
        assert read_weeks(session, wednesday, SETTINGS) is None
        assert site_insights(session, wednesday, SETTINGS).postures.weeks

    # Other thresholds: the rows no longer serve until a refresh reclassifies the site.
    other = InsightsSettings.model_validate({"posture": {"tenant_min_days": 5}})
    with sessions.begin() as session:
        assert read_weeks(session, period, other) is None
        refresh(session, now, other)
        assert read_weeks(session, period, other) is not None
        assert read_weeks(session, period, SETTINGS) is None
    with sessions() as session:
        reclassified = site_insights(session, period, other)
        assert_same_report(reclassified, from_days(session, period, other, monkeypatch))
        assert reclassified.postures.weeks != fast.postures.weeks


def test_member_weeks_expire_with_the_member_days(
    sessions: sessionmaker[Session], site_config: HubConfig
) -> None:
    settings = site_config.insights
    spec = SyntheticSpec(seed=23, sites=1, members_per_site=20, days=20 * 7)
    zone = ZoneInfo("Europe/Paris")
    # Wednesday 90 days (the default retention) after this: the cut-off falls inside a week.
    now = datetime.combine(spec.start + timedelta(weeks=20, days=2), time(3), tzinfo=zone)
    with sessions.begin() as session:
        generate(session, spec)
        refresh(session, now.astimezone(UTC), settings)
    with sessions.begin() as session:
        assert apply_retention(session, site_config, now.astimezone(UTC)).member_days > 0
    cutoff = (now - timedelta(days=90)).date()
    first_kept: date = cutoff - timedelta(days=cutoff.weekday())
    with sessions.begin() as session:
        oldest = session.scalar(select(func.min(InsightMemberWeek.week_start)))
        assert oldest is not None
        assert oldest == first_kept  # nothing of the weeks wholly before the cut-off is kept
        kept = snapshot(session)
        assert rebuilt(session, now.astimezone(UTC), settings) == kept
