"""What the nudge guardrails need to know, read from the database and the live locator.

:func:`~hub.nudges.guardrails.decide` is pure: it gets a :class:`~hub.nudges.guardrails.Candidate`
and a :class:`~hub.nudges.guardrails.Moment` and trusts them. This module builds them from real
data, which is where a guardrail can silently go wrong:

- **consents → channels and kinds**: ``messages`` opens the member's message channels (those
  they have an address for: their own Apprise URL, their e-mail with the hub's mail account) and
  every member-facing rule but those they muted; ``screen_display`` the screen greeting;
  ``insights`` the staff suggestion about them (an individual insight). No row, no permission.
- **history** from the nudge log (sent or scheduled), for caps, rotation and cooldowns;
- **where the member is now** from the live locator (kept in memory for everyone, so it works
  without room-location consent, and nothing is stored), else their open room dwell: no message
  in a meeting room or a phone booth;
- **joined**: an RSVP (going or waiting) or an attendance already recorded;
- **interests**: tags and kinds of the moments the member attended lately — their own actions,
  no survey and no profile kept;
- **people present** at a moment, for the low-attendance alert.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.config import HubConfig, Language, RoomKind, SiteSettings
from hub.db.models import (
    Attendance,
    Consent,
    Member,
    MemberChannel,
    Moment,
    NudgeRecord,
    PresenceSession,
    RoomDwell,
)
from hub.nudge_control import muted_kinds
from hub.nudge_log import Decision as LogDecision
from hub.nudges.guardrails import Candidate, PastNudge
from hub.nudges.guardrails import Moment as RuleMoment
from hub.nudges.rules import MEMBER_KINDS, Channel, NudgeKind
from hub.rsvp import going_count, members_joined

HISTORY = timedelta(days=60)
"""Past nudges read per member: enough for weekly caps, rotation and the streak cooldown."""
INTERESTS = timedelta(days=90)
"""Moments attended within this period make a member's interests (their tags and kinds)."""
STREAK_LOOKBACK_DAYS = 60

K = NudgeKind


class LiveRooms(Protocol):
    """Where members are now, from the live locator (the hub's :class:`~hub.live.LiveState`)."""

    def room_of_member(self, site_id: str, member_id: int) -> str | None:
        """The room the member is located in, if known."""
        ...


class LiveStateRooms:
    """:class:`LiveRooms` read from :class:`hub.live.LiveState` without touching it.

    The ingest worker updates the live state in another thread; this only reads it, copying the
    tag table first and retrying if it changed under the copy.
    """

    def __init__(self, live: object) -> None:
        self._live = live

    def room_of_member(self, site_id: str, member_id: int) -> str | None:
        """The room of one of the member's located tags, if any."""
        sites = getattr(self._live, "sites", {})
        site = sites.get(site_id)
        if site is None:
            return None
        for _ in range(3):
            try:
                tags = [
                    tag for tag, owner in list(site.owners.items()) if owner.member_id == member_id
                ]
                break
            except RuntimeError:  # the dict changed while being copied: read again
                continue
        else:
            return None
        for tag in tags:
            room = site.locator.room_of(tag)
            if room is not None:
                return str(room)
        return None


class NudgeFacts:
    """Builds candidates and moments for the guardrails (see the module docstring)."""

    def __init__(self, config: HubConfig, live: LiveRooms | None = None) -> None:
        self.config = config
        self.live = live

    def rule_moment(
        self, session: Session, site: SiteSettings, moment: Moment, now: datetime
    ) -> RuleMoment:
        room = site.room(moment.room_id)
        going = going_count(session, moment.id)
        return RuleMoment(
            id=str(moment.id),
            title=moment.title,
            room=room.name if room else moment.room_id,
            starts_at=moment.starts_at,
            tags=frozenset(moment.tags or []) | {moment.kind},
            capacity=moment.capacity,
            attendees=self.present(session, site, moment),
            rsvps=going,
        )

    def present(self, session: Session, site: SiteSettings, moment: Moment) -> int:
        """People in the moment's room now: located members, attendance rows, whichever is more."""
        recorded = int(
            session.scalar(
                select(func.count(Attendance.id)).where(Attendance.moment_id == moment.id)
            )
            or 0
        )
        located = 0
        on_site = session.scalars(
            select(PresenceSession.member_id).where(
                PresenceSession.site_id == site.id, PresenceSession.departed_at.is_(None)
            )
        ).all()
        for member_id in set(on_site):
            if self.room_of(session, site, member_id) == moment.room_id:
                located += 1
        return max(recorded, located)

    def room_of(self, session: Session, site: SiteSettings, member_id: int) -> str | None:
        if self.live is not None:
            room = self.live.room_of_member(site.id, member_id)
            if room is not None:
                return room
        return session.scalar(
            select(RoomDwell.room_id).where(
                RoomDwell.member_id == member_id,
                RoomDwell.site_id == site.id,
                RoomDwell.left_at.is_(None),
            )
        )

    def candidate(
        self,
        session: Session,
        site: SiteSettings,
        member_id: int,
        now: datetime,
        *,
        moment: Moment | None = None,
        about: NudgeKind | None = None,
        days: int | None = None,
        scheduled: dict[int, list[PastNudge]] | None = None,
    ) -> Candidate | None:
        """What the guardrails need to know about one member (None: erased meanwhile).

        *about* is the rule of the trigger and *days* its count (absence for a welcome back,
        streak for a tenant streak); *scheduled* adds nudges not in the log (a preview's).
        """
        member = session.get(Member, member_id)
        if member is None:
            return None
        channels: set[Channel] = set()
        kinds: set[NudgeKind] = set()
        addresses = set(
            session.scalars(
                select(MemberChannel.channel).where(MemberChannel.member_id == member.id)
            )
        )
        # Consent per channel (the self-service page), or to messages on every channel.
        for channel in (Channel.APPRISE, Channel.WEBHOOK):
            if channel.value in addresses and member.allows_messages(channel.value):
                channels.add(channel)
        email_ok = member.email is not None and self.config.channels.email_url is not None
        if email_ok and member.allows_messages(Channel.EMAIL.value):
            channels.add(Channel.EMAIL)
        message_channels = (Channel.EMAIL, Channel.APPRISE, Channel.WEBHOOK)
        if any(member.allows_messages(c.value) for c in message_channels):
            kinds |= MEMBER_KINDS - {K.ARRIVAL_GREETING} - muted_kinds(session, member.id)
        if member.allows(Consent.SCREEN_DISPLAY):
            channels.add(Channel.SCREEN)
            kinds.add(K.ARRIVAL_GREETING)
        if member.allows(Consent.INSIGHTS):  # an individual suggestion to staff is an insight
            channels.add(Channel.STAFF)
            kinds.add(K.TENANT_STREAK_STAFF)
        room_id = self.room_of(session, site, member.id)
        room = site.room(room_id) if room_id else None
        joined: set[str] = set()
        if moment is not None:
            if member.id in members_joined(session, [moment.id])[moment.id]:
                joined.add(str(moment.id))
            if session.scalar(
                select(Attendance.id).where(
                    Attendance.moment_id == moment.id, Attendance.member_id == member.id
                )
            ):
                joined.add(str(moment.id))
        on_site = session.scalar(
            select(PresenceSession.id).where(
                PresenceSession.member_id == member.id,
                PresenceSession.site_id == site.id,
                PresenceSession.departed_at.is_(None),
            )
        )
        return Candidate(
            member_id=str(member.id),
            first_name=member.first_name,
            language=Language.EN if member.language == "en" else Language.FR,
            channels=frozenset(channels),
            kinds=frozenset(kinds),
            room_kind=RoomKind(room.kind) if room else None,
            on_site=on_site is not None,
            interests=interests(session, member.id, now),
            joined=frozenset(joined),
            history=tuple(
                self.history(session, member.id, now) + (scheduled or {}).get(member.id, [])
            ),
            first_visit=about is K.WELCOME_FIRST_DAY,
            days_since_last_visit=days if about is K.WELCOME_BACK else None,
            streak_days_without_moment=(
                days if days is not None and about is K.TENANT_STREAK_STAFF else 0
            ),
        )

    def history(self, session: Session, member_id: int, now: datetime) -> list[PastNudge]:
        """The member's nudges sent or scheduled, from the log."""
        rows = session.scalars(
            select(NudgeRecord).where(
                NudgeRecord.member_id == member_id,
                NudgeRecord.decision == LogDecision.SENT.value,
                NudgeRecord.triggered_at >= now - HISTORY,
            )
        )
        past = [
            PastNudge(
                sent_at=row.sent_at or row.not_before or row.triggered_at,
                kind=NudgeKind(row.rule),
                variant_id=row.variant_id or "",
                channel=Channel(row.channel or Channel.STAFF.value),
            )
            for row in rows
        ]
        return past


def interests(session: Session, member_id: int, now: datetime) -> frozenset[str]:
    """Tags and kinds of the moments the member attended lately (their own actions, no survey)."""
    rows = session.execute(
        select(Moment.tags, Moment.kind)
        .join(Attendance, Attendance.moment_id == Moment.id)
        .where(Attendance.member_id == member_id, Moment.starts_at >= now - INTERESTS)
    )
    found: set[str] = set()
    for tags, kind in rows:
        found.update(tags or [])
        found.add(kind)
    return frozenset(found)


def streak_without_moment(session: Session, site: SiteSettings, member_id: int, today: date) -> int:
    """Days in a row (ending *today*, site-local) the member came without attending a moment.

    A weekend day without a visit neither counts nor breaks the streak (most spaces are closed);
    a weekday without a visit, or any day with an attended moment, ends it.
    """
    zone = site.zone
    since = datetime.combine(today - timedelta(days=STREAK_LOOKBACK_DAYS), time.min, tzinfo=zone)
    visits = session.scalars(
        select(PresenceSession.arrived_at).where(
            PresenceSession.member_id == member_id,
            PresenceSession.site_id == site.id,
            PresenceSession.arrived_at >= since,
        )
    )
    days_on_site = {at.astimezone(zone).date() for at in visits}
    attended = session.scalars(
        select(Moment.starts_at)
        .join(Attendance, Attendance.moment_id == Moment.id)
        .where(Attendance.member_id == member_id, Moment.starts_at >= since)
    )
    days_with_moment = {at.astimezone(zone).date() for at in attended}
    streak = 0
    day = today
    for _ in range(STREAK_LOOKBACK_DAYS):
        if day in days_with_moment:
            break
        if day in days_on_site:
            streak += 1
        elif day.weekday() < 5:
            break
        day -= timedelta(days=1)
    return streak
