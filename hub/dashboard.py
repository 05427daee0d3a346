"""What the staff dashboard shows of one site, right now, in the viewer's language.

Built from the database (presence, moments, attendance, node health written by ingest) and from
the live occupancy estimates in memory (:class:`~hub.live.LiveState`: the last estimate each room
published, read without touching the fusion state the ingest worker owns).

Privacy: a member on site is listed by name only if they allowed staff to see them
(:attr:`~hub.db.models.Consent.STAFF_VISIBLE`); the others are only counted. Times are rendered
in the site's time zone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.config import Language, SiteSettings
from hub.db.models import (
    Attendance,
    BadgeEnrolment,
    Consent,
    Member,
    Moment,
    Node,
    PresenceSession,
)
from hub.i18n import gettext, local_time
from hub.live import LiveState
from hub.occupancy import OccupancyFlag


def N_(message: str) -> str:
    """Mark *message* for extraction; it is translated where it is used."""
    return message


NODE_SILENT_AFTER = timedelta(minutes=5)  # nodes send telemetry every minute by default
OUTBOX_BACKLOG = 100  # more messages waiting at a node than this is worth a look
ENROLMENTS_SHOWN_FOR = timedelta(minutes=10)

SOURCE_LABELS = {
    "badge": N_("badge"),
    "ble": N_("Bluetooth tag"),
    "staff": N_("staff"),
    "cutoff": N_("daily cut-off"),
}
FLAG_LABELS = {
    OccupancyFlag.SENSOR_OFFLINE.value: N_("a sensor stopped reporting"),
    OccupancyFlag.COUNTER_CORRECTED.value: N_("door counter corrected"),
    OccupancyFlag.COUNTER_DRIFT.value: N_("door counter drifting"),
    OccupancyFlag.ESTIMATE_CAPPED.value: N_("capped at capacity"),
    OccupancyFlag.NO_DATA.value: N_("no sensor data: identified members only"),
}
NODE_STATUS_LABELS = {
    "online": N_("online"),
    "offline": N_("offline"),
    "unknown": N_("never seen"),
}
ENROLMENT_LABELS = {
    "waiting": N_("waiting for a tap"),
    "enrolled": N_("badge enrolled"),
    "expired": N_("no tap within 60 s"),
    "conflict": N_("this badge belongs to someone else"),
    "cancelled": N_("cancelled"),
}


@dataclass(frozen=True, slots=True)
class RoomLine:
    """Occupancy of one room."""

    id: str
    name: str
    kind: str
    count: int | None  # None: no estimate yet since the hub started
    capacity: int | None
    share: int | None  # percent of capacity
    confidence: int | None  # percent
    confidence_label: str
    flags: list[tuple[str, str]]  # (flag, explanation)


@dataclass(frozen=True, slots=True)
class PersonLine:
    """A member on site who allowed staff to see it."""

    member_id: int
    name: str
    arrived: str
    source: str


@dataclass(frozen=True, slots=True)
class MomentLine:
    """A moment in progress and how many take part."""

    id: int
    title: str
    room: str
    starts: str
    ends: str
    attending: int
    capacity: int | None


@dataclass(frozen=True, slots=True)
class NodeLine:
    """Health of one edge node."""

    id: str
    status: str
    status_label: str
    last_seen: str | None
    outbox: int | None
    dropped: int | None
    problem: bool


@dataclass(frozen=True, slots=True)
class EnrolmentLine:
    """A recent badge enrolment at the site."""

    id: int
    member: str
    node: str
    status: str
    status_label: str
    until: str


@dataclass(frozen=True, slots=True)
class SiteBoard:
    """Everything live the dashboard shows of one site."""

    site_id: str
    name: str
    on_site: int
    rooms: list[RoomLine] = field(default_factory=list)
    people: list[PersonLine] = field(default_factory=list)
    hidden: int = 0  # on site without staff_visible consent: counted, not named
    moments: list[MomentLine] = field(default_factory=list)
    nodes: list[NodeLine] = field(default_factory=list)
    enrolments: list[EnrolmentLine] = field(default_factory=list)

    @property
    def nodes_in_trouble(self) -> int:
        """Nodes offline, silent or with a backlog."""
        return sum(1 for node in self.nodes if node.problem)


def full_name(member: Member) -> str:
    """First and last name as staff know the member."""
    return f"{member.first_name} {member.last_name or ''}".strip()


def _confidence_label(language: Language, confidence: float) -> str:
    if confidence >= 0.75:
        return gettext(language, "reliable")
    if confidence >= 0.45:
        return gettext(language, "approximate")
    return gettext(language, "rough guess")


def rooms(site: SiteSettings, live: LiveState, language: Language) -> list[RoomLine]:
    """Each room's last published occupancy estimate."""
    site_live = live.sites.get(site.id)
    if site_live is not None:
        published = dict(site_live.published)
    else:  # served by another hub process: its retained estimates (hub.cluster_view)
        published = live.elsewhere(site.id) if live.elsewhere is not None else {}
    lines = []
    for room in site.rooms:
        estimate = published.get(room.id)
        if estimate is None:
            lines.append(
                RoomLine(
                    room.id,
                    room.name,
                    room.kind.value,
                    None,
                    room.capacity,
                    None,
                    None,
                    gettext(language, "no estimate yet"),
                    [],
                )
            )
            continue
        share = round(100 * estimate.count / room.capacity) if room.capacity else None
        flags = [(f, gettext(language, FLAG_LABELS.get(f, f))) for f in estimate.flags]
        lines.append(
            RoomLine(
                room.id,
                room.name,
                room.kind.value,
                estimate.count,
                room.capacity,
                share,
                round(100 * estimate.confidence),
                _confidence_label(language, estimate.confidence),
                flags,
            )
        )
    return lines


def board(
    session: Session,
    site: SiteSettings,
    live: LiveState,
    language: Language,
    now: datetime,
) -> SiteBoard:
    """The dashboard of *site* at *now*."""
    zone = site.timezone
    open_rows = session.execute(
        select(PresenceSession, Member)
        .join(Member, Member.id == PresenceSession.member_id)
        .where(PresenceSession.site_id == site.id, PresenceSession.departed_at.is_(None))
        .order_by(PresenceSession.arrived_at)
    ).all()
    people, hidden = [], 0
    for presence, member in open_rows:
        if not member.allows(Consent.STAFF_VISIBLE):
            hidden += 1
            continue
        source = SOURCE_LABELS.get(presence.arrival_source, presence.arrival_source)
        people.append(
            PersonLine(
                member.id,
                full_name(member),
                local_time(presence.arrived_at, zone, language),
                gettext(language, source),
            )
        )
    moments = session.scalars(
        select(Moment)
        .where(
            Moment.site_id == site.id,
            Moment.cancelled_at.is_(None),
            Moment.starts_at <= now,
            Moment.ends_at > now,
        )
        .order_by(Moment.starts_at)
    ).all()
    counts = dict(
        session.execute(
            select(Attendance.moment_id, func.count(Attendance.id))
            .where(Attendance.moment_id.in_([m.id for m in moments]))
            .group_by(Attendance.moment_id)
        ).all()
    )
    room_names = {room.id: room.name for room in site.rooms}
    moment_lines = [
        MomentLine(
            m.id,
            m.title,
            room_names.get(m.room_id, m.room_id),
            local_time(m.starts_at, zone, language),
            local_time(m.ends_at, zone, language),
            int(counts.get(m.id, 0)),
            m.capacity,
        )
        for m in moments
    ]
    return SiteBoard(
        site_id=site.id,
        name=site.name,
        on_site=len(open_rows),
        rooms=rooms(site, live, language),
        people=people,
        hidden=hidden,
        moments=moment_lines,
        nodes=nodes(session, site, language, now),
        enrolments=enrolments(session, site, language, now),
    )


def nodes(
    session: Session, site: SiteSettings, language: Language, now: datetime
) -> list[NodeLine]:
    """Health of every node of the site (configured or heard from)."""
    rows = {n.id: n for n in session.scalars(select(Node).where(Node.site_id == site.id))}
    ids = [n.id for n in site.nodes] + sorted(set(rows) - {n.id for n in site.nodes})
    lines = []
    for node_id in ids:
        row = rows.get(node_id)
        status = row.status if row is not None else "unknown"
        seen = row.last_seen_at if row is not None else None
        telemetry = (row.telemetry or {}) if row is not None else {}
        outbox = telemetry.get("outbox_depth")
        dropped = telemetry.get("dropped")
        silent = seen is None or now - seen > NODE_SILENT_AFTER
        backlog = isinstance(outbox, int) and outbox > OUTBOX_BACKLOG
        lines.append(
            NodeLine(
                node_id,
                status,
                gettext(language, NODE_STATUS_LABELS.get(status, status)),
                local_time(seen, site.timezone, language) if seen is not None else None,
                outbox if isinstance(outbox, int) else None,
                dropped if isinstance(dropped, int) else None,
                status != "online" or silent or backlog,
            )
        )
    return lines


def enrolments(
    session: Session, site: SiteSettings, language: Language, now: datetime
) -> list[EnrolmentLine]:
    """Badge enrolments of the last minutes at the site, newest first."""
    rows = session.execute(
        select(BadgeEnrolment, Member)
        .join(Member, Member.id == BadgeEnrolment.member_id)
        .where(
            BadgeEnrolment.site_id == site.id,
            BadgeEnrolment.started_at > now - ENROLMENTS_SHOWN_FOR,
        )
        .order_by(BadgeEnrolment.started_at.desc(), BadgeEnrolment.id.desc())
    ).all()
    return [
        EnrolmentLine(
            e.id,
            full_name(m),
            e.node_id,
            e.status,
            gettext(language, ENROLMENT_LABELS.get(e.status, e.status)),
            local_time(e.expires_at, site.timezone, language),
        )
        for e, m in rows
    ]


def member_choices(session: Session) -> list[tuple[int, str]]:
    """Every member, for the check-in and enrolment forms (staff manage memberships)."""
    rows = session.execute(
        select(Member.id, Member.first_name, Member.last_name).order_by(
            Member.first_name, Member.last_name, Member.id
        )
    ).all()
    return [(mid, f"{first} {last or ''}".strip()) for mid, first, last in rows]
