"""Announcements on the lobby screens: "Breakfast in the kitchen in 10 min".

The nudge dispatcher (lobby-screen channel) and staff ("announce now") call :func:`announce`.
The event carries only the moment's id; each screen renders it in its own language when it
arrives, from the database, so a moment cancelled in between is not announced, and the card
names nobody.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from hub.broadcast import Broadcaster, ScreenEvent
from hub.config import Language, SiteSettings
from hub.db.models import Moment
from hub.i18n import gettext, local_time
from hub.moments import MomentView

if TYPE_CHECKING:
    from hub.runtime import HubRuntime

EVENT = "announcement"


@dataclass(frozen=True, slots=True)
class Announcement:
    """A moment to announce on the screens of one site."""

    site_id: str
    moment_id: int
    at: datetime = field(default_factory=lambda: datetime.now(UTC))
    id: str = field(default_factory=lambda: uuid.uuid4().hex)


def announce(target: HubRuntime | Broadcaster, site_id: str, moment_id: int) -> Announcement:
    """Show *moment_id* on every screen of *site_id* now (safe from any thread)."""
    broadcaster = target if isinstance(target, Broadcaster) else target.broadcaster
    announcement = Announcement(site_id=site_id, moment_id=moment_id)
    broadcaster.publish(site_id, ScreenEvent(EVENT, announcement))
    return announcement


def announcement_view(
    session: Session, announcement: Announcement, site: SiteSettings, language: Language
) -> dict[str, Any] | None:
    """The card of *announcement*, or ``None`` when the moment is gone, cancelled or over."""
    row = session.get(Moment, announcement.moment_id)
    now = announcement.at
    if row is None or row.site_id != site.id or row.cancelled_at is not None:
        return None
    moment = MomentView(
        id=row.id,
        title=row.title,
        kind=row.kind,
        room_id=row.room_id,
        room_name=(room.name if (room := site.room(row.room_id)) else row.room_id),
        starts_at=row.starts_at,
        ends_at=row.ends_at,
    )
    if moment.ends_at <= now:
        return None
    starts = local_time(moment.starts_at, site.timezone, language)
    ends = local_time(moment.ends_at, site.timezone, language)
    if moment.is_on(now):
        when = gettext(language, "happening now")
    else:
        minutes = int((moment.starts_at - now).total_seconds() // 60)
        when = (
            gettext(language, "in %(minutes)d min") % {"minutes": max(minutes, 1)}
            if minutes < 60
            else gettext(language, "at %(time)s") % {"time": starts}
        )
    return {
        "kind": "announcement",
        "id": announcement.id,
        "eyebrow": gettext(language, "Don't miss it"),
        "title": moment.title,
        "subtitle": gettext(language, "%(room)s, %(when)s")
        % {"room": moment.room_name, "when": when},
        "detail": f"{starts}–{ends}",
        "moments": [],
        "qr": None,
    }
