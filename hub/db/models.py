"""Tables of the hub. One class per concept; names from the domain.

Sites, rooms and nodes mirror the configuration (synchronised at start) so that data rows can
refer to them. Times are aware UTC (:class:`~hub.db.types.UtcDateTime`); a site's time zone is
applied only when something is shown to a person.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from hub.db.types import UtcDateTime

# Explicit constraint names: Alembic needs them to alter constraints on every backend.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with the naming convention."""

    metadata = MetaData(naming_convention=NAMING)


class Consent(StrEnum):
    """What a member allowed. No row, no permission: the default is the least."""

    STAFF_VISIBLE = "staff_visible"  # staff may see that I am on site
    SCREEN_DISPLAY = "screen_display"  # lobby screens may show my first name
    ROOM_LOCATION = "room_location"  # room-level location and dwell may be kept
    MESSAGES = "messages"  # I accept nudges by message (legacy, any channel: see message_scope)
    INSIGHTS = "insights"  # individual insights about me may be shown to community managers


MESSAGE_SCOPE_PREFIX = "messages:"


def message_scope(channel: str) -> str:
    """The consent scope of messages on one channel (``messages:email``, ``messages:apprise``)."""
    return f"{MESSAGE_SCOPE_PREFIX}{channel}"


class CredentialKind(StrEnum):
    """What identifies a member at the edge."""

    BADGE = "badge"
    BLE_TAG = "ble_tag"


class PresenceSource(StrEnum):
    """What opened or closed a presence session."""

    BADGE = "badge"
    BLE = "ble"
    STAFF = "staff"
    CUTOFF = "cutoff"


class TapOutcome(StrEnum):
    """What the hub made of a badge tap."""

    ACCEPTED = "accepted"
    UNKNOWN = "unknown"


class MomentKind(StrEnum):
    """Kinds of community moments."""

    BREAKFAST = "breakfast"
    LUNCH = "lunch"
    WORKSHOP = "workshop"
    TALK = "talk"
    AFTERWORK = "afterwork"
    SPORT = "sport"
    OTHER = "other"


class Site(Base):
    """A coworking space (mirrors the configuration)."""

    __tablename__ = "sites"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    timezone: Mapped[str] = mapped_column(String(64))


class Room(Base):
    """A room (zone) of a site (mirrors the configuration)."""

    __tablename__ = "rooms"

    site_id: Mapped[str] = mapped_column(
        ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(16))
    capacity: Mapped[int | None] = mapped_column(Integer)


class Node(Base):
    """An edge node and its last known health."""

    __tablename__ = "nodes"

    site_id: Mapped[str] = mapped_column(
        ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="unknown")
    status_changed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_seen_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    telemetry: Mapped[dict[str, object] | None] = mapped_column(JSON)


class Member(Base):
    """A person with a membership at one or more sites."""

    __tablename__ = "members"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    first_name: Mapped[str] = mapped_column(String(80))
    last_name: Mapped[str | None] = mapped_column(String(80))
    email: Mapped[str | None] = mapped_column(String(254), unique=True)
    language: Mapped[str] = mapped_column(String(8), default="fr")
    external_ref: Mapped[str | None] = mapped_column(String(128), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)

    consents: Mapped[list[MemberConsent]] = relationship(
        back_populates="member", cascade="all, delete-orphan", lazy="selectin"
    )
    credentials: Mapped[list[Credential]] = relationship(
        back_populates="member", cascade="all, delete-orphan"
    )
    consent_events: Mapped[list[ConsentEvent]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="ConsentEvent.id"
    )

    def allows(self, consent: Consent) -> bool:
        """Whether the member granted *consent*."""
        return any(c.scope == consent.value for c in self.consents)

    def allows_messages(self, channel: str) -> bool:
        """Whether the member accepts messages on *channel* (``email``, ``apprise``, …): a
        consent for that channel, or the older consent to messages on every channel."""
        scopes = {message_scope(channel), Consent.MESSAGES.value}
        return any(c.scope in scopes for c in self.consents)


class MemberConsent(Base):
    """One permission a member granted; withdrawing it deletes the row."""

    __tablename__ = "member_consents"

    member_id: Mapped[int] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), primary_key=True
    )
    scope: Mapped[str] = mapped_column(String(32), primary_key=True)
    granted_at: Mapped[datetime] = mapped_column(UtcDateTime)

    member: Mapped[Member] = relationship(back_populates="consents")


class ConsentEvent(Base):
    """The audit trail of consents: each grant and withdrawal, when, and through what.

    Kept as long as the member is (it proves what they allowed and when); erased with them.
    """

    __tablename__ = "consent_events"
    __table_args__ = (Index("ix_consent_events_member_at", "member_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    scope: Mapped[str] = mapped_column(String(32))
    granted: Mapped[bool] = mapped_column(Boolean)  # False: withdrawn
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    via: Mapped[str] = mapped_column(String(16))  # self_service, staff, import


class Credential(Base):
    """A badge credential (HMAC of its UID, never the UID) or a BLE tag id of a member."""

    __tablename__ = "credentials"
    __table_args__ = (UniqueConstraint("kind", "value"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(128))
    label: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)

    member: Mapped[Member] = relationship(back_populates="credentials")


class PresenceSession(Base):
    """A member on site: from arrival to departure, with what saw each end."""

    __tablename__ = "presence_sessions"
    __table_args__ = (
        Index("ix_presence_open", "site_id", "departed_at"),
        # At most one open session per member and site, whatever races or replays happen.
        Index(
            "uq_presence_one_open",
            "member_id",
            "site_id",
            unique=True,
            sqlite_where=text("departed_at IS NULL"),
            postgresql_where=text("departed_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    arrived_at: Mapped[datetime] = mapped_column(UtcDateTime)
    arrival_source: Mapped[str] = mapped_column(String(16))
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)
    departed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    departure_source: Mapped[str | None] = mapped_column(String(16))


class BadgeTap(Base):
    """The badge log: every accepted badge message (kept for a limited time, see retention)."""

    __tablename__ = "badge_taps"
    __table_args__ = (
        ForeignKeyConstraint(
            ["site_id", "room_id"], ["rooms.site_id", "rooms.id"], ondelete="CASCADE"
        ),
        Index("ix_badge_taps_site_observed", "site_id", "observed_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[str] = mapped_column(String(64))
    node_id: Mapped[str] = mapped_column(String(64))
    room_id: Mapped[str] = mapped_column(String(64))
    reader: Mapped[str] = mapped_column(String(64))
    msg_id: Mapped[str] = mapped_column(String(64))
    credential: Mapped[str] = mapped_column(String(32))
    member_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL"), index=True
    )
    outcome: Mapped[str] = mapped_column(String(16))
    observed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)


class SeenMessage(Base):
    """(node, id) pairs already applied, so a QoS 1 redelivery is never applied twice."""

    __tablename__ = "seen_messages"
    __table_args__ = (Index("ix_seen_messages_seen_at", "seen_at"),)

    site_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    node_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    msg_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(UtcDateTime)


class CalendarFeed(Base):
    """An iCal feed (URL or file) whose events become moments of a site, with its sync health."""

    __tablename__ = "calendar_feeds"
    __table_args__ = (
        ForeignKeyConstraint(
            ["site_id", "room_id"], ["rooms.site_id", "rooms.id"], ondelete="CASCADE"
        ),
        UniqueConstraint("site_id", "url_or_path"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[str] = mapped_column(String(64))
    # Room of the events whose LOCATION names no room of the site.
    room_id: Mapped[str] = mapped_column(String(64))
    url_or_path: Mapped[str] = mapped_column(String(2048))
    name: Mapped[str] = mapped_column(String(80), default="")
    # Kind of the events whose title and categories say nothing (None: "other").
    default_kind: Mapped[str | None] = mapped_column(String(16))
    last_sync_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_ok_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)  # shown to staff; None when healthy


class Moment(Base):
    """A community moment at a site and room, created by staff or imported from a feed.

    An imported moment is identified by (feed, UID, recurrence key): the key is the original
    start (UTC ISO) of an occurrence of a recurring event and ``""`` for a single event, so
    a sync finds the same row again whatever moved upstream.
    """

    __tablename__ = "moments"
    __table_args__ = (
        ForeignKeyConstraint(
            ["site_id", "room_id"], ["rooms.site_id", "rooms.id"], ondelete="CASCADE"
        ),
        Index("ix_moments_site_starts", "site_id", "starts_at"),
        UniqueConstraint("feed_id", "uid", "recurrence_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[str] = mapped_column(String(64))
    room_id: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(16))
    description: Mapped[str] = mapped_column(Text, default="")
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ends_at: Mapped[datetime] = mapped_column(UtcDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # "staff" or "feed": a sync restores only what a sync cancelled.
    cancelled_by: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list, server_default=text("'[]'"))
    capacity: Mapped[int | None] = mapped_column(Integer)
    host: Mapped[str | None] = mapped_column(String(120))
    feed_id: Mapped[int | None] = mapped_column(
        ForeignKey("calendar_feeds.id", ondelete="SET NULL"), index=True
    )
    uid: Mapped[str | None] = mapped_column(String(255))
    recurrence_key: Mapped[str | None] = mapped_column(String(32))


class RoomDwell(Base):
    """Time a member spent in a room; kept only for members who allowed room-level location."""

    __tablename__ = "room_dwells"
    __table_args__ = (
        ForeignKeyConstraint(
            ["site_id", "room_id"], ["rooms.site_id", "rooms.id"], ondelete="CASCADE"
        ),
        Index("ix_room_dwells_member_open", "member_id", "left_at"),
        Index("ix_room_dwells_site_entered", "site_id", "entered_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    site_id: Mapped[str] = mapped_column(String(64))
    room_id: Mapped[str] = mapped_column(String(64))
    entered_at: Mapped[datetime] = mapped_column(UtcDateTime)
    left_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    source: Mapped[str] = mapped_column(String(16))


class Attendance(Base):
    """A member took part in a moment, with what showed it and how sure the hub is.

    One row per (moment, member): inference and staff marks update it in place, the strongest
    source winning (see :mod:`hub.attendance`).
    """

    __tablename__ = "attendances"
    __table_args__ = (UniqueConstraint("moment_id", "member_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    moment_id: Mapped[int] = mapped_column(ForeignKey("moments.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    source: Mapped[str] = mapped_column(String(16))  # dwell, tap or staff
    confidence: Mapped[float] = mapped_column(Float)
    # Earliest evidence inside the moment; None when only staff said so.
    first_seen_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    minutes_present: Mapped[float] = mapped_column(Float, default=0.0)
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime)


class NudgeRecord(Base):
    """One decision of the nudge engine (sent, held out, skipped, dry run) and its outcome.

    Holdout and skipped decisions are recorded like sent ones: the uplift of a rule is the
    attendance of its treatment arm against its holdout arm (see :mod:`hub.nudge_log`).
    """

    __tablename__ = "nudge_records"
    __table_args__ = (
        Index("ix_nudge_records_site_rule_triggered", "site_id", "rule", "triggered_at"),
        Index("ix_nudge_records_member_triggered", "member_id", "triggered_at"),
        Index("ix_nudge_records_outcome_moment", "outcome", "moment_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # None for a staff alert, or once the member was erased (the aggregate stays).
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    rule: Mapped[str] = mapped_column(String(32))
    # Channel, variant, arm and window are None for a skip decided before they were known.
    channel: Mapped[str | None] = mapped_column(String(16))
    variant_id: Mapped[str | None] = mapped_column(String(64))
    arm: Mapped[str | None] = mapped_column(String(16))
    decision: Mapped[str] = mapped_column(String(16))
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list, server_default=text("'[]'"))
    moment_id: Mapped[int | None] = mapped_column(
        ForeignKey("moments.id", ondelete="SET NULL"), index=True
    )
    triggered_at: Mapped[datetime] = mapped_column(UtcDateTime)
    not_before: Mapped[datetime | None] = mapped_column(UtcDateTime)
    not_after: Mapped[datetime | None] = mapped_column(UtcDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    outcome: Mapped[str] = mapped_column(String(16), default="pending")
    outcome_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class OccupancyRollup(Base):
    """Occupancy of a room over a 5-minute bucket: the base of every occupancy report."""

    __tablename__ = "occupancy_rollups"
    __table_args__ = (
        ForeignKeyConstraint(
            ["site_id", "room_id"], ["rooms.site_id", "rooms.id"], ondelete="CASCADE"
        ),
    )

    site_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    room_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    bucket_start: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True)
    samples: Mapped[int] = mapped_column(Integer)
    count_sum: Mapped[int] = mapped_column(Integer)
    count_max: Mapped[int] = mapped_column(Integer)
    identified_max: Mapped[int] = mapped_column(Integer)


class PresenceDaily(Base):
    """Anonymous daily counts kept after identified presence, taps and dwell expire (retention).

    One row per site, local day and room; ``room_id`` is ``""`` for the whole site (presence
    sessions). No member id: only how many visits, how many distinct people, how long.
    """

    __tablename__ = "presence_daily"

    site_id: Mapped[str] = mapped_column(
        ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    )
    room_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    visits: Mapped[int] = mapped_column(Integer, default=0)  # sessions (site) or dwells (room)
    people: Mapped[int] = mapped_column(Integer, default=0)  # distinct members that day
    minutes: Mapped[float] = mapped_column(Float, default=0.0)
    taps: Mapped[int] = mapped_column(Integer, default=0)  # accepted badge taps
    unknown_taps: Mapped[int] = mapped_column(Integer, default=0)


class HubState(Base):
    """Live state snapshots (room locator per site, …) so a restarted hub resumes where it was."""

    __tablename__ = "hub_state"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[dict[str, object]] = mapped_column(JSON)
    saved_at: Mapped[datetime] = mapped_column(UtcDateTime)


class HubLease(Base):
    """Which hub process serves which sites, when several share one database (a lease each).

    A row per instance group (the sites a configured instance serves). The holder renews it; a
    lease that runs out is free for another process to take over, with the group's MQTT session.
    """

    __tablename__ = "hub_leases"

    group_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    acquired_at: Mapped[datetime] = mapped_column(UtcDateTime)


class NudgeTrigger(Base):
    """A nudge trigger that has fired (``moment_soon:42:<start>``, ``arrival:17``, …).

    The key is the primary key: a trigger is claimed by inserting its row in the same transaction
    as its decisions and deliveries, so it fires once across scheduler ticks, restarts and two hub
    processes sharing the database (the second insert fails and its transaction is dropped).
    """

    __tablename__ = "nudge_triggers"
    __table_args__ = (Index("ix_nudge_triggers_fired_at", "fired_at"),)

    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    rule: Mapped[str] = mapped_column(String(32))
    fired_at: Mapped[datetime] = mapped_column(UtcDateTime)


class MemberChannel(Base):
    """A member's own address on an outbound channel (an Apprise URL: ntfy, Telegram, …).

    Having an address is not consent: a message also needs the member's ``messages`` consent.
    """

    __tablename__ = "member_channels"

    member_id: Mapped[int] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), primary_key=True
    )
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    address: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Delivery(Base):
    """One outbound message and where its delivery stands (see :mod:`hub.deliveries`).

    Nothing secret is stored here: the target is named by its channel and a reference (member,
    site, webhook id, moment) and resolved to a URL from the member or the settings at each try.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        Index("ix_deliveries_state_send_at", "state", "send_at"),
        Index("ix_deliveries_member_id", "member_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[str] = mapped_column(String(64), unique=True)
    nudge_id: Mapped[int | None] = mapped_column(
        ForeignKey("nudge_records.id", ondelete="SET NULL"), index=True
    )
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    # An erased member takes their pending messages along.
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))
    target_ref: Mapped[str] = mapped_column(String(128))
    recipient_kind: Mapped[str] = mapped_column(String(16))
    language: Mapped[str] = mapped_column(String(8))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    meta: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    send_at: Mapped[datetime] = mapped_column(UtcDateTime)  # drawn inside the delay window
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # too late after this
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    claimed_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Rsvp(Base):
    """A member said they will come to a moment (``going``) or waits for a seat (``waiting``).

    Leaving deletes the row; the waiting list is served in ``created_at`` order.
    """

    __tablename__ = "rsvps"
    __table_args__ = (
        UniqueConstraint("moment_id", "member_id"),
        Index("ix_rsvps_moment_status", "moment_id", "status", "created_at"),
        # Who said they would come to a site's moments (the insights' moment report): read from
        # the index alone. Without it, PostgreSQL hashes every site's RSVPs once a network has a
        # few dozen sites (see migration 0012).
        Index(
            "ix_rsvps_going",
            "moment_id",
            "member_id",
            postgresql_where=text("status = 'going'"),
            sqlite_where=text("status = 'going'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    moment_id: Mapped[int] = mapped_column(ForeignKey("moments.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class MemberNudgeMute(Base):
    """A kind of nudge a member asked not to get any more (from a link in the message itself).

    Consent to messages is the opt-in; a mute narrows it, kind by kind, as easily as it was given.
    """

    __tablename__ = "member_nudge_mutes"

    member_id: Mapped[int] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    muted_at: Mapped[datetime] = mapped_column(UtcDateTime)


class User(Base):
    """A person who signs in to the hub's pages (staff, manager or admin); not a member."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)  # stored lower-cased
    name: Mapped[str] = mapped_column(String(80), default="")
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))  # argon2id, with its parameters
    language: Mapped[str] = mapped_column(String(8), default="fr")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class UserSession(Base):
    """A signed-in browser. The cookie carries a random token; only its SHA-256 is stored, so
    deleting the row (logout, user removed) revokes it at the next request."""

    __tablename__ = "user_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 hex of the token
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))  # synchronizer token of its forms
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(200))


class ApiToken(Base):
    """A bearer token for an integration, with a role; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    role: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # first characters, to recognise it
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class LoginFailure(Base):
    """A failed sign-in, kept for the rate-limit window (per address and per account)."""

    __tablename__ = "login_failures"
    __table_args__ = (
        Index("ix_login_failures_email_at", "email", "at"),
        Index("ix_login_failures_ip_at", "ip", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    ip: Mapped[str] = mapped_column(String(45))
    at: Mapped[datetime] = mapped_column(UtcDateTime)


class BadgeEnrolment(Base):
    """Staff waiting for a badge tap at a node: the next unknown badge there within the window
    is enrolled for the member (see :mod:`hub.enrolment`)."""

    __tablename__ = "badge_enrolments"
    __table_args__ = (Index("ix_badge_enrolments_status", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    node_id: Mapped[str] = mapped_column(String(64))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    requested_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    status: Mapped[str] = mapped_column(
        String(16)
    )  # waiting, enrolled, expired, conflict, cancelled
    credential: Mapped[str | None] = mapped_column(String(32))
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


# Covering indexes of the insights rollups: every report reads one site's range of days and only
# these columns, so its rows are never looked up in the table (SQLite; PostgreSQL's index-only
# scans once the table is vacuumed).
MEMBER_DAY_COVERING = (
    "site_id", "day", "member_id", "week_start", "sessions", "moments_attended", "rsvps",
    "minutes_desk", "minutes_community", "minutes_meeting", "minutes_phone_booth",
    "minutes_lobby", "desk_room_id",
)  # fmt: skip
ROOM_HOUR_COVERING = (
    "site_id", "day", "room_id", "hour", "weekday", "member_minutes", "peak_members", "members",
)  # fmt: skip
NUDGE_FACT_COVERING = (
    "site_id", "day", "rule", "arm", "member_id", "channel", "variant", "timing", "rank",
    "month", "week_start", "attended",
)  # fmt: skip
MEMBER_WEEK_COVERING = (
    "site_id", "week_start", "member_id", "active", "days_on_site", "moments", "rsvps",
    "minutes_desk", "minutes_community", "minutes_other", "desk_room_id", "posture", "value",
)  # fmt: skip


class InsightMemberDay(Base):
    """One member's day at one site, summed from presence, dwells, attendance and RSVPs.

    The base of the posture and community-value reports (see :mod:`hub.insights.rollups`): a
    year of reports reads these rows, never the raw sessions. ``day`` is the site-local date.
    Minutes per room kind come from room dwells, so they exist only for members who allowed
    room-level location; ``minutes_on_site`` comes from presence sessions.
    """

    __tablename__ = "insight_member_days"
    __table_args__ = (Index("ix_insight_member_days_site_day_covering", *MEMBER_DAY_COVERING),)

    site_id: Mapped[str] = mapped_column(
        ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    )
    member_id: Mapped[int] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    week_start: Mapped[date] = mapped_column(Date)  # the Monday of ``day``
    # The desk room where the member spent most of the day, if any (rooms used only as desks).
    desk_room_id: Mapped[str | None] = mapped_column(String(64))
    sessions: Mapped[int] = mapped_column(Integer)
    minutes_on_site: Mapped[float] = mapped_column(Float)
    minutes_desk: Mapped[float] = mapped_column(Float)
    minutes_community: Mapped[float] = mapped_column(Float)
    minutes_meeting: Mapped[float] = mapped_column(Float)
    minutes_phone_booth: Mapped[float] = mapped_column(Float)
    minutes_lobby: Mapped[float] = mapped_column(Float)
    moments_attended: Mapped[int] = mapped_column(Integer)
    rsvps: Mapped[int] = mapped_column(Integer)


class InsightRoomHour(Base):
    """One site-local hour of one room on one day: person-minutes, peak and distinct members."""

    __tablename__ = "insight_room_hours"
    __table_args__ = (
        ForeignKeyConstraint(
            ["site_id", "room_id"], ["rooms.site_id", "rooms.id"], ondelete="CASCADE"
        ),
        Index("ix_insight_room_hours_site_day_covering", *ROOM_HOUR_COVERING),
    )

    site_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    room_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    hour: Mapped[int] = mapped_column(Integer, primary_key=True)  # 0-23, site-local
    weekday: Mapped[int] = mapped_column(Integer)  # 0 = Monday, site-local
    member_minutes: Mapped[float] = mapped_column(Float)
    peak_members: Mapped[int] = mapped_column(Integer)
    members: Mapped[int] = mapped_column(Integer)


class InsightNudgeFact(Base):
    """One resolved experiment decision (sent or holdout) with what the nudge report groups by.

    Derived from ``nudge_records`` by the rollup (site-local day and month, timing bucket, the
    decision's rank among the member's decisions of the rule), so that the report aggregates
    in SQL instead of reading and deriving every record.
    """

    __tablename__ = "insight_nudge_facts"
    __table_args__ = (Index("ix_insight_nudge_facts_site_day_covering", *NUDGE_FACT_COVERING),)

    id: Mapped[int] = mapped_column(
        ForeignKey("nudge_records.id", ondelete="CASCADE"), primary_key=True
    )
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    rule: Mapped[str] = mapped_column(String(32))
    arm: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(16))  # "" when not logged
    variant: Mapped[str] = mapped_column(String(64))  # "" when not logged
    timing: Mapped[str] = mapped_column(String(8))  # minutes from delivery to start: 0-15, …
    rank: Mapped[int] = mapped_column(Integer)  # 1 for the member's first decision of the rule
    day: Mapped[date] = mapped_column(Date)  # site-local day of the trigger
    week_start: Mapped[date] = mapped_column(Date)
    month: Mapped[str] = mapped_column(String(7))  # YYYY-MM, site-local
    attended: Mapped[bool] = mapped_column(Boolean)


class InsightMemberWeek(Base):
    """One member's week at one site, and their posture over the window ending with it.

    Kept up to date from ``insight_member_days`` by the rollup (see :mod:`hub.insights.weeks`),
    so that a page reads classified weeks instead of summing and classifying a year of days. A
    row exists for every week the member has member days (``active``) and for the weeks whose
    posture window (``period_days``) still reaches one; the weekly sums are zero in the latter.
    ``posture`` and ``value`` (the community value index of the window) follow the thresholds
    recorded in ``insight_posture_bases`` for the site.
    """

    __tablename__ = "insight_member_weeks"
    __table_args__ = (Index("ix_insight_member_weeks_site_week_covering", *MEMBER_WEEK_COVERING),)

    site_id: Mapped[str] = mapped_column(
        ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    )
    member_id: Mapped[int] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), primary_key=True
    )
    week_start: Mapped[date] = mapped_column(Date, primary_key=True)  # a Monday, site-local
    active: Mapped[bool] = mapped_column(Boolean)  # the member has member days this week
    days_on_site: Mapped[int] = mapped_column(Integer)
    moments: Mapped[int] = mapped_column(Integer)
    rsvps: Mapped[int] = mapped_column(Integer)
    minutes_desk: Mapped[float] = mapped_column(Float)
    minutes_community: Mapped[float] = mapped_column(Float)
    minutes_other: Mapped[float] = mapped_column(Float)  # meeting rooms, phone booths, lobby
    desk_room_id: Mapped[str | None] = mapped_column(String(64))
    posture: Mapped[str] = mapped_column(String(16))  # over the window ending with this week
    value: Mapped[float] = mapped_column(Float)  # community value index of that window


class InsightPostureBasis(Base):
    """The posture and value settings the member weeks of a site were classified with."""

    __tablename__ = "insight_posture_bases"

    site_id: Mapped[str] = mapped_column(
        ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    )
    basis: Mapped[str] = mapped_column(String(64))  # digest of the settings (hub.insights.weeks)


class InsightPostureWeek(Base):
    """Members per posture at one site over the period ending with one week: anonymous counts.

    Written when the member-day rollups a week rests on expire (see :mod:`hub.insights.retention`),
    so the posture trend of a site outlives the per-member rows; the value index is kept as the
    sum over the members (the page shows the mean).
    """

    __tablename__ = "insight_posture_weeks"

    site_id: Mapped[str] = mapped_column(
        ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    )
    week_start: Mapped[date] = mapped_column(Date, primary_key=True)
    absent: Mapped[int] = mapped_column(Integer)
    tenant: Mapped[int] = mapped_column(Integer)
    occasional: Mapped[int] = mapped_column(Integer)
    coworker: Mapped[int] = mapped_column(Integer)
    value_sum: Mapped[float] = mapped_column(Float)


class InsightRollupDay(Base):
    """A site-local day already rolled up; ``final`` once nothing about it can change."""

    __tablename__ = "insight_rollup_days"

    site_id: Mapped[str] = mapped_column(
        ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    rolled_at: Mapped[datetime] = mapped_column(UtcDateTime)
    final: Mapped[bool] = mapped_column(Boolean)


class InsightRollupMark(Base):
    """The highest row id of a source table the rollups have seen (new rows mark days dirty)."""

    __tablename__ = "insight_rollup_marks"

    source: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_id: Mapped[int] = mapped_column(Integer)
