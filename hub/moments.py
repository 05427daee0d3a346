"""Community moments as the screens see them: today's, at a site, in the site's time zone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.config import SiteSettings
from hub.db.models import Moment


@dataclass(frozen=True, slots=True)
class MomentView:
    """A moment as shown to people: no internal ids beyond what a link needs."""

    id: int
    title: str
    kind: str
    room_id: str
    room_name: str
    starts_at: datetime
    ends_at: datetime

    def is_on(self, now: datetime) -> bool:
        """Whether the moment is in progress at *now*."""
        return self.starts_at <= now < self.ends_at


def day_bounds(site: SiteSettings, now: datetime) -> tuple[datetime, datetime]:
    """Start and end (aware) of the local day that contains *now* at *site*."""
    local = now.astimezone(site.zone)
    start = datetime.combine(local.date(), time.min, tzinfo=site.zone)
    end = datetime.combine(local.date() + timedelta(days=1), time.min, tzinfo=site.zone)
    return start, end


def todays_moments(session: Session, site: SiteSettings, now: datetime) -> list[MomentView]:
    """Moments of the local day at *site*, cancelled ones left out, by start time."""
    start, end = day_bounds(site, now)
    rows = session.scalars(
        select(Moment)
        .where(
            Moment.site_id == site.id,
            Moment.cancelled_at.is_(None),
            Moment.starts_at < end,
            Moment.ends_at > start,
        )
        .order_by(Moment.starts_at, Moment.id)
    ).all()
    views = []
    for row in rows:
        room = site.room(row.room_id)
        views.append(
            MomentView(
                id=row.id,
                title=row.title,
                kind=row.kind,
                room_id=row.room_id,
                room_name=room.name if room else row.room_id,
                starts_at=row.starts_at,
                ends_at=row.ends_at,
            )
        )
    return views


def nearby(moments: list[MomentView], now: datetime, limit: int = 3) -> list[MomentView]:
    """Moments not over yet, in progress first then by start: what a greeting shows."""
    current = [m for m in moments if m.ends_at > now]
    return sorted(current, key=lambda m: (not m.is_on(now), m.starts_at))[:limit]


def add_moment(
    session: Session,
    site: SiteSettings,
    *,
    room_id: str,
    title: str,
    kind: str,
    starts_at: datetime,
    ends_at: datetime,
    description: str = "",
    now: datetime | None = None,
) -> Moment:
    """Create a moment after checking its room and times."""
    if site.room(room_id) is None:
        raise ValueError(f"site {site.id!r} has no room {room_id!r}")
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise ValueError("moment times must be aware datetimes")
    if ends_at <= starts_at:
        raise ValueError("a moment must end after it starts")
    moment = Moment(
        site_id=site.id,
        room_id=room_id,
        title=title,
        kind=kind,
        description=description,
        starts_at=starts_at,
        ends_at=ends_at,
        created_at=now or datetime.now(starts_at.tzinfo),
    )
    session.add(moment)
    return moment
