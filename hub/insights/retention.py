"""Retention of the member rollups: per-member days live as long as the identified data.

``insight_member_days`` holds, per member and day, when they were on site and for how long in
which kind of room: personal data derived from the presence sessions and room dwell that
:mod:`hub.retention` keeps only ``retention.identified_days`` (90 by default). A daily rollup
kept for a year would keep those movements for a year, so member days expire with the raw rows
they summarise (the same site-local cut-off, in the same daily run).

Before they go, the posture weeks that rest on them are folded into anonymous, site-level
counts (``insight_posture_weeks``: members per posture and the summed value index of the
period ending with each week), so a year's posture trend stays on the page; the
per-member classifications of those weeks (transitions, conversions, the reach of moments,
nudge segments) are not kept. A week is folded once its posture window (``period_days``
ending with it) reaches a day that expires; the window's later days are all final by then
(the cut-off is months old). Folded weeks keep the posture thresholds in force when they were
folded. The member weeks built from those days (``insight_member_weeks``,
:mod:`hub.insights.weeks`) go with them: the weeks wholly before the cut-off are deleted, the
week holding it and the windows reaching it are recomputed from the days that remain. Room
hours (``insight_room_hours``: per room and hour, no member) are not personal data and stay.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from hub.db.models import InsightMemberDay, InsightPostureWeek
from hub.insights.posture import Posture
from hub.insights.reports.period import Period, weeks_of
from hub.insights.reports.postures import timeline
from hub.insights.settings import InsightsSettings
from hub.insights.weeks import expire_weeks

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RollupExpiry:
    """What one expiry did at one site."""

    weeks_folded: int
    member_days_deleted: int


def expire_member_days(
    session: Session, site_id: str, cutoff: date, settings: InsightsSettings
) -> RollupExpiry:
    """Fold the posture weeks resting on member days before *cutoff* (a site-local day), then
    delete those days."""
    d = InsightMemberDay
    first = session.scalar(select(func.min(d.day)).where(d.site_id == site_id, d.day < cutoff))
    if first is None:
        return RollupExpiry(0, 0)
    span = settings.posture.period_days
    # Weeks whose window [W + 7 − span, W + 7) touches a day before the cut-off.
    last_end = cutoff + timedelta(days=span - 7)
    monday = first - timedelta(days=first.weekday())
    # Read whole weeks: up to the Monday after the last week to fold.
    period = Period(site_id, monday, last_end + timedelta(days=(7 - last_end.weekday()) % 7))
    folded = set(
        session.scalars(
            select(InsightPostureWeek.week_start).where(
                InsightPostureWeek.site_id == site_id,
                InsightPostureWeek.week_start >= period.start,
                InsightPostureWeek.week_start < period.end,
            )
        )
    )
    weeks = [w for w in weeks_of(period) if w < last_end and w not in folded]
    if weeks:
        line, _ = timeline(session, period, settings)
        for week in weeks:
            found = [c[week] for c in line.by_member.values() if week in c]
            counts = Counter(c.posture for c in found)
            session.add(
                InsightPostureWeek(
                    site_id=site_id,
                    week_start=week,
                    absent=counts.get(Posture.ABSENT, 0),
                    tenant=counts.get(Posture.TENANT, 0),
                    occasional=counts.get(Posture.OCCASIONAL, 0),
                    coworker=counts.get(Posture.COWORKER, 0),
                    value_sum=math.fsum(c.value for c in found),
                )
            )
        session.flush()
    result = session.execute(delete(d).where(d.site_id == site_id, d.day < cutoff))
    deleted = int(getattr(result, "rowcount", 0) or 0)
    expire_weeks(session, site_id, cutoff, settings)
    log.info(
        "insights retention at %s: %d posture week(s) folded, %d member day(s) deleted",
        site_id,
        len(weeks),
        deleted,
    )
    return RollupExpiry(len(weeks), deleted)
