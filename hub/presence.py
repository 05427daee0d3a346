"""Presence sessions: who is on site, since when, and what said so.

Evidence has different weights. A badge tap is ground truth. A BLE sighting of an enrolled tag is
good evidence of being there; BLE *absence* is weak evidence (phones sleep, tags die, bodies
absorb 2.4 GHz), so it closes a session only after the locator's absence timeout and only if no
stronger evidence (a tap, a staff check-in) came after the last sighting. The daily cut-off
closes whatever is left, so a forgotten exit never makes someone "on site" for a week.

Messages may arrive late (an edge outbox replays after an outage): everything here works on the
time of the observation, not of its arrival.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.config import SiteSettings
from hub.db.models import (
    BadgeTap,
    Credential,
    CredentialKind,
    Member,
    PresenceSession,
    PresenceSource,
    RoomDwell,
    TapOutcome,
)
from vivant.wire.payloads import Badge


class LookUp:
    """Marker: resolve the badge's member from the database."""


OWNER_CACHE_S = 10.0


@dataclass(frozen=True, slots=True)
class TapResult:
    """What a badge tap did."""

    outcome: TapOutcome
    member: Member | None
    arrived: bool  # the tap opened a new presence session
    departed: bool = False  # the tap (at an exit reader) closed one


def ms_to_datetime(ms: int) -> datetime:
    """Epoch milliseconds (wire ``ts``) to an aware UTC datetime."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def member_for_credential(session: Session, kind: CredentialKind, value: str) -> Member | None:
    """The member a badge credential or BLE tag id is enrolled for, if any."""
    return session.scalar(
        select(Member)
        .join(Credential)
        .where(Credential.kind == kind.value, Credential.value == value)
    )


def member_for_badge(session: Session, credential: str) -> Member | None:
    """The member a badge credential is enrolled for, if any."""
    return member_for_credential(session, CredentialKind.BADGE, credential)


class BadgeOwners:
    """Credential → member id for every enrolled badge, held in memory and reloaded every
    :data:`OWNER_CACHE_S` seconds: a tap then costs a dict lookup, even for unknown badges.

    The reload interval bounds how long a revoked badge keeps working; enrolment and revocation
    code call :meth:`forget` so the change applies at the next tap.
    """

    def __init__(self) -> None:
        self._owners: dict[str, int] = {}
        self._loaded_at: float | None = None

    def member_id(self, session: Session, credential: str) -> int | None:
        """The id of the member the credential is enrolled for, if any."""
        now = time.monotonic()
        if self._loaded_at is None or now - self._loaded_at >= OWNER_CACHE_S:
            rows = session.execute(
                select(Credential.value, Credential.member_id).where(
                    Credential.kind == CredentialKind.BADGE.value
                )
            )
            self._owners = {value: member_id for value, member_id in rows}
            self._loaded_at = now
        return self._owners.get(credential)

    def forget(self) -> None:
        """Reload at the next tap (after an enrolment or a revocation)."""
        self._loaded_at = None


def open_session(session: Session, member_id: int, site_id: str) -> PresenceSession | None:
    """The member's open presence session at the site, if any."""
    return session.scalar(
        select(PresenceSession).where(
            PresenceSession.member_id == member_id,
            PresenceSession.site_id == site_id,
            PresenceSession.departed_at.is_(None),
        )
    )


def _covering_closed_session(
    session: Session, member_id: int, site_id: str, at: datetime
) -> PresenceSession | None:
    return session.scalar(
        select(PresenceSession).where(
            PresenceSession.member_id == member_id,
            PresenceSession.site_id == site_id,
            PresenceSession.arrived_at <= at,
            PresenceSession.departed_at.is_not(None),
            PresenceSession.departed_at >= at,
        )
    )


def arrive(
    session: Session, member_id: int, site_id: str, at: datetime, source: PresenceSource
) -> tuple[PresenceSession, bool]:
    """Record evidence that the member is on site at *at*; returns (session, newly arrived)."""
    current = open_session(session, member_id, site_id)
    if current is not None:
        current.arrived_at = min(current.arrived_at, at)  # a late message from before
        current.last_seen_at = max(current.last_seen_at, at)
        return current, False
    covering = _covering_closed_session(session, member_id, site_id, at)
    if covering is not None:  # a replayed observation inside a visit already closed
        return covering, False
    opened = PresenceSession(
        member_id=member_id,
        site_id=site_id,
        arrived_at=at,
        arrival_source=source.value,
        last_seen_at=at,
    )
    session.add(opened)
    session.flush()
    return opened, True


def depart(
    session: Session,
    member_id: int,
    site_id: str,
    at: datetime,
    source: PresenceSource,
) -> PresenceSession | None:
    """Close the member's open session at *at* (never before its arrival); returns it if closed."""
    current = open_session(session, member_id, site_id)
    if current is None or at < current.arrived_at:
        return None
    current.departed_at = at
    current.departure_source = source.value
    current.last_seen_at = max(current.last_seen_at, at)
    _close_dwells(session, member_id, site_id, at)
    return current


def apply_badge(
    session: Session,
    site_id: str,
    node_id: str,
    badge: Badge,
    received_at: datetime,
    *,
    exit_reader: bool = False,
    member: Member | type[LookUp] | None = LookUp,
    tap_log: list[dict[str, object]] | None = None,
) -> TapResult:
    """Record a tap in the badge log and update the member's presence (arrival or exit).

    *member* may be given when the caller already resolved the credential (a cache); rows of the
    badge log go to *tap_log* for one bulk insert when given, else straight to the session.
    """
    observed = ms_to_datetime(badge.ts)
    if member is LookUp:
        member = member_for_badge(session, badge.credential)
    assert member is None or isinstance(member, Member)
    outcome = TapOutcome.ACCEPTED if member else TapOutcome.UNKNOWN
    row: dict[str, object] = {
        "site_id": site_id,
        "node_id": node_id,
        "room_id": badge.room,
        "reader": badge.reader,
        "msg_id": badge.id,
        "credential": badge.credential,
        "member_id": member.id if member else None,
        "outcome": outcome.value,
        "observed_at": observed,
        "received_at": received_at,
    }
    if tap_log is None:
        session.add(BadgeTap(**row))
    else:
        tap_log.append(row)
    if member is None:
        return TapResult(outcome, None, arrived=False)
    if exit_reader:
        closed = depart(session, member.id, site_id, observed, PresenceSource.BADGE)
        return TapResult(outcome, member, arrived=False, departed=closed is not None)
    _, arrived = arrive(session, member.id, site_id, observed, PresenceSource.BADGE)
    return TapResult(outcome, member, arrived=arrived)


def ble_absent(
    session: Session, member_id: int, site_id: str, last_seen: datetime
) -> PresenceSession | None:
    """The member's tag has not been heard since *last_seen*: leave, unless stronger evidence
    (a tap, a staff check-in) came later."""
    current = open_session(session, member_id, site_id)
    if current is None or current.last_seen_at > last_seen + timedelta(seconds=1):
        return None
    return depart(
        session, member_id, site_id, max(last_seen, current.arrived_at), PresenceSource.BLE
    )


def staff_check_in(session: Session, member_id: int, site_id: str, at: datetime) -> PresenceSession:
    """A staff member says the member is here."""
    current, _ = arrive(session, member_id, site_id, at, PresenceSource.STAFF)
    return current


def staff_check_out(
    session: Session, member_id: int, site_id: str, at: datetime
) -> PresenceSession | None:
    """A staff member says the member has left."""
    return depart(session, member_id, site_id, at, PresenceSource.STAFF)


def cutoff_instant(site: SiteSettings, now: datetime) -> datetime:
    """The most recent cut-off at *site* at or before *now* (aware UTC)."""
    local = now.astimezone(site.zone)
    today = datetime.combine(local.date(), site.cutoff, tzinfo=site.zone)
    if today > local:
        today -= timedelta(days=1)
    return today.astimezone(UTC)


def close_at_cutoff(session: Session, site: SiteSettings, now: datetime) -> list[PresenceSession]:
    """Close every session of *site* opened before the last cut-off (departure = last evidence)."""
    cutoff = cutoff_instant(site, now)
    stale = session.scalars(
        select(PresenceSession).where(
            PresenceSession.site_id == site.id,
            PresenceSession.departed_at.is_(None),
            PresenceSession.arrived_at < cutoff,
        )
    ).all()
    for row in stale:
        row.departed_at = min(max(row.last_seen_at, row.arrived_at), cutoff)
        row.departure_source = PresenceSource.CUTOFF.value
        _close_dwells(session, row.member_id, site.id, row.departed_at)
    return list(stale)


def enter_room(
    session: Session, member_id: int, site_id: str, room_id: str | None, at: datetime
) -> None:
    """The member is now in *room_id* (None: no known room): close the open dwell, open one."""
    current = session.scalar(
        select(RoomDwell).where(
            RoomDwell.member_id == member_id,
            RoomDwell.site_id == site_id,
            RoomDwell.left_at.is_(None),
        )
    )
    if current is not None and current.room_id == room_id:
        return  # the same room again (a restarted locator placing the member anew)
    _close_dwells(session, member_id, site_id, at)
    if room_id is not None:
        session.add(
            RoomDwell(
                member_id=member_id,
                site_id=site_id,
                room_id=room_id,
                entered_at=at,
                source=PresenceSource.BLE.value,
            )
        )


def _close_dwells(session: Session, member_id: int, site_id: str, at: datetime) -> None:
    for dwell in session.scalars(
        select(RoomDwell).where(
            RoomDwell.member_id == member_id,
            RoomDwell.site_id == site_id,
            RoomDwell.left_at.is_(None),
        )
    ):
        dwell.left_at = max(at, dwell.entered_at)


def on_site_count(session: Session, site_id: str) -> int:
    """How many members have an open presence session at the site."""
    count = session.scalar(
        select(func.count(PresenceSession.id)).where(
            PresenceSession.site_id == site_id, PresenceSession.departed_at.is_(None)
        )
    )
    return int(count or 0)
