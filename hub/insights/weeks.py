"""Member weeks, classified as the rollups change: a page reads postures instead of computing them.

A year's insights page classifies every member of a site at every week (the posture of the
``period_days`` ending with it, :mod:`hub.insights.reports.postures`): summed from a year of
member days and classified afresh, that was most of an uncached page. ``insight_member_weeks``
keeps, per site, member and week, the week's sums and the posture and value index of the window
ending with it, and :func:`roll_weeks` keeps it up to date **incrementally**: a refresh that
recomputes some days recomputes only their weeks and the weeks whose window reaches them.

* A row exists for each week the member has member days (``active``) and for the weeks after it
  whose window still reaches one (weekly sums zero, posture of the window). Later weeks, whose
  window is empty, have no row: their posture is *absent* with a value of 0, which a page
  fills in.
* The postures follow the site's *basis*, a digest of the posture and value settings they were
  computed with (``insight_posture_bases``). When the settings change (or after the upgrade
  that created the table) the next refresh rebuilds the site's weeks; a page whose settings do
  not match the basis computes from the member days, as before.
* A row is computed from exactly what a page read from the days (the same grouped query, the
  same window sums, the same classification), so both paths give the same report; a page uses
  the rows only when its period starts and ends on a Monday, where every window it needs lies
  in whole weeks (the default period does; any other falls back to the days).
* Retention deletes the member weeks with the member days (:mod:`hub.insights.retention`), and
  erasing a member deletes theirs by cascade.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import date, timedelta
from typing import NamedTuple

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from hub.db.models import InsightMemberDay, InsightMemberWeek, InsightPostureBasis
from hub.insights.posture import Posture, classify
from hub.insights.reports.period import MemberWeek, Period, member_weeks, trailing_periods
from hub.insights.settings import InsightsSettings
from hub.insights.value import member_value

_WEEK = timedelta(weeks=1)
_CHUNK = 5000


class Judged(NamedTuple):
    """A member's posture over the window ending with one week, and its value index."""

    posture: Posture
    value: float


ABSENT = Judged(Posture.ABSENT, 0.0)
"""A week whose window holds no member day: what classifying an empty window gives."""


def basis(settings: InsightsSettings) -> str:
    """A digest of the settings a classification depends on (thresholds, window, weights)."""
    text = settings.posture.model_dump_json() + settings.value.model_dump_json()
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def monday(day: date) -> date:
    """The Monday of *day*'s week."""
    return day - timedelta(days=day.weekday())


def roll_weeks(
    session: Session, site_id: str, weeks: Iterable[date], settings: InsightsSettings
) -> int:
    """Recompute the member weeks touched by changed member days in *weeks* (Mondays); returns
    the rows written. Rebuilds the whole site when its basis is not *settings*."""
    key = basis(settings)
    stored = session.get(InsightPostureBasis, site_id)
    span = settings.posture.period_days // 7
    if stored is None or stored.basis != key:
        return _rebuild(session, site_id, settings, key, stored)
    touched = set(weeks)
    if not touched:
        return 0
    targets = {week + _WEEK * k for week in touched for k in range(span)}
    first, last = min(targets) - _WEEK * (span - 1), max(targets) + _WEEK
    data = member_weeks(session, Period(site_id, first, last))
    w = InsightMemberWeek
    for chunk in _chunks(sorted(targets)):
        session.execute(delete(w).where(w.site_id == site_id, w.week_start.in_(chunk)))
    return _write(session, site_id, data, targets, settings)


def _rebuild(
    session: Session,
    site_id: str,
    settings: InsightsSettings,
    key: str,
    stored: InsightPostureBasis | None,
) -> int:
    d = InsightMemberDay
    first, last = session.execute(
        select(func.min(d.day), func.max(d.day)).where(d.site_id == site_id)
    ).one()
    session.execute(delete(InsightMemberWeek).where(InsightMemberWeek.site_id == site_id))
    written = 0
    if first is not None:
        span = settings.posture.period_days // 7
        data = member_weeks(session, Period(site_id, monday(first), last + timedelta(days=1)))
        targets = {
            week + _WEEK * k for weeks in data.values() for week in weeks for k in range(span)
        }
        written = _write(session, site_id, data, targets, settings)
    if stored is None:
        session.add(InsightPostureBasis(site_id=site_id, basis=key))
    else:
        stored.basis = key
    session.flush()
    return written


def _write(
    session: Session,
    site_id: str,
    data: dict[int, dict[date, MemberWeek]],
    targets: set[date],
    settings: InsightsSettings,
) -> int:
    """Insert the rows of *targets* (weeks) for every member in *data* whose window has days."""
    span = settings.posture.period_days // 7
    rows: list[dict[str, object]] = []
    for member_id, weeks in data.items():
        ends = sorted(
            {week + _WEEK * k for week in weeks for k in range(span)} & targets
        )  # the weeks whose window reaches one of the member's weeks
        periods = trailing_periods(weeks, ends, settings.posture.period_days)
        for end in ends:
            period = periods[end]
            row = weeks.get(end)
            rows.append(
                {
                    "site_id": site_id,
                    "member_id": member_id,
                    "week_start": end,
                    "active": row is not None,
                    "days_on_site": row.days_on_site if row else 0,
                    "moments": row.moments if row else 0,
                    "rsvps": row.rsvps if row else 0,
                    "minutes_desk": row.minutes_desk if row else 0.0,
                    "minutes_community": row.minutes_community if row else 0.0,
                    "minutes_other": row.minutes_other if row else 0.0,
                    "desk_room_id": row.desk_room_id if row else None,
                    "posture": classify(period, settings.posture).posture.value,
                    "value": member_value(period, settings.value),
                }
            )
    for start in range(0, len(rows), _CHUNK):
        session.execute(insert(InsightMemberWeek), rows[start : start + _CHUNK])
    return len(rows)


def expire_weeks(session: Session, site_id: str, cutoff: date, settings: InsightsSettings) -> None:
    """After the member days before *cutoff* were deleted: delete the weeks wholly before it and
    recompute the week holding it (and the windows reaching it) from the days that remain."""
    w = InsightMemberWeek
    first = monday(cutoff)
    session.execute(delete(w).where(w.site_id == site_id, w.week_start < first))
    roll_weeks(session, site_id, [first], settings)


def read_weeks(
    session: Session, period: Period, settings: InsightsSettings
) -> tuple[dict[int, dict[date, MemberWeek]], dict[int, dict[date, Judged]]] | None:
    """The member weeks of ``[start − period_days, end)`` and the classified ones: who was seen
    in that span, and their posture at every week from ``start − 1 week`` on (from their first
    week seen). None when the rows cannot serve *period* (not whole weeks, another basis)."""
    if period.start.weekday() != 0 or period.end.weekday() != 0:
        return None
    stored = session.get(InsightPostureBasis, period.site_id)
    if stored is None or stored.basis != basis(settings):
        return None
    w = InsightMemberWeek
    first = period.start - timedelta(days=settings.posture.period_days)
    query = (
        select(
            w.member_id,
            w.week_start,
            w.active,
            w.days_on_site,
            w.moments,
            w.rsvps,
            w.minutes_desk,
            w.minutes_community,
            w.minutes_other,
            w.desk_room_id,
            w.posture,
            w.value,
        )
        .where(w.site_id == period.site_id, w.week_start >= first, w.week_start < period.end)
        .order_by(w.member_id, w.week_start)
    )
    # The driver's own rows: SQLAlchemy's rows and date parsing cost more than the query.
    result = session.connection().execute(query)
    try:
        rows = result.cursor.fetchall()
    finally:
        result.close()
    mondays: dict[object, date] = {}  # SQLite's driver gives dates as ISO text
    seen: dict[int, dict[date, MemberWeek]] = {}
    judged: dict[int, dict[date, Judged]] = {}
    postures = {p.value: p for p in Posture}
    for member, text, active, days, moments, rsvps, desk, community, other, room, p, v in rows:
        week = mondays.get(text)
        if week is None:
            week = mondays[text] = text if isinstance(text, date) else date.fromisoformat(text)
        if active:
            weeks = seen.get(member)
            if weeks is None:
                weeks = seen[member] = {}
            weeks[week] = MemberWeek(
                member, week, days, moments, rsvps, desk, community, other, room
            )
        judged.setdefault(member, {})[week] = Judged(postures[p], v)
    return seen, {m: judged[m] for m in seen}


def _chunks(weeks: list[date]) -> Iterable[list[date]]:
    for start in range(0, len(weeks), 500):
        yield weeks[start : start + 500]
