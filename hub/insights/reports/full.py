"""The full insights report of one or more sites: what an insights page shows at once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.db.models import Site
from hub.insights.reports.conversions import Conversions, conversions
from hub.insights.reports.moments import MomentGroup, moment_report
from hub.insights.reports.nudges import UpliftRow, nudge_report
from hub.insights.reports.period import Period
from hub.insights.reports.postures import PostureReport, posture_report, timeline
from hub.insights.reports.spaces import HeatCell, RoomUsage, heatmap, room_usage
from hub.insights.settings import InsightsSettings


@dataclass(frozen=True)
class SiteInsights:
    """Every report of one site over one period."""

    period: Period
    rooms: list[RoomUsage]
    heatmap: list[HeatCell]
    postures: PostureReport
    moments: list[MomentGroup]
    conversions: Conversions
    nudges: list[UpliftRow]


def site_insights(session: Session, period: Period, settings: InsightsSettings) -> SiteInsights:
    """All the reports of *period* (reads the rollups; call :func:`refresh` before)."""
    line, weeks_data = timeline(session, period, settings)
    return SiteInsights(
        period=period,
        rooms=room_usage(session, period, settings, weeks_data),
        heatmap=heatmap(session, period, settings),
        postures=posture_report(session, period, settings, line, weeks_data),
        moments=moment_report(session, period, settings, line),
        conversions=conversions(session, period, line, settings),
        nudges=nudge_report(session, period, line, settings.min_cell_members, settings.confidence),
    )


def insights(
    session: Session,
    start: date,
    end: date,
    settings: InsightsSettings | None = None,
    site_ids: list[str] | None = None,
) -> list[SiteInsights]:
    """The reports of every site (or of *site_ids*) over ``[start, end)``."""
    settings = settings or InsightsSettings()
    chosen = site_ids or list(session.scalars(select(Site.id).order_by(Site.id)))
    return [site_insights(session, Period(s, start, end), settings) for s in chosen]
