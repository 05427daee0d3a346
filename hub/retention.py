"""Retention: identified presence, badge logs and room dwell are kept a limited time, then only
anonymous daily counts remain.

The CNIL's guidance for access-control badge logs is about three months; Vivant keeps identified
rows (:class:`~hub.db.models.PresenceSession`, :class:`~hub.db.models.BadgeTap`,
:class:`~hub.db.models.RoomDwell`) for ``retention.identified_days`` (90 by default) and then
folds them into :class:`~hub.db.models.PresenceDaily`: per site, local day and room, how many
visits, how many distinct people, how many minutes, how many taps. The member ids, credentials
and times of day are gone; the insights keep their trend lines.

Whole local days move at once (the cut-off is a site-local midnight), so the distinct-people count
of a day is exact. A closed visit that started before the cut-off is folded on its arrival day; a
session or dwell still open is never touched (the daily presence cut-off closes them long before).
Rows of a day that was already folded (a replayed outbox, months late) add to its counts, and
their people count is then an upper bound.

The insights' per-member daily rollups expire with them, at the same cut-off, after their
posture weeks are folded into site-level counts (:mod:`hub.insights.retention`).

:func:`apply_retention` takes the time as an argument: the runtime passes the wall clock once a
day, the tests travel through time.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING

from pydantic import Field
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from hub.db.models import BadgeTap, PresenceDaily, PresenceSession, RoomDwell, TapOutcome
from vivant.config_file import StrictModel

if TYPE_CHECKING:
    from hub.config import HubConfig, SiteSettings

log = logging.getLogger(__name__)

SITE_WIDE = ""
"""``room_id`` of the site-wide row of a day (presence sessions)."""
_CHUNK = 500


class RetentionSettings(StrictModel):
    """How long identified data is kept."""

    identified_days: int = Field(
        default=90,
        ge=1,
        le=400,
        description=(
            "Days identified presence, badge taps and room dwell are kept; after that only "
            "anonymous daily counts per site and room remain (CNIL: about 3 months)."
        ),
    )
    run_every_h: float = Field(
        default=24, gt=0, le=24, description="Hours between two retention runs (at most a day)."
    )


@dataclass
class _Day:
    visits: int = 0
    minutes: float = 0.0
    taps: int = 0
    unknown_taps: int = 0
    people: set[int] = field(default_factory=set)


@dataclass
class RetentionReport:
    """What one run folded into anonymous counts."""

    sessions: int = 0
    dwells: int = 0
    taps: int = 0
    days: int = 0  # (site, room, day) rows written or updated
    member_days: int = 0  # insights member-day rollups deleted
    posture_weeks: int = 0  # insights posture weeks folded into site-level counts

    def __str__(self) -> str:
        return (
            f"{self.sessions} session(s), {self.dwells} dwell(s), {self.taps} tap(s) "
            f"folded into {self.days} daily count(s); {self.member_days} member-day "
            f"rollup(s) expired, {self.posture_weeks} posture week(s) kept as counts"
        )


def retention_cutoff(site: SiteSettings, now: datetime, days: int) -> datetime:
    """The local midnight *days* days before *now*'s local day, in UTC: older rows expire."""
    local_day = now.astimezone(site.zone).date() - timedelta(days=days)
    return datetime.combine(local_day, time(0, 0), tzinfo=site.zone).astimezone(UTC)


def _local_day(at: datetime, site: SiteSettings) -> date:
    return at.astimezone(site.zone).date()


def _minutes(start: datetime, end: datetime | None) -> float:
    if end is None:  # excluded by the queries; keeps the types honest
        return 0.0
    return max(0.0, (end - start).total_seconds() / 60)


def apply_retention(
    session: Session, config: HubConfig, now: datetime, site_ids: set[str] | None = None
) -> RetentionReport:
    """Fold every expired identified row of every site into daily counts, then delete it."""
    # Imported here: the insights import the configuration, which imports this module.
    from hub.insights.retention import expire_member_days

    report = RetentionReport()
    days = config.retention.identified_days
    for site in config.sites:
        if site_ids is not None and site.id not in site_ids:
            continue  # served by another hub process (hub.cluster), which folds it
        cutoff = retention_cutoff(site, now, days)
        _site(session, site, cutoff, report)
        expiry = expire_member_days(
            session, site.id, cutoff.astimezone(site.zone).date(), config.insights
        )
        report.member_days += expiry.member_days_deleted
        report.posture_weeks += expiry.weeks_folded
    return report


def _site(session: Session, site: SiteSettings, cutoff: datetime, report: RetentionReport) -> None:
    counts: dict[tuple[str, date], _Day] = defaultdict(_Day)
    sessions = session.execute(
        select(
            PresenceSession.id,
            PresenceSession.member_id,
            PresenceSession.arrived_at,
            PresenceSession.departed_at,
        ).where(
            PresenceSession.site_id == site.id,
            PresenceSession.arrived_at < cutoff,
            PresenceSession.departed_at.is_not(None),
        )
    ).all()
    for _id, member_id, arrived, departed in sessions:
        day = counts[(SITE_WIDE, _local_day(arrived, site))]
        day.visits += 1
        day.minutes += _minutes(arrived, departed)
        day.people.add(member_id)
    dwells = session.execute(
        select(
            RoomDwell.id, RoomDwell.member_id, RoomDwell.room_id, RoomDwell.entered_at,
            RoomDwell.left_at,
        ).where(
            RoomDwell.site_id == site.id,
            RoomDwell.entered_at < cutoff,
            RoomDwell.left_at.is_not(None),
        )
    ).all()  # fmt: skip
    for _id, member_id, room_id, entered, left in dwells:
        day = counts[(room_id, _local_day(entered, site))]
        day.visits += 1
        day.minutes += _minutes(entered, left)
        day.people.add(member_id)
    taps = session.execute(
        select(
            BadgeTap.id, BadgeTap.member_id, BadgeTap.room_id, BadgeTap.observed_at,
            BadgeTap.outcome,
        ).where(BadgeTap.site_id == site.id, BadgeTap.observed_at < cutoff)
    ).all()  # fmt: skip
    for _id, tap_member, room_id, observed, outcome in taps:
        day = counts[(room_id, _local_day(observed, site))]
        if outcome == TapOutcome.ACCEPTED.value and tap_member is not None:
            day.taps += 1
            day.people.add(tap_member)
        else:
            day.unknown_taps += 1
    for (room_id, local_day), day in counts.items():
        row = session.get(PresenceDaily, (site.id, room_id, local_day))
        if row is None:
            row = PresenceDaily(
                site_id=site.id, room_id=room_id, day=local_day, visits=0, people=0, minutes=0.0,
                taps=0, unknown_taps=0,
            )  # fmt: skip
            session.add(row)
        row.visits += day.visits
        row.people += len(day.people)
        row.minutes = round(row.minutes + day.minutes, 2)
        row.taps += day.taps
        row.unknown_taps += day.unknown_taps
    session.flush()
    for model, ids in (
        (PresenceSession, [row[0] for row in sessions]),
        (RoomDwell, [row[0] for row in dwells]),
        (BadgeTap, [row[0] for row in taps]),
    ):
        for start in range(0, len(ids), _CHUNK):
            session.execute(delete(model).where(model.id.in_(ids[start : start + _CHUNK])))
    report.sessions += len(sessions)
    report.dwells += len(dwells)
    report.taps += len(taps)
    report.days += len(counts)
