"""Community moments: what staff create, edit and cancel, and what the screens show today.

Staff pages and the calendar import (:mod:`hub.calendar`) go through the same checks here, so a
moment in the database always has a known room, a known kind, aware times that end after they
start, and a short list of clean interest tags. A cancelled moment keeps its row: attendance and
insights still refer to it, and a feed that brings the event back restores it.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import Enum

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.config import SiteSettings
from hub.db.models import Moment, MomentKind

TITLE_MAX = 120
HOST_MAX = 120
TAG_MAX = 32
TAGS_MAX = 12
CAPACITY_MAX = 10_000
CANCELLED_BY_STAFF = "staff"
CANCELLED_BY_FEED = "feed"


def N_(message: str) -> str:
    """Mark *message* for extraction; the staff pages translate it (:attr:`MomentError.msgid`)."""
    return message


class MomentError(ValueError):
    """A moment cannot be saved as given; the message is meant for the staff member.

    ``str(error)`` is the English sentence (the JSON API answers it); ``msgid`` and ``params``
    let a page show it in the viewer's language (``gettext(language, msgid) % params``).
    """

    def __init__(self, msgid: str, **params: object) -> None:
        super().__init__(msgid % params if params else msgid)
        self.msgid = msgid
        self.params = params


class Keep(Enum):
    """Marker for :func:`edit_moment`: leave this field as it is."""

    KEEP = "keep"


KEEP = Keep.KEEP


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


def normalize_tags(tags: Iterable[str]) -> list[str]:
    """Interest tags trimmed, lower-cased, without duplicates, in their first order."""
    out: list[str] = []
    for raw in tags:
        tag = " ".join(unicodedata.normalize("NFC", raw).split()).lower()
        if not tag:
            continue
        if len(tag) > TAG_MAX:
            raise MomentError(
                N_("tag %(tag)r is longer than %(max)d characters"), tag=tag, max=TAG_MAX
            )
        if tag not in out:
            out.append(tag)
    if len(out) > TAGS_MAX:
        raise MomentError(N_("a moment has at most %(max)d tags"), max=TAGS_MAX)
    return out


def check_moment(
    site: SiteSettings,
    *,
    room_id: str,
    title: str,
    kind: str,
    starts_at: datetime,
    ends_at: datetime,
    capacity: int | None = None,
    host: str | None = None,
) -> None:
    """Raise :class:`MomentError` unless these values make a valid moment at *site*."""
    if site.room(room_id) is None:
        raise MomentError(N_("site %(site)r has no room %(room)r"), site=site.id, room=room_id)
    if not title.strip():
        raise MomentError(N_("a moment needs a title"))
    if len(title) > TITLE_MAX:
        raise MomentError(N_("a title has at most %(max)d characters"), max=TITLE_MAX)
    if kind not in {k.value for k in MomentKind}:
        raise MomentError(N_("unknown moment kind %(kind)r"), kind=kind)
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise MomentError(N_("moment times must be aware datetimes"))
    if ends_at <= starts_at:
        raise MomentError(N_("a moment must end after it starts"))
    if capacity is not None and not 1 <= capacity <= CAPACITY_MAX:
        raise MomentError(N_("capacity must be between 1 and %(max)d"), max=CAPACITY_MAX)
    if host is not None and len(host) > HOST_MAX:
        raise MomentError(N_("a host name has at most %(max)d characters"), max=HOST_MAX)


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
    tags: Iterable[str] = (),
    capacity: int | None = None,
    host: str | None = None,
    now: datetime | None = None,
) -> Moment:
    """Create a moment after checking its room, kind, times, tags, capacity and host."""
    title = title.strip()
    host = _clean_host(host)
    check_moment(
        site,
        room_id=room_id,
        title=title,
        kind=kind,
        starts_at=starts_at,
        ends_at=ends_at,
        capacity=capacity,
        host=host,
    )
    created = now or datetime.now(starts_at.tzinfo)
    moment = Moment(
        site_id=site.id,
        room_id=room_id,
        title=title,
        kind=kind,
        description=description,
        starts_at=starts_at,
        ends_at=ends_at,
        tags=normalize_tags(tags),
        capacity=capacity,
        host=host,
        created_at=created,
        updated_at=created,
    )
    session.add(moment)
    return moment


def get_moment(session: Session, site: SiteSettings, moment_id: int) -> Moment:
    """The moment *moment_id* of *site*, or :class:`MomentError` if there is none."""
    moment = session.get(Moment, moment_id)
    if moment is None or moment.site_id != site.id:
        raise MomentError(N_("site %(site)r has no moment %(id)d"), site=site.id, id=moment_id)
    return moment


def edit_moment(
    session: Session,
    site: SiteSettings,
    moment_id: int,
    *,
    now: datetime,
    room_id: str | Keep = KEEP,
    title: str | Keep = KEEP,
    kind: str | Keep = KEEP,
    starts_at: datetime | Keep = KEEP,
    ends_at: datetime | Keep = KEEP,
    description: str | Keep = KEEP,
    tags: Iterable[str] | Keep = KEEP,
    capacity: int | Keep | None = KEEP,
    host: str | Keep | None = KEEP,
) -> Moment:
    """Change the given fields of a moment (the others are kept) after checking the result.

    For a moment imported from a calendar feed, the feed stays the reference: a later sync
    puts back the title, kind, room, times, description and tags of the upstream event.
    """
    moment = get_moment(session, site, moment_id)
    new_room = moment.room_id if isinstance(room_id, Keep) else room_id
    new_title = moment.title if isinstance(title, Keep) else title.strip()
    new_kind = moment.kind if isinstance(kind, Keep) else kind
    new_start = moment.starts_at if isinstance(starts_at, Keep) else starts_at
    new_end = moment.ends_at if isinstance(ends_at, Keep) else ends_at
    new_capacity = moment.capacity if isinstance(capacity, Keep) else capacity
    new_host = moment.host if isinstance(host, Keep) else _clean_host(host)
    check_moment(
        site,
        room_id=new_room,
        title=new_title,
        kind=new_kind,
        starts_at=new_start,
        ends_at=new_end,
        capacity=new_capacity,
        host=new_host,
    )
    moment.room_id, moment.title, moment.kind = new_room, new_title, new_kind
    moment.starts_at, moment.ends_at = new_start, new_end
    moment.capacity, moment.host = new_capacity, new_host
    if not isinstance(description, Keep):
        moment.description = description
    if not isinstance(tags, Keep):
        moment.tags = normalize_tags(tags)
    moment.updated_at = now
    return moment


def cancel_moment(session: Session, site: SiteSettings, moment_id: int, *, now: datetime) -> Moment:
    """Cancel a moment (its row stays); cancelling twice keeps the first time."""
    moment = get_moment(session, site, moment_id)
    if moment.cancelled_at is None:
        moment.cancelled_at = now
        moment.cancelled_by = CANCELLED_BY_STAFF
        moment.updated_at = now
    return moment


def restore_moment(
    session: Session, site: SiteSettings, moment_id: int, *, now: datetime
) -> Moment:
    """Undo a cancellation."""
    moment = get_moment(session, site, moment_id)
    if moment.cancelled_at is not None:
        moment.cancelled_at = None
        moment.cancelled_by = None
        moment.updated_at = now
    return moment


def _clean_host(host: str | None) -> str | None:
    return (host or "").strip() or None
