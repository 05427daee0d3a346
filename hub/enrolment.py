"""Enrol a badge by tapping it: staff pick a member and a node, the member taps.

The hub never sees a badge UID (the edge sends an HMAC of it), so a badge cannot be typed in:
it is enrolled from its own tap. Starting an enrolment opens a window of
:data:`ENROLMENT_WINDOW` at one node; the first tap of an *unknown* badge at that node inside the
window (read from the badge log, :class:`~hub.db.models.BadgeTap`, where ingest records unknown
taps) becomes the member's credential. Taps before the window never count, so a badge tapped
earlier by someone else is not picked up by mistake. A new enrolment at the same node cancels the
one waiting there, so one tap can never go to two members.

Matching reads the badge log after the fact, so it is exact whatever the delay of the watcher
(:func:`watch`, once a second); the ingest engine's badge cache picks the new credential up within
its reload interval (10 s).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub.config import SiteSettings
from hub.db.models import (
    BadgeEnrolment,
    BadgeTap,
    Credential,
    CredentialKind,
    Member,
    TapOutcome,
)

log = logging.getLogger(__name__)

ENROLMENT_WINDOW = timedelta(seconds=60)
WATCH_INTERVAL_S = 1.0


class EnrolmentStatus(StrEnum):
    """Where an enrolment stands."""

    WAITING = "waiting"
    ENROLLED = "enrolled"
    EXPIRED = "expired"
    CONFLICT = "conflict"  # the tapped badge was enrolled for someone else meanwhile
    CANCELLED = "cancelled"


class EnrolmentError(ValueError):
    """An enrolment cannot start as asked; the message is meant for staff."""


def start_enrolment(
    session: Session,
    site: SiteSettings,
    node_id: str,
    member_id: int,
    now: datetime,
    *,
    requested_by: int | None = None,
) -> BadgeEnrolment:
    """Wait for the next unknown tap at *node_id* for *member_id* (cancels one waiting there)."""
    if site.node(node_id) is None:
        raise EnrolmentError(f"unknown node {node_id!r} at {site.id}")
    if session.get(Member, member_id) is None:
        raise EnrolmentError(f"unknown member {member_id}")
    for waiting in session.scalars(
        select(BadgeEnrolment).where(
            BadgeEnrolment.site_id == site.id,
            BadgeEnrolment.node_id == node_id,
            BadgeEnrolment.status == EnrolmentStatus.WAITING.value,
        )
    ):
        waiting.status = EnrolmentStatus.CANCELLED.value
        waiting.finished_at = now
    enrolment = BadgeEnrolment(
        site_id=site.id,
        node_id=node_id,
        member_id=member_id,
        requested_by=requested_by,
        started_at=now,
        expires_at=now + ENROLMENT_WINDOW,
        status=EnrolmentStatus.WAITING.value,
    )
    session.add(enrolment)
    session.flush()
    return enrolment


def cancel_enrolment(session: Session, enrolment_id: int, now: datetime) -> bool:
    """Stop waiting; returns whether it was waiting."""
    enrolment = session.get(BadgeEnrolment, enrolment_id)
    if enrolment is None or enrolment.status != EnrolmentStatus.WAITING.value:
        return False
    enrolment.status = EnrolmentStatus.CANCELLED.value
    enrolment.finished_at = now
    return True


def complete_enrolments(session: Session, now: datetime) -> list[BadgeEnrolment]:
    """Settle every waiting enrolment that got its tap or ran out of time; returns them."""
    settled = []
    waiting = session.scalars(
        select(BadgeEnrolment)
        .where(BadgeEnrolment.status == EnrolmentStatus.WAITING.value)
        .order_by(BadgeEnrolment.started_at, BadgeEnrolment.id)
    ).all()
    for enrolment in waiting:
        tap = session.scalar(
            select(BadgeTap)
            .where(
                BadgeTap.site_id == enrolment.site_id,
                BadgeTap.node_id == enrolment.node_id,
                BadgeTap.outcome == TapOutcome.UNKNOWN.value,
                BadgeTap.received_at >= enrolment.started_at,
                BadgeTap.received_at <= enrolment.expires_at,
            )
            .order_by(BadgeTap.received_at, BadgeTap.id)
            .limit(1)
        )
        if tap is None:
            if now > enrolment.expires_at:
                enrolment.status = EnrolmentStatus.EXPIRED.value
                enrolment.finished_at = now
                settled.append(enrolment)
            continue
        owner = session.scalar(
            select(Credential.member_id).where(
                Credential.kind == CredentialKind.BADGE.value,
                Credential.value == tap.credential,
            )
        )
        if owner is None:
            session.add(
                Credential(
                    member_id=enrolment.member_id,
                    kind=CredentialKind.BADGE.value,
                    value=tap.credential,
                    label=f"badge ({enrolment.node_id})",
                    created_at=now,
                )
            )
            session.flush()
        enrolled = owner is None or owner == enrolment.member_id
        enrolment.status = (
            EnrolmentStatus.ENROLLED if enrolled else EnrolmentStatus.CONFLICT
        ).value
        enrolment.credential = tap.credential
        enrolment.finished_at = now
        settled.append(enrolment)
        log.info(
            "enrolment %d at %s/%s: %s", enrolment.id, enrolment.site_id, enrolment.node_id,
            enrolment.status,
        )  # fmt: skip
    return settled


async def watch(sessions: sessionmaker[Session]) -> None:
    """Settle enrolments once a second, for as long as the hub runs."""
    while True:
        await asyncio.sleep(WATCH_INTERVAL_S)
        try:
            await asyncio.to_thread(_settle, sessions, datetime.now(UTC))
        except Exception:
            log.exception("badge enrolment check failed; will try again")


def _settle(sessions: sessionmaker[Session], now: datetime) -> None:
    with sessions.begin() as session:
        complete_enrolments(session, now)
