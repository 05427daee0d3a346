"""The nudge log: every decision of the nudge engine, its arm, and whether the member came.

The operator's question is whether nudges raise attendance. Counting the members who came after
a nudge says nothing (they may have come anyway); comparing them with the members of the same
rule's *holdout* arm — recorded the same way, sent nothing — does. So every decision is logged,
sent or not, with the rule, channel, wording variant and arm, and :func:`resolve_outcomes` later
writes whether the member attended the moment the nudge was about. The insights compute the
uplift as ``P(attended | treatment, sent) − P(attended | holdout)`` per rule, channel, variant.

This module takes plain values, not the engine's decision classes, so the log and the engine can
evolve separately; the values are still checked against the engine's vocabularies.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TypeVar

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from hub.db.models import Attendance, Moment, NudgeRecord
from hub.nudges.experiment import Arm
from hub.nudges.rules import Channel, NudgeKind

_E = TypeVar("_E", bound=StrEnum)


class Decision(StrEnum):
    """What the engine decided for one trigger."""

    SENT = "sent"  # a Send: to be delivered (``sent_at`` says when it was)
    HOLDOUT = "holdout"  # control group: recorded, nothing sent
    SKIPPED = "skipped"  # a guardrail said no (consent, quiet hours, caps, …)
    DRY_RUN = "dry_run"  # decided and explained, delivery disabled


class Outcome(StrEnum):
    """Whether the member attended the moment the nudge was about."""

    PENDING = "pending"
    ATTENDED = "attended"
    NOT_ATTENDED = "not_attended"


class NudgeLogError(ValueError):
    """A decision cannot be logged as given (a caller bug, not a member's doing)."""


def record_decision(
    session: Session,
    *,
    site_id: str,
    rule: str,
    decision: str,
    triggered_at: datetime,
    member_id: int | None = None,
    channel: str | None = None,
    variant_id: str | None = None,
    arm: str | None = None,
    reasons: Iterable[str] = (),
    moment_id: int | None = None,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
) -> NudgeRecord:
    """Log one decision; its outcome starts ``pending``.

    A ``sent`` decision needs the treatment arm, a channel and its delivery window; a
    ``holdout`` one the holdout arm. A skip may lack channel, variant and arm: the guardrail
    may have stopped the rule before they were chosen.
    """
    kind = _check(NudgeKind, rule, "rule")
    chosen = _check(Decision, decision, "decision")
    if channel is not None:
        _check(Channel, channel, "channel")
    if arm is not None:
        _check(Arm, arm, "arm")
    if chosen is Decision.SENT and (
        arm != Arm.TREATMENT or channel is None or not_before is None or not_after is None
    ):
        raise NudgeLogError("a sent nudge needs the treatment arm, a channel and a window")
    if chosen is Decision.HOLDOUT and arm != Arm.HOLDOUT:
        raise NudgeLogError("a holdout decision needs the holdout arm")
    if not_before is not None and not_after is not None and not_after < not_before:
        raise NudgeLogError("not_after is before not_before")
    record = NudgeRecord(
        member_id=member_id,
        site_id=site_id,
        rule=kind.value,
        channel=channel,
        variant_id=variant_id,
        arm=arm,
        decision=chosen.value,
        reasons=list(reasons),
        moment_id=moment_id,
        triggered_at=triggered_at,
        not_before=not_before,
        not_after=not_after,
        outcome=Outcome.PENDING.value,
    )
    session.add(record)
    session.flush()
    return record


def mark_sent(session: Session, record_id: int, at: datetime) -> NudgeRecord:
    """The dispatcher delivered the nudge at *at*; a redelivery keeps the first time."""
    record = session.get(NudgeRecord, record_id)
    if record is None:
        raise NudgeLogError(f"no nudge record {record_id}")
    if record.decision != Decision.SENT:
        raise NudgeLogError(f"nudge record {record_id} was {record.decision}, not sent")
    if record.sent_at is None:
        record.sent_at = at
    return record


def resolve_outcomes(session: Session, now: datetime, window: timedelta) -> list[NudgeRecord]:
    """Write the outcome of pending records whose moment ended at least *window* before *now*.

    *window* is the settling time after the moment's end: attendance inference runs after a
    moment and staff may mark latecomers, so resolving too early would undercount. Outcome is
    ``attended`` when an :class:`~hub.db.models.Attendance` row exists for (moment, member),
    whatever its source, else ``not_attended``; both arms are resolved the same way, which is
    what makes them comparable. A cancelled moment resolves like any other (nobody attends
    it); the insights drop cancelled moments by joining on them.

    Records stay ``pending`` when there is nothing to measure: no moment (an arrival greeting
    with no moment today, a welcome) or no member (a staff alert, an erased member).
    """
    cutoff = now - window
    attended = exists().where(
        Attendance.moment_id == NudgeRecord.moment_id,
        Attendance.member_id == NudgeRecord.member_id,
    )
    rows = session.execute(
        select(NudgeRecord, attended)
        .join(Moment, Moment.id == NudgeRecord.moment_id)
        .where(
            NudgeRecord.outcome == Outcome.PENDING.value,
            NudgeRecord.member_id.is_not(None),
            Moment.ends_at <= cutoff,
        )
        .order_by(NudgeRecord.id)
    ).all()
    resolved = []
    for record, came in rows:
        record.outcome = (Outcome.ATTENDED if came else Outcome.NOT_ATTENDED).value
        record.outcome_at = now
        resolved.append(record)
    return resolved


def _check(enum: type[_E], value: str, what: str) -> _E:
    try:
        return enum(value)
    except ValueError:
        raise NudgeLogError(f"unknown {what} {value!r}") from None
