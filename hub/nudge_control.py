"""The staff switches of the nudge engine: a global pause and a dry-run mode, kept in the database.

Both also exist in the rules file (``paused``, ``dry_run``), which an installer edits; these are
the switches a community manager flips from the staff page, at once and for every hub process
sharing the database (a row of ``hub_state``, read at each scheduler tick and before each
delivery). Either source is enough to pause: the file says what a site wants by default, the
switch what the team wants right now.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session

from hub.db.models import HubState
from hub.nudges.rules import RulesConfig

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
