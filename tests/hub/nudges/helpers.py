"""A controllable clock and small factories for nudge tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hub.config import Language
from hub.nudges.guardrails import Candidate, Decision, Moment, PastNudge, Send, Trigger
from hub.nudges.rules import Channel, NudgeKind, RulesConfig, default_rules

PARIS = ZoneInfo("Europe/Paris")
ALL_KINDS = frozenset(NudgeKind)
MEMBER_CHANNELS = frozenset({Channel.SCREEN, Channel.EMAIL, Channel.APPRISE, Channel.WEBHOOK})


class Clock:
    """Site-local time that tests move by hand (a Tuesday in March by default)."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 3, 10, 9, 0, tzinfo=PARIS)

    def at(self, hour: int, minute: int = 0) -> datetime:
        """Jump to *hour*:*minute* today and return the new time."""
        self.now = self.now.replace(hour=hour, minute=minute, second=0, microsecond=0)
        return self.now

    def advance(self, **delta: float) -> datetime:
        """Move forward (``minutes=5``, ``days=1``) and return the new time."""
        self.now = self.now + timedelta(**delta)
        return self.now


def rules(**changes: object) -> RulesConfig:
    """The default rules, with global settings changed and holdouts off unless asked."""
    config = default_rules()
    no_holdout = {
        kind.value: config.rules.get(kind).model_copy(update={"holdout_share": 0.0})
        for kind in NudgeKind
    }
    config = config.model_copy(
        update={"rules": config.rules.model_copy(update=no_holdout), **changes}
    )
    return config


def with_rule(config: RulesConfig, kind: NudgeKind, **changes: object) -> RulesConfig:
    """*config* with the settings of rule *kind* changed."""
    rule = config.rules.get(kind).model_copy(update=changes)
    return config.model_copy(update={"rules": config.rules.model_copy(update={kind.value: rule})})


def member(member_id: str = "m1", first_name: str = "Camille", **changes: object) -> Candidate:
    """A member on site who consented to everything (tests remove what they need)."""
    candidate = Candidate(
        member_id=member_id,
        first_name=first_name,
        language=Language.FR,
        channels=MEMBER_CHANNELS | {Channel.STAFF},
        kinds=ALL_KINDS,
    )
    return replace(candidate, **changes)  # type: ignore[arg-type]


def moment(starts_at: datetime, **changes: object) -> Moment:
    """A breakfast in the kitchen."""
    base = Moment(
        id="petit-dej",
        title="Petit-déjeuner",
        room="Cuisine",
        starts_at=starts_at,
        tags=frozenset({"food", "networking"}),
        capacity=12,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def trigger(kind: NudgeKind, at: datetime, **changes: object) -> Trigger:
    """A trigger at a site named éKilibre."""
    return replace(Trigger(kind=kind, at=at, zone=PARIS, site="éKilibre"), **changes)  # type: ignore[arg-type]


def sent(decision: Decision, at: datetime | None = None) -> PastNudge:
    """The history entry a dispatcher records for a Send."""
    assert isinstance(decision, Send), decision
    return PastNudge(
        sent_at=at or decision.not_before,
        kind=decision.kind,
        variant_id=decision.variant_id,
        channel=decision.channel,
    )


def utc(value: datetime) -> datetime:
    """*value* in UTC."""
    return value.astimezone(UTC)
