"""RSVP: a member says they will come to a moment, within its capacity, or waits for a seat.

A member joins through a signed link (in an invitation, or the QR code on the lobby greeting
card), so two members may scan at the same instant for the last seat. Every change therefore
starts by locking the moment: ``SELECT … FOR UPDATE`` on PostgreSQL (a row lock: joins of *other*
moments go on in parallel), and a no-op write on SQLite, which takes the database's write lock
before anything is read (SQLite has no row locks and would otherwise fail the second writer with
"database is locked" instead of making it wait). Counting the seats and taking one then happen
under the lock, so capacity is never exceeded.

When a moment is full, the member goes on the waiting list; when someone leaves (or capacity
grows), the longest-waiting member is promoted. Leaving deletes the row: nothing is kept about
a member who changed their mind.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from hub.db.models import Consent, Member, MemberConsent, Moment, Rsvp
from hub.signing import MAX_SEALED_ID, Purpose, Signer


class RsvpStatus(StrEnum):
    """Where a member stands for a moment."""

    GOING = "going"
    WAITING = "waiting"
    NONE = "none"


class RsvpError(ValueError):
    """The RSVP cannot be changed (cancelled or finished moment); the message is for people."""


@dataclass(frozen=True, slots=True)
class RsvpChange:
    """What a join or a leave did: the member's new status and who got a seat from it."""

    status: RsvpStatus
    promoted: tuple[int, ...] = ()


def lock_moment(session: Session, moment_id: int) -> Moment:
    """The moment, locked for this transaction (see the module docstring)."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(
            update(Moment).where(Moment.id == moment_id).values(id=Moment.id),
            execution_options={"synchronize_session": False},
        )
    moment = session.scalar(
        select(Moment)
        .where(Moment.id == moment_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if moment is None:
        raise RsvpError(f"no moment {moment_id}")
    return moment


def _count(session: Session, moment_id: int, status: RsvpStatus) -> int:
    return int(
        session.scalar(
            select(func.count(Rsvp.id)).where(
                Rsvp.moment_id == moment_id, Rsvp.status == status.value
            )
        )
        or 0
    )


def _row(session: Session, moment_id: int, member_id: int) -> Rsvp | None:
    return session.scalar(
        select(Rsvp).where(Rsvp.moment_id == moment_id, Rsvp.member_id == member_id)
    )


def _promote(session: Session, moment: Moment, now: datetime) -> tuple[int, ...]:
    """Give free seats to the waiting list, longest wait first."""
    if moment.capacity is None:
        free = None
    else:
        free = moment.capacity - _count(session, moment.id, RsvpStatus.GOING)
        if free <= 0:
            return ()
    waiting = select(Rsvp).where(
        Rsvp.moment_id == moment.id, Rsvp.status == RsvpStatus.WAITING.value
    )
    waiting = waiting.order_by(Rsvp.created_at, Rsvp.id)
    if free is not None:
        waiting = waiting.limit(free)
    promoted = []
    for row in session.scalars(waiting):
        row.status = RsvpStatus.GOING.value
        row.updated_at = now
        promoted.append(row.member_id)
    session.flush()
    return tuple(promoted)


def _check_open(moment: Moment, now: datetime) -> None:
    if moment.cancelled_at is not None:
        raise RsvpError("this moment is cancelled")
    if moment.ends_at <= now:
        raise RsvpError("this moment is over")


def join(session: Session, moment_id: int, member_id: int, now: datetime) -> RsvpChange:
    """The member joins: a seat if one is free, else the waiting list. Idempotent."""
    moment = lock_moment(session, moment_id)
    _check_open(moment, now)
    row = _row(session, moment_id, member_id)
    if row is not None:
        promoted = _promote(session, moment, now)  # capacity may have grown since
        return RsvpChange(RsvpStatus(row.status), promoted)
    free = (
        True
        if moment.capacity is None
        else _count(session, moment_id, RsvpStatus.GOING) < moment.capacity
    )
    status = RsvpStatus.GOING if free else RsvpStatus.WAITING
    session.add(
        Rsvp(
            moment_id=moment_id,
            member_id=member_id,
            status=status.value,
            created_at=now,
            updated_at=now,
        )
    )
    session.flush()
    return RsvpChange(status)


def leave(session: Session, moment_id: int, member_id: int, now: datetime) -> RsvpChange:
    """The member leaves (seat or waiting list); the next waiting member gets the seat."""
    moment = lock_moment(session, moment_id)
    if moment.ends_at <= now:
        raise RsvpError("this moment is over")
    row = _row(session, moment_id, member_id)
    if row is not None:
        session.delete(row)
        session.flush()
    promoted = _promote(session, moment, now) if moment.cancelled_at is None else ()
    return RsvpChange(RsvpStatus.NONE, promoted)


def status_of(session: Session, moment_id: int, member_id: int) -> RsvpStatus:
    """The member's status for the moment."""
    row = _row(session, moment_id, member_id)
    return RsvpStatus(row.status) if row is not None else RsvpStatus.NONE


def going_count(session: Session, moment_id: int) -> int:
    """How many members have a seat."""
    return _count(session, moment_id, RsvpStatus.GOING)


def seats_left(session: Session, moment: Moment) -> int | None:
    """Free seats (None: no capacity set)."""
    if moment.capacity is None:
        return None
    return max(0, moment.capacity - going_count(session, moment.id))


def going(session: Session, moment_id: int) -> tuple[int, list[str]]:
    """For the screens: how many are going, and the first names of those who allow display."""
    return going_by_moment(session, [moment_id])[moment_id]


# Built once: composing it costs more than running it, and a greeting runs it with each tap.
_GOING = (
    select(Rsvp.moment_id, Member.first_name, MemberConsent.member_id)
    .outerjoin(Member, Member.id == Rsvp.member_id)
    .outerjoin(
        MemberConsent,
        (MemberConsent.member_id == Member.id)
        & (MemberConsent.scope == Consent.SCREEN_DISPLAY.value),
    )
    .where(Rsvp.moment_id.in_(bindparam("moments", expanding=True)))
    .where(Rsvp.status == RsvpStatus.GOING.value)
    .order_by(Rsvp.moment_id, Rsvp.created_at, Rsvp.id)
)


def going_by_moment(
    session: Session, moment_ids: Iterable[int]
) -> dict[int, tuple[int, list[str]]]:
    """:func:`going` of several moments in one query (a greeting shows up to three)."""
    ids = list(moment_ids)
    found: dict[int, tuple[int, list[str]]] = {moment_id: (0, []) for moment_id in ids}
    if not ids:
        return found
    for moment_id, first_name, allowed in session.execute(_GOING, {"moments": ids}):
        count, names = found[moment_id]
        if allowed is not None and first_name is not None:
            names.append(first_name)
        found[moment_id] = (count + 1, names)
    return found


def members_joined(session: Session, moment_ids: Iterable[int]) -> dict[int, set[int]]:
    """Moment id → members going or waiting (both have said yes: no invitation needed)."""
    ids = list(moment_ids)
    found: dict[int, set[int]] = {moment_id: set() for moment_id in ids}
    if not ids:
        return found
    rows = session.execute(select(Rsvp.moment_id, Rsvp.member_id).where(Rsvp.moment_id.in_(ids)))
    for moment_id, member_id in rows:
        found[moment_id].add(member_id)
    return found


def counts(session: Session, moment_ids: Iterable[int]) -> dict[int, tuple[int, int]]:
    """Moment id → (going, waiting), in one query: what the staff list of moments shows."""
    ids = list(moment_ids)
    found = {moment_id: (0, 0) for moment_id in ids}
    if not ids:
        return found
    rows = session.execute(
        select(Rsvp.moment_id, Rsvp.status, func.count(Rsvp.id))
        .where(Rsvp.moment_id.in_(ids))
        .group_by(Rsvp.moment_id, Rsvp.status)
    )
    for moment_id, status, count in rows:
        going_, waiting = found[moment_id]
        if status == RsvpStatus.GOING.value:
            going_ = int(count)
        elif status == RsvpStatus.WAITING.value:
            waiting = int(count)
        found[moment_id] = (going_, waiting)
    return found


SCREEN_LINK_MAX_AGE_S = 15 * 60
"""A link shown as a QR code on a lobby screen can be photographed by anyone in the hall: it
opens the RSVP page for this long only (a link sent to the member lasts up to 7 days)."""


def rsvp_url(
    signer: Signer, base_url: str, member_id: int, moment_id: int, *, on_screen: bool = False
) -> str:
    """The member's signed link to join or leave the moment (messages, lobby QR codes).

    A link for a screen is sealed (:meth:`hub.signing.Signer.seal`): short, so its QR code is
    small and quick to draw, and the member's id is not readable in it. It lasts
    :data:`SCREEN_LINK_MAX_AGE_S`; ids too large to seal fall back to a signed ``via: screen``
    link, which lasts as long.
    """
    if on_screen and member_id <= MAX_SEALED_ID and moment_id <= MAX_SEALED_ID:
        token = signer.seal(Purpose.SCREEN_RSVP, member_id, moment_id)
    else:
        data: dict[str, object] = {"member": member_id, "moment": moment_id}
        if on_screen:
            data["via"] = "screen"
        token = signer.dumps(Purpose.RSVP, data)
    return f"{base_url.rstrip('/')}/rsvp/{token}"
