"""Presence sessions: a member on site, opened by a badge tap (ground truth).

This module holds the foundation slice: arrival by badge. Exit taps, BLE arrival and absence,
the daily cut-off and staff check-in/out extend it (presence engine issue).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.db.models import (
    BadgeTap,
    Credential,
    CredentialKind,
    Member,
    PresenceSession,
    PresenceSource,
    TapOutcome,
)
from vivant.wire.payloads import Badge


@dataclass(frozen=True, slots=True)
class TapResult:
    """What a badge tap did."""

    outcome: TapOutcome
    member: Member | None
    arrived: bool  # the tap opened a new presence session


def ms_to_datetime(ms: int) -> datetime:
    """Epoch milliseconds (wire ``ts``) to an aware UTC datetime."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def member_for_badge(session: Session, credential: str) -> Member | None:
    """The member a badge credential is enrolled for, if any."""
    return session.scalar(
        select(Member)
        .join(Credential)
        .where(Credential.kind == CredentialKind.BADGE.value, Credential.value == credential)
    )


def open_session(session: Session, member_id: int, site_id: str) -> PresenceSession | None:
    """The member's open presence session at the site, if any."""
    return session.scalar(
        select(PresenceSession).where(
            PresenceSession.member_id == member_id,
            PresenceSession.site_id == site_id,
            PresenceSession.departed_at.is_(None),
        )
    )


def apply_badge(
    session: Session, site_id: str, node_id: str, badge: Badge, received_at: datetime
) -> TapResult:
    """Record a tap in the badge log and open a presence session for a known member."""
    observed = ms_to_datetime(badge.ts)
    member = member_for_badge(session, badge.credential)
    outcome = TapOutcome.ACCEPTED if member else TapOutcome.UNKNOWN
    session.add(
        BadgeTap(
            site_id=site_id,
            node_id=node_id,
            room_id=badge.room,
            reader=badge.reader,
            msg_id=badge.id,
            credential=badge.credential,
            member_id=member.id if member else None,
            outcome=outcome.value,
            observed_at=observed,
            received_at=received_at,
        )
    )
    if member is None:
        return TapResult(outcome, None, arrived=False)
    current = open_session(session, member.id, site_id)
    if current is not None:
        current.last_seen_at = max(current.last_seen_at, observed)
        return TapResult(outcome, member, arrived=False)
    session.add(
        PresenceSession(
            member_id=member.id,
            site_id=site_id,
            arrived_at=observed,
            arrival_source=PresenceSource.BADGE.value,
            last_seen_at=observed,
        )
    )
    return TapResult(outcome, member, arrived=True)


def on_site_count(session: Session, site_id: str) -> int:
    """How many members have an open presence session at the site."""
    count = session.scalar(
        select(func.count(PresenceSession.id)).where(
            PresenceSession.site_id == site_id, PresenceSession.departed_at.is_(None)
        )
    )
    return int(count or 0)
