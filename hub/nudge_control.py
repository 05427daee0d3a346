"""The switches of the nudge engine: staff's global pause and dry run, and members' mutes.

Both also exist in the rules file (``paused``, ``dry_run``), which an installer edits; these are
the switches a community manager flips from the staff page, at once and for every hub process
sharing the database (a row of ``hub_state``, read at each scheduler tick and before each
delivery). Either source is enough to pause: the file says what a site wants by default, the
switch what the team wants right now.

A member's consent to messages is the opt-in; a *mute* narrows it kind by kind ("no more
invitations to moments"), from a button on the page their message links to, and is lifted the
same way (:func:`mute`, :func:`unmute`). Muted kinds are removed from what the guardrails see as
consented (:mod:`hub.nudge_facts`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from hub.db.models import HubState, MemberNudgeMute
from hub.nudges.rules import MEMBER_KINDS, NudgeKind, RulesConfig

STATE_KEY = "nudges:control"


def _row(session: Session) -> HubState | None:
    return session.get(HubState, STATE_KEY)


def _flag(session: Session, name: str) -> bool:
    row = _row(session)
    return bool(row is not None and row.value.get(name) is True)


def _set(session: Session, name: str, value: bool, now: datetime | None) -> None:
    at = now or datetime.now(UTC)
    row = _row(session)
    if row is None:
        session.add(HubState(key=STATE_KEY, value={name: value}, saved_at=at))
    else:
        row.value = {**row.value, name: value}  # a new dict: JSON columns track assignment
        row.saved_at = at
    session.flush()


def pause(session: Session, now: datetime | None = None) -> None:
    """Stop every nudge at once (decisions are still logged, as paused)."""
    _set(session, "paused", True, now)


def resume(session: Session, now: datetime | None = None) -> None:
    """Lift the staff pause (a pause written in the rules file stays)."""
    _set(session, "paused", False, now)


def is_paused(session: Session) -> bool:
    """Whether staff paused the nudges."""
    return _flag(session, "paused")


def set_dry_run(session: Session, on: bool, now: datetime | None = None) -> None:
    """Turn the dry-run mode on (decide and explain, deliver nothing) or off."""
    _set(session, "dry_run", on, now)


def is_dry_run(session: Session) -> bool:
    """Whether staff turned the dry-run mode on."""
    return _flag(session, "dry_run")


def effective_rules(session: Session, rules: RulesConfig) -> RulesConfig:
    """*rules* with the staff switches applied on top of the file's own."""
    paused = rules.paused or is_paused(session)
    dry_run = rules.dry_run or is_dry_run(session)
    if paused == rules.paused and dry_run == rules.dry_run:
        return rules
    return rules.model_copy(update={"paused": paused, "dry_run": dry_run})


INVITATIONS = frozenset({NudgeKind.MOMENT_SOON, NudgeKind.ARRIVAL_MESSAGE})
"""What "no more invitations to moments" mutes."""


def mute(
    session: Session, member_id: int, kinds: Iterable[NudgeKind], now: datetime | None = None
) -> None:
    """The member gets no more nudges of these kinds (idempotent)."""
    at = now or datetime.now(UTC)
    current = muted_kinds(session, member_id)
    for kind in sorted(set(kinds) - current):
        if kind not in MEMBER_KINDS:
            raise ValueError(f"{kind.value} is not a nudge to the member")
        session.add(MemberNudgeMute(member_id=member_id, kind=kind.value, muted_at=at))
    session.flush()


def unmute(session: Session, member_id: int, kinds: Iterable[NudgeKind]) -> None:
    """Lift the member's mutes of these kinds."""
    values = [kind.value for kind in kinds]
    session.execute(
        delete(MemberNudgeMute).where(
            MemberNudgeMute.member_id == member_id, MemberNudgeMute.kind.in_(values)
        )
    )


def muted_kinds(session: Session, member_id: int) -> frozenset[NudgeKind]:
    """The kinds the member muted."""
    rows = session.scalars(
        select(MemberNudgeMute.kind).where(MemberNudgeMute.member_id == member_id)
    )
    return frozenset(NudgeKind(kind) for kind in rows if kind in NudgeKind.__members__.values())
