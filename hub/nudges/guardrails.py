"""The nudge decision: given a trigger, a member and the rules, send what, when, or why not.

Pure logic: no database, no network, no clock. The caller passes ``now`` and everything it knows
about the member (:class:`Candidate`), so the same inputs always give the same decision; tests
travel in time by changing ``now`` and the trigger's time.

The guardrails, and why (BRIEF.md):

- **Consent** per channel *and* per kind of nudge: no row, no permission. A member who allowed
  messages but not invitations to moments gets none; a staff suggestion about a member (tenant
  streak) is an individual insight and needs that member's consent too (CNIL: identity-level
  features are opt-in).
- **Quiet hours** (site-local) and **caps** (any rolling 24 hours and 7 days): a channel that pings
  too often stops being read; effects fade over weeks, so fewer, better-timed messages.
- **Rotation**: never the wording of the member's previous nudge of the same rule, because a
  repeated message wears out while novel ones hold.
- **Delay window**: the message is delivered between ``not_before`` and ``not_after`` after the
  trigger rather than instantly; a short delay can beat instant delivery. A window that touches
  quiet hours is skipped, not postponed: a postponed invitation to a moment would arrive too late.
- **Rooms**: no message while the member is in a meeting room or a phone booth.
- **Pause** and **dry run**: one switch stops everything; dry run decides and explains but the
  dispatcher delivers nothing (:attr:`Send.dry_run`).
- **Holdout**: a member who passes every guardrail may still be in the rule's control group
  (:mod:`hub.nudges.experiment`): nothing is sent but the decision is recorded, so insights
  compare members who *would* have been nudged with those who were.

Quiet hours and caps apply to messages (:data:`~hub.nudges.rules.MESSAGE_CHANNELS`): the screen
greeting answers the member's own badge tap, and staff alerts go to the team, not the member.

What the caller records: every :class:`Send` (not in dry run) goes into the member's history as a
:class:`PastNudge` with the time it was actually delivered, or the planned ``not_before`` until
then (scheduled nudges count against caps); every :class:`Holdout` is recorded for insights but is
*not* history (nothing reached the member). Staff suggestions about a member go into that member's
history too: the cooldown and rotation of the tenant-streak rule read it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from hub.config import Language, RoomKind
from hub.nudges.experiment import Arm, assign, choose_variant
from hub.nudges.rules import (
    MESSAGE_CHANNELS,
    STAFF_KINDS,
    ArrivalMessageRule,
    Channel,
    LowAttendanceRule,
    MomentSoonRule,
    NudgeKind,
    QuietHours,
    RulesConfig,
    RuleSettings,
    TenantStreakRule,
    WelcomeBackRule,
)

DAY = timedelta(days=1)
WEEK = timedelta(days=7)
PARIS = ZoneInfo("Europe/Paris")
_NEEDS_MOMENT = {NudgeKind.ARRIVAL_MESSAGE, NudgeKind.MOMENT_SOON, NudgeKind.LOW_ATTENDANCE_STAFF}


@dataclass(frozen=True, slots=True)
class PastNudge:
    """A nudge that reached (or is scheduled to reach) a member."""

    sent_at: datetime
    kind: NudgeKind
    variant_id: str
    channel: Channel


@dataclass(frozen=True, slots=True)
class Moment:
    """What the rules need to know about a community moment."""

    id: str
    title: str
    room: str  # the room's name, as shown to people
    starts_at: datetime
    tags: frozenset[str] = frozenset()
    capacity: int | None = None
    attendees: int = 0  # people present now (low-attendance rule)
    rsvps: int = 0  # people who said they would come


@dataclass(frozen=True, slots=True)
class Candidate:
    """A member the rule might nudge, with only what the decision needs."""

    member_id: str
    first_name: str
    language: Language
    channels: frozenset[Channel]  # channels the member consented to
    kinds: frozenset[NudgeKind]  # kinds of nudge the member consented to
    room_kind: RoomKind | None = None  # where the member is now, if known
    on_site: bool = True
    interests: frozenset[str] = frozenset()
    joined: frozenset[str] = frozenset()  # moment ids the member RSVP'd to or attends
    history: tuple[PastNudge, ...] = ()
    first_visit: bool = False
    days_since_last_visit: int | None = None  # before this arrival; None: never came before
    streak_days_without_moment: int = 0  # consecutive days on site without any moment


@dataclass(frozen=True, slots=True)
class Trigger:
    """Something happened that a rule reacts to."""

    kind: NudgeKind
    at: datetime
    zone: ZoneInfo = PARIS  # the site's time zone (quiet hours are site-local)
    site: str = ""  # the site's name, as shown to people
    moment: Moment | None = None


class ReasonCode(StrEnum):
    """Why nothing is sent. Machine-readable; :mod:`hub.nudges.dryrun` says it in words."""

    PAUSED = "paused"
    RULE_DISABLED = "rule_disabled"
    STALE = "stale"  # the delivery window is already over
    NO_CONSENT_KIND = "no_consent_kind"
    NO_CONSENT_CHANNEL = "no_consent_channel"
    QUIET_HOURS = "quiet_hours"
    CAP_DAY = "cap_day"
    CAP_WEEK = "cap_week"
    IN_MEETING_ROOM = "in_meeting_room"
    SAME_WORDING_ONLY_LEFT = "same_wording_only_left"
    NOT_ON_SITE = "not_on_site"
    ALREADY_JOINED = "already_joined"
    NO_MOMENT_SOON = "no_moment_soon"
    CAPACITY_REACHED = "capacity_reached"
    ATTENDANCE_OK = "attendance_ok"
    STREAK_TOO_SHORT = "streak_too_short"
    RECENTLY_SUGGESTED = "recently_suggested"
    NOT_FIRST_VISIT = "not_first_visit"
    ALREADY_WELCOMED = "already_welcomed"
    ABSENCE_TOO_SHORT = "absence_too_short"


@dataclass(frozen=True, slots=True)
class Reason:
    """One reason not to send, with a detail for people (``20:00–08:00``, ``1/1``)."""

    code: ReasonCode
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Send:
    """Deliver *text* on *channel* at a moment between ``not_before`` and ``not_after``."""

    kind: NudgeKind
    member_id: str | None  # None for alerts about a moment, not a member
    channel: Channel
    variant_id: str
    text: str
    not_before: datetime
    not_after: datetime
    dry_run: bool = False  # decided, explained, but the dispatcher must deliver nothing


@dataclass(frozen=True, slots=True)
class Holdout:
    """The member is in the rule's control group: record this, send nothing."""

    kind: NudgeKind
    member_id: str | None
    channel: Channel  # what would have been used, for the analysis
    variant_id: str
    share: float


@dataclass(frozen=True, slots=True)
class Skip:
    """Nothing is sent, for these reasons (all of them, so a dry run explains fully)."""

    kind: NudgeKind
    member_id: str | None
    reasons: tuple[Reason, ...] = field(default_factory=tuple)

    @property
    def codes(self) -> set[ReasonCode]:
        """The reason codes."""
        return {r.code for r in self.reasons}


Decision = Send | Holdout | Skip


def _utc(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return value.astimezone(UTC)


def quiet_overlap(quiet: QuietHours, start: datetime, end: datetime, zone: ZoneInfo) -> bool:
    """Whether any instant of [*start*, *end*] falls in *quiet* hours, read in *zone*."""
    start, end = _utc(start, "start"), _utc(end, "end")
    if quiet.contains(start.astimezone(zone).time()):
        return True
    # Not quiet at the start: the window is quiet somewhere only if quiet hours begin inside it.
    day = start.astimezone(zone).date() - DAY
    last = end.astimezone(zone).date()
    while day <= last:
        begins = datetime.combine(day, quiet.start, tzinfo=zone).astimezone(UTC)
        if start < begins <= end:
            return True
        day += DAY
    return False


def _messages_near(history: Iterable[PastNudge], start: datetime, end: datetime) -> int:
    # A message counted against a cap is any within one period of any instant of the window, on
    # either side: whenever in the window it is delivered, no rolling period then holds more
    # than the cap, whatever the order in which decisions were taken.
    return sum(
        1 for h in history if h.channel in MESSAGE_CHANNELS and start < _utc(h.sent_at, "h") < end
    )


def _last_message(candidate: Candidate) -> datetime | None:
    times = [_utc(h.sent_at, "sent_at") for h in candidate.history]
    return max(times) if times else None


def _conditions(
    trigger: Trigger, candidate: Candidate | None, rule: RuleSettings, not_after: datetime
) -> list[Reason]:
    """The rule's own condition (is there a reason to nudge at all?)."""
    kind = trigger.kind
    moment = trigger.moment
    if kind in _NEEDS_MOMENT and moment is None:
        raise ValueError(f"a {kind.value} trigger needs a moment")
    reasons: list[Reason] = []
    if isinstance(rule, ArrivalMessageRule | MomentSoonRule):
        assert moment is not None
        assert candidate is not None
        starts = _utc(moment.starts_at, "starts_at")
        if not candidate.on_site:
            reasons.append(Reason(ReasonCode.NOT_ON_SITE))
        if moment.id in candidate.joined:
            reasons.append(Reason(ReasonCode.ALREADY_JOINED, moment.title))
        if not_after >= starts or (
            isinstance(rule, ArrivalMessageRule)
            and starts - _utc(trigger.at, "at") > timedelta(minutes=rule.within_minutes)
        ):
            reasons.append(Reason(ReasonCode.NO_MOMENT_SOON, moment.title))
    elif isinstance(rule, LowAttendanceRule):
        assert moment is not None
        wanted = max(rule.min_attendees, math.ceil(rule.min_share_of_rsvps * moment.rsvps))
        if moment.attendees >= wanted:
            reasons.append(Reason(ReasonCode.ATTENDANCE_OK, f"{moment.attendees}/{wanted}"))
    elif isinstance(rule, TenantStreakRule):
        assert candidate is not None
        if candidate.streak_days_without_moment < rule.streak_days:
            detail = f"{candidate.streak_days_without_moment}/{rule.streak_days}"
            reasons.append(Reason(ReasonCode.STREAK_TOO_SHORT, detail))
        since = _utc(trigger.at, "at") - timedelta(days=rule.cooldown_days)
        if any(h.kind is kind and _utc(h.sent_at, "h") > since for h in candidate.history):
            reasons.append(Reason(ReasonCode.RECENTLY_SUGGESTED, f"{rule.cooldown_days}"))
    elif kind is NudgeKind.WELCOME_FIRST_DAY:
        assert candidate is not None
        if not candidate.first_visit:
            reasons.append(Reason(ReasonCode.NOT_FIRST_VISIT))
        if any(h.kind is kind for h in candidate.history):
            reasons.append(Reason(ReasonCode.ALREADY_WELCOMED))
    elif isinstance(rule, WelcomeBackRule):
        assert candidate is not None
        days = candidate.days_since_last_visit
        if days is None or days < rule.absence_days:
            reasons.append(Reason(ReasonCode.ABSENCE_TOO_SHORT, f"{days or 0}/{rule.absence_days}"))
    return reasons


def _values(
    trigger: Trigger, candidate: Candidate | None, not_after: datetime
) -> dict[str, str | int]:
    values: dict[str, str | int] = {"site": trigger.site}
    if candidate is not None:
        values["first_name"] = candidate.first_name
        values["days"] = (
            candidate.streak_days_without_moment
            if trigger.kind is NudgeKind.TENANT_STREAK_STAFF
            else candidate.days_since_last_visit or 0
        )
    moment = trigger.moment
    if moment is not None:
        starts = _utc(moment.starts_at, "starts_at")
        values.update(
            title=moment.title,
            room=moment.room,
            time=f"{starts.astimezone(trigger.zone):%H:%M}",
            minutes=max(0, int((starts - not_after).total_seconds() // 60)),
            count=moment.attendees,
            expected=moment.rsvps,
        )
    return values


def decide(
    trigger: Trigger, candidate: Candidate | None, rules: RulesConfig, now: datetime
) -> Decision:
    """Decide whether *trigger* nudges *candidate* (None only for a low-attendance alert)."""
    kind = trigger.kind
    rule = rules.rules.get(kind)
    member_id = candidate.member_id if candidate is not None else None
    if candidate is None and kind is not NudgeKind.LOW_ATTENDANCE_STAFF:
        raise ValueError(f"a {kind.value} nudge is about a member: pass a candidate")
    at, now = _utc(trigger.at, "trigger.at"), _utc(now, "now")
    if rules.paused:
        return Skip(kind, member_id, (Reason(ReasonCode.PAUSED),))
    if not rule.enabled:
        return Skip(kind, member_id, (Reason(ReasonCode.RULE_DISABLED),))
    not_before = at + timedelta(minutes=rule.delay_minutes.min)
    not_after = at + timedelta(minutes=rule.delay_minutes.max)
    if now > not_after:
        closed = f"{not_after.astimezone(trigger.zone):%H:%M}"
        return Skip(kind, member_id, (Reason(ReasonCode.STALE, closed),))
    not_before = max(not_before, now)

    reasons = _conditions(trigger, candidate, rule, not_after)
    channel: Channel | None = rule.channels[0]
    if candidate is not None:
        if kind not in candidate.kinds:
            reasons.append(Reason(ReasonCode.NO_CONSENT_KIND, kind.value))
        channel = next((c for c in rule.channels if c in candidate.channels), None)
        if channel is None:
            detail = ", ".join(c.value for c in rule.channels)
            reasons.append(Reason(ReasonCode.NO_CONSENT_CHANNEL, detail))
    messages = any(c in MESSAGE_CHANNELS for c in rule.channels)
    if messages and candidate is not None:
        quiet = rules.quiet_hours
        if quiet is not None and quiet_overlap(quiet, not_before, not_after, trigger.zone):
            reasons.append(Reason(ReasonCode.QUIET_HOURS, quiet.label()))
        caps = rules.caps
        day = _messages_near(candidate.history, not_before - DAY, not_after + DAY)
        if day >= caps.per_day:
            reasons.append(Reason(ReasonCode.CAP_DAY, f"{day}/{caps.per_day}"))
        week = _messages_near(candidate.history, not_before - WEEK, not_after + WEEK)
        if week >= caps.per_week:
            reasons.append(Reason(ReasonCode.CAP_WEEK, f"{week}/{caps.per_week}"))
        if candidate.room_kind in rules.do_not_disturb_rooms:
            assert candidate.room_kind is not None
            reasons.append(Reason(ReasonCode.IN_MEETING_ROOM, candidate.room_kind.value))

    unit = member_id if member_id is not None else (trigger.moment.id if trigger.moment else "")
    seen = [
        (_utc(h.sent_at, "sent_at"), h.variant_id)
        for h in (candidate.history if candidate is not None else ())
        if h.kind is kind
    ]
    ids = [v.id for v in rule.variants]
    variant_id = choose_variant(unit, kind.value, ids, seen, rules.experiment_salt, not_before)
    if variant_id is None:
        reasons.append(Reason(ReasonCode.SAME_WORDING_ONLY_LEFT, ids[0]))

    if reasons or channel is None or variant_id is None:
        return Skip(kind, member_id, tuple(reasons))
    if assign(unit, kind.value, rules.experiment_salt, rule.holdout_share) is Arm.HOLDOUT:
        return Holdout(kind, member_id, channel, variant_id, rule.holdout_share)
    variant = rule.variant(variant_id)
    assert variant is not None
    language = rules.staff_language
    if candidate is not None and kind not in STAFF_KINDS:
        language = candidate.language
    text = variant.text(language).format_map(_values(trigger, candidate, not_after))
    return Send(kind, member_id, channel, variant_id, text, not_before, not_after, rules.dry_run)


def trigger_time(kind: NudgeKind, moment: Moment, rules: RulesConfig) -> datetime:
    """When the scheduler fires a moment rule: before the start (moment_soon) or after it."""
    if kind is NudgeKind.MOMENT_SOON:
        return moment.starts_at - timedelta(minutes=rules.rules.moment_soon.lead_minutes)
    if kind is NudgeKind.LOW_ATTENDANCE_STAFF:
        after = rules.rules.low_attendance_staff.after_start_minutes
        return moment.starts_at + timedelta(minutes=after)
    raise ValueError(f"{kind.value} is not fired by a moment's schedule")


def rank_moment_soon(
    candidates: Iterable[Candidate], moment: Moment, capacity_left: int | None
) -> list[Candidate]:
    """Members to invite to *moment*: on site, not joined, best interest match first.

    Ties go to the member least recently nudged (never nudged first), then by member id so the
    order is deterministic. At most *capacity_left* (None: no limit).
    """

    def key(candidate: Candidate) -> tuple[int, float, str]:
        last = _last_message(candidate)
        return (
            -len(candidate.interests & moment.tags),
            last.timestamp() if last is not None else -math.inf,
            candidate.member_id,
        )

    eligible = sorted((c for c in candidates if c.on_site and moment.id not in c.joined), key=key)
    return eligible if capacity_left is None else eligible[: max(capacity_left, 0)]


def plan_moment_soon(
    trigger: Trigger,
    candidates: Sequence[Candidate],
    rules: RulesConfig,
    now: datetime,
    capacity_left: int | None,
) -> list[tuple[Candidate, Decision]]:
    """Decide the moment-soon rule for everyone eligible, in rank order, within the capacity.

    A held-out member takes a seat in the count like an invited one, so the control group is
    drawn from the same ranks as the treated members; once the seats are offered, the rest are
    skipped with ``capacity_reached``.
    """
    if trigger.moment is None or trigger.kind is not NudgeKind.MOMENT_SOON:
        raise ValueError("plan_moment_soon needs a moment_soon trigger with its moment")
    offered = 0
    plan: list[tuple[Candidate, Decision]] = []
    for candidate in rank_moment_soon(candidates, trigger.moment, None):
        if capacity_left is not None and offered >= capacity_left:
            reason = Reason(ReasonCode.CAPACITY_REACHED, str(capacity_left))
            plan.append((candidate, Skip(trigger.kind, candidate.member_id, (reason,))))
            continue
        decision = decide(trigger, candidate, rules, now)
        if isinstance(decision, Send | Holdout):
            offered += 1
        plan.append((candidate, decision))
    return plan
