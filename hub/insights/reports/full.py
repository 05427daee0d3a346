"""The full insights report of one or more sites: what an insights page shows at once.

A report allocates a few hundred thousand small objects (rows, keys, counters) that nearly all
live until it returns, and no reference cycles. Python's cyclic garbage collector runs every
700 net allocations and each of its older-generation passes walks every object of the process
(the hub's: live state, caches…): measured, a third of a year's report on a quiet process, more
on a busy one, for nothing to collect. The collector is therefore paused while a report is
computed (:func:`paused_gc`: re-entrant across threads, restored when the last report ends;
garbage made meanwhile is collected at the next pass as usual).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager
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


_gc_lock = threading.Lock()
_gc_pauses = 0
_gc_was_enabled = False


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while the block runs (see the module docstring)."""
    global _gc_pauses, _gc_was_enabled
    with _gc_lock:
        if _gc_pauses == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pauses += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pauses -= 1
            if _gc_pauses == 0 and _gc_was_enabled:
                gc.enable()


def site_insights(session: Session, period: Period, settings: InsightsSettings) -> SiteInsights:
    """All the reports of *period* (reads the rollups; call :func:`refresh` before)."""
    with paused_gc():
        line, weeks_data = timeline(session, period, settings)
        return SiteInsights(
            period=period,
            rooms=room_usage(session, period, settings, weeks_data),
            heatmap=heatmap(session, period, settings),
            postures=posture_report(session, period, settings, line, weeks_data),
            moments=moment_report(session, period, settings, line),
            conversions=conversions(session, period, line, settings),
            nudges=nudge_report(
                session, period, line, settings.min_cell_members, settings.confidence
            ),
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
    with paused_gc():
        return [site_insights(session, Period(s, start, end), settings) for s in chosen]
