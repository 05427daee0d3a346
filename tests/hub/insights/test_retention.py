"""Member rollups expire with the identified data; the posture trend stays as site-level counts
(SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from hub.config import HubConfig
from hub.db.models import InsightMemberDay, InsightPostureWeek, InsightRoomHour, PresenceSession
from hub.insights.cache import watermark
from hub.insights.reports.full import site_insights
from hub.insights.reports.period import Period
from hub.insights.rollups import refresh
from hub.insights.synthetic import SyntheticSpec, generate
from hub.retention import apply_retention

SITE = "ekilibre"
SPEC = SyntheticSpec(seed=17, sites=1, members_per_site=40, days=20 * 7)
PERIOD = Period(SITE, SPEC.start + timedelta(weeks=4), SPEC.start + timedelta(weeks=20))
# Ninety days (the default retention) before this, the cut-off falls in the report's period.
NOW = datetime.combine(
    SPEC.start + timedelta(weeks=20, days=1), time(3), tzinfo=ZoneInfo("Europe/Paris")
).astimezone(UTC)


def test_member_days_expire_and_the_posture_trend_stays(
    sessions: sessionmaker[Session], site_config: HubConfig
) -> None:
    settings = site_config.insights
    with sessions.begin() as session:
        generate(session, SPEC)
        refresh(session, NOW, settings)
    with sessions() as session:
        before = site_insights(session, PERIOD, settings)
        mark = watermark(session, [SITE], PERIOD.start, PERIOD.end, 28)
        kept_rooms = session.scalar(select(func.count()).select_from(InsightRoomHour))

    with sessions.begin() as session:
        report = apply_retention(session, site_config, NOW)
    cutoff = (NOW.astimezone(ZoneInfo("Europe/Paris")) - timedelta(days=90)).date()
    assert report.member_days > 0
    assert report.posture_weeks > 0

    with sessions() as session:
        oldest = session.scalar(select(func.min(InsightMemberDay.day)))
        assert oldest is not None
        assert oldest >= cutoff  # no member day outlives the identified data it comes from
        first_session = session.scalar(select(func.min(PresenceSession.arrived_at)))
        assert first_session is not None
        assert first_session.astimezone(ZoneInfo("Europe/Paris")).date() >= cutoff
        folded = list(session.scalars(select(InsightPostureWeek.week_start)))
        # Every week whose 4-week window reached an expired day, and only those.
        assert max(folded) + timedelta(days=7 - 28) < cutoff
        assert max(folded) + timedelta(days=14 - 28) >= cutoff
        assert session.scalar(select(func.count()).select_from(InsightRoomHour)) == kept_rooms
        after = site_insights(session, PERIOD, settings)
        assert watermark(session, [SITE], PERIOD.start, PERIOD.end, 28) != mark

    # The same distribution and value index, week by week, from the counts and from the rows.
    assert len(after.postures.weeks) == len(before.postures.weeks) == 16
    assert any(w.week_start in folded for w in after.postures.weeks)
    for old, new in zip(before.postures.weeks, after.postures.weeks, strict=True):
        assert new.week_start == old.week_start
        assert new.counts == old.counts
        assert new.members == old.members
        assert isinstance(new.value_index, float)
        assert isinstance(old.value_index, float)
        assert abs(new.value_index - old.value_index) < 1e-9
    assert after.rooms == before.rooms  # room hours are not personal data: kept

    # A second run the next day folds only the week that newly reaches an expired day.
    with sessions.begin() as session:
        again = apply_retention(session, site_config, NOW + timedelta(days=7))
    assert again.posture_weeks == 1
    with sessions() as session:
        assert (
            session.scalar(select(func.count()).select_from(InsightPostureWeek)) == len(folded) + 1
        )
