"""The reports on a small synthetic world (SQLite and PostgreSQL): shapes, privacy, CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub.config import Language
from hub.db.models import Consent, MemberConsent
from hub.insights.export import to_csv
from hub.insights.posture import Posture
from hub.insights.privacy import Suppressed
from hub.insights.reports.full import SiteInsights, site_insights
from hub.insights.reports.member import ConsentRequired, consented_insights, member_insight
from hub.insights.reports.period import Period
from hub.insights.rollups import refresh
from hub.insights.settings import InsightsSettings
from hub.insights.stats import Uplift
from hub.insights.synthetic import SyntheticSpec, Truth, generate

SPEC = SyntheticSpec(seed=11, sites=1, members_per_site=60, days=12 * 7, conversion_share=0.0)
PERIOD = Period("ekilibre", SPEC.start + timedelta(weeks=4), SPEC.start + timedelta(weeks=12))
SETTINGS = InsightsSettings()


@pytest.fixture
def world(sessions: sessionmaker[Session]) -> tuple[Truth, SiteInsights]:
    with sessions.begin() as session:
        truth = generate(session, SPEC)
        refresh(session, datetime(2026, 6, 1, tzinfo=UTC), SETTINGS)
    with sessions() as session:
        return truth, site_insights(session, PERIOD, SETTINGS)


def test_rooms_rented_as_desks_are_found(world: tuple[Truth, SiteInsights]) -> None:
    _, report = world
    rooms = {r.room_id: r for r in report.rooms}
    assert rooms["bureaux"].desk_only is True  # the tenants' private offices
    assert rooms["open-space"].desk_only is False
    assert rooms["cuisine"].desk_only is None  # not a desk room
    assert isinstance(rooms["open-space"].peak, int)
    assert rooms["open-space"].peak >= 5
    assert all(isinstance(c.average, float | Suppressed) for c in report.heatmap)
    assert {c.weekday for c in report.heatmap} <= set(range(7))


def test_posture_trend_and_suppression(world: tuple[Truth, SiteInsights]) -> None:
    truth, report = world
    weeks = report.postures.weeks
    assert len(weeks) == 8
    for week in weeks:
        shown = [c for c in week.counts.values() if isinstance(c, int)]
        hidden = [c for c in week.counts.values() if isinstance(c, Suppressed)]
        assert len(hidden) != 1  # never a single hidden cell: it would be the total minus others
        assert sum(shown) <= week.members
        assert isinstance(week.value_index, float)
        assert 0.0 <= week.value_index <= 1.0
    last = weeks[-1].counts
    true_tenants = sum(
        truth.posture(m, PERIOD.end - timedelta(days=1)) is Posture.TENANT for m in truth.postures
    )
    tenants = last[Posture.TENANT]
    assert isinstance(tenants, int)
    assert abs(tenants - true_tenants) <= 3


def test_moments_and_nudges(world: tuple[Truth, SiteInsights]) -> None:
    _, report = world
    kinds = {g.value: g for g in report.moments if g.dimension == "kind"}
    assert "breakfast" in kinds
    breakfast = kinds["breakfast"]
    assert isinstance(breakfast.rsvp_show_rate, float)
    assert 0.5 < breakfast.rsvp_show_rate < 1.0  # the generator's RSVP'd members come 80 %
    rules = {r.rule: r for r in report.nudges if r.dimension == "rule"}
    assert set(rules) == {"moment_soon", "arrival_message"}
    for row in report.nudges:
        assert isinstance(row.result, Uplift | Suppressed) or row.result is None
        if isinstance(row.result, Uplift):
            assert min(row.result.treatment.members, row.result.holdout.members) >= 5


def test_csv_export_matches_the_report(world: tuple[Truth, SiteInsights]) -> None:
    _, report = world
    rows = list(csv.DictReader(io.StringIO(to_csv(report.rooms))))
    assert [r["room_id"] for r in rows] == [r.room_id for r in report.rooms]
    for line, room in zip(rows, report.rooms, strict=True):
        if isinstance(room.peak, Suppressed):
            assert line["peak"] == ""
            assert "peak" in line["suppressed"].split()
        else:
            assert int(line["peak"]) == room.peak
    uplift_rows = list(csv.DictReader(io.StringIO(to_csv(report.nudges))))
    shown = [r for r in report.nudges if isinstance(r.result, Uplift)]
    assert shown
    first = next(
        line
        for line in uplift_rows
        if line["value"] == shown[0].value
        and line["dimension"] == shown[0].dimension
        and line["rule"] == shown[0].rule
    )
    assert float(first["result.low"]) == pytest.approx(shown[0].result.low, rel=1e-5)  # type: ignore[union-attr]


def test_member_views_need_the_insights_consent(
    sessions: sessionmaker[Session], world: tuple[Truth, SiteInsights]
) -> None:
    with sessions() as session:
        allowed = set(
            session.scalars(
                select(MemberConsent.member_id).where(MemberConsent.scope == Consent.INSIGHTS.value)
            )
        )
        listed = consented_insights(session, PERIOD, SETTINGS)
        assert listed
        assert {m.member_id for m in listed} <= allowed
        refused = next(m for m in range(1, 61) if m not in allowed)
        with pytest.raises(ConsentRequired):
            member_insight(session, refused, PERIOD, SETTINGS)
        one = member_insight(session, listed[0].member_id, PERIOD, SETTINGS)
    assert one.classification == listed[0].classification
    text = one.explanation(Language.FR)
    assert "en 4 semaines" in text
    assert "idle" not in one.explanation(Language.EN)


def test_tenants_who_became_coworkers_are_counted(sessions: sessionmaker[Session]) -> None:
    spec = SyntheticSpec(seed=12, sites=1, members_per_site=60, days=16 * 7, conversion_share=1.0)
    period = Period("ekilibre", spec.start + timedelta(weeks=4), spec.start + timedelta(weeks=16))
    with sessions.begin() as session:
        truth = generate(session, spec)
        refresh(session, datetime(2026, 6, 1, tzinfo=UTC), SETTINGS)
    with sessions() as session:
        report = site_insights(session, period, SETTINGS).conversions
    converted_truly = sum(
        len(changes) > 1
        and changes[1][1] is Posture.COWORKER
        and changes[1][0] < period.end - timedelta(weeks=4)
        for changes in truth.postures.values()
    )
    assert isinstance(report.converted, int)
    assert 5 <= report.converted <= converted_truly + 2
    shown = [n for n in report.first_moment_kind.values() if isinstance(n, int)]
    assert sum(shown) <= report.converted
    assert isinstance(report.nudged_before, int | Suppressed)
