"""Property tests: no sequence of events ever breaks consent, caps, quiet hours or rotation.

Hypothesis draws rules (caps, quiet hours, delay windows, holdouts, how many wordings), then a
sequence of triggers for a few members whose consents, rooms and situations change from one
event to the next. Every Send is applied to the member's history at a random instant of its
delivery window, as a dispatcher would, and the guardrails are checked on the whole result.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.config import Language, RoomKind
from hub.nudges.guardrails import (
    Candidate,
    Decision,
    Holdout,
    PastNudge,
    Send,
    Skip,
    Trigger,
    decide,
    quiet_overlap,
)
from hub.nudges.rules import (
    MESSAGE_CHANNELS,
    STAFF_KINDS,
    Caps,
    Channel,
    NudgeKind,
    QuietHours,
    RulesConfig,
    default_rules,
)
from tests.hub.nudges.helpers import PARIS, moment

K = NudgeKind
START = datetime(2026, 1, 1, tzinfo=UTC)
DEFAULTS = default_rules()


def clock(minutes: int) -> time:
    """The time of day *minutes* after midnight."""
    return time(minutes // 60, minutes % 60)


@st.composite
def configs(draw: st.DrawFn) -> RulesConfig:
    """Rules with random guardrails and timing (always valid)."""
    bounds = st.tuples(st.integers(0, 1439), st.integers(0, 1439)).filter(lambda b: b[0] != b[1])
    quiet = draw(
        st.none() | st.none() | bounds.map(lambda b: QuietHours(start=clock(b[0]), end=clock(b[1])))
    )
    rules: dict[str, Any] = {}
    for kind in NudgeKind:
        rule = DEFAULTS.rules.get(kind)
        data = rule.model_dump(mode="json")
        data["enabled"] = True
        data["holdout_share"] = draw(st.sampled_from([0.0, 0.0, 0.2, 0.5]))
        count = draw(st.integers(1, len(rule.variants)))
        data["variants"] = data["variants"][:count]
        low = draw(st.integers(0, 10))
        high = draw(st.integers(low, low + 20))
        if kind is K.MOMENT_SOON:
            data["lead_minutes"] = high + draw(st.integers(1, 10))
        data["delay_minutes"] = {"min": low, "max": high}
        rules[kind.value] = data
    caps = Caps(per_day=draw(st.integers(0, 4)), per_week=draw(st.integers(0, 10)))
    return RulesConfig.model_validate(
        {
            "quiet_hours": None if quiet is None else quiet.model_dump(mode="json"),
            "caps": caps.model_dump(),
            "experiment_salt": draw(st.sampled_from(["a", "b"])),
            "rules": rules,
        }
    )


@dataclass(frozen=True)
class Event:
    """One trigger and what the member looks like at that moment."""

    who: int
    kind: NudgeKind
    gap: int  # minutes since the previous event
    lag: int  # minutes between the trigger and the decision
    channels: frozenset[Channel]
    kinds: frozenset[NudgeKind]
    room: RoomKind | None
    lead: int  # minutes from the trigger to the moment's start
    joined: bool
    on_site: bool
    first_visit: bool
    days_away: int | None
    streak: int
    attendees: int
    delivery: float  # where in the window the dispatcher delivers


def mostly(value: Any, other: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """*value* three times in four, else *other* (so that sends are common enough)."""
    return st.sampled_from([value, value, value, None]).flatmap(
        lambda v: st.just(v) if v is not None else other
    )


events = st.builds(
    Event,
    who=st.integers(0, 1),
    kind=st.sampled_from(list(NudgeKind)),
    gap=st.one_of(st.integers(0, 30), st.integers(0, 600), st.integers(0, 4 * 1440)),
    lag=st.integers(0, 3),
    channels=mostly(frozenset(Channel), st.frozensets(st.sampled_from(list(Channel)))),
    kinds=mostly(frozenset(NudgeKind), st.frozensets(st.sampled_from(list(NudgeKind)))),
    room=st.sampled_from([None, None, RoomKind.DESK, *RoomKind]),
    lead=st.integers(1, 40) | st.integers(1, 120),
    joined=mostly(False, st.booleans()),
    on_site=mostly(True, st.booleans()),
    first_visit=st.booleans(),
    days_away=mostly(40, st.none() | st.integers(0, 60)),
    streak=mostly(8, st.integers(0, 10)),
    attendees=st.integers(0, 6),
    delivery=st.floats(0.0, 1.0),
)

pressure = st.builds(
    Event,
    who=st.just(0),
    kind=st.sampled_from(
        [
            K.MOMENT_SOON,
            K.ARRIVAL_MESSAGE,
            K.WELCOME_BACK,
            K.ARRIVAL_GREETING,
            K.TENANT_STREAK_STAFF,
        ]
    ),
    gap=st.integers(0, 60) | st.integers(0, 2 * 1440),
    lag=st.just(0),
    channels=st.just(frozenset(Channel)),
    kinds=st.just(frozenset(NudgeKind)),
    room=st.just(None),
    lead=st.integers(31, 45),
    joined=st.just(False),
    on_site=st.just(True),
    first_visit=st.just(False),
    days_away=st.just(40),
    streak=st.just(8),
    attendees=st.just(0),
    delivery=st.floats(0.0, 1.0),
)
"""Events that pass every rule's own condition, for one member: caps and rotation do the work."""


def quiet_at(config: RulesConfig, instant: datetime) -> bool:
    """Whether *instant* is in quiet hours, read on the site's wall clock."""
    return config.quiet_hours is not None and config.quiet_hours.contains(
        instant.astimezone(PARIS).time()
    )


def check_send(config: RulesConfig, decision: Send, candidate: Candidate | None) -> None:
    """Consent, audience, quiet hours and rooms for one Send."""
    assert (decision.kind in STAFF_KINDS) == (decision.channel is Channel.STAFF)
    if candidate is not None:
        assert decision.kind in candidate.kinds
        assert decision.channel in candidate.channels
    if decision.channel in MESSAGE_CHANNELS:
        assert candidate is not None
        assert candidate.room_kind not in config.do_not_disturb_rooms
        instant = decision.not_before
        while instant < decision.not_after:
            assert not quiet_at(config, instant), instant
            instant = min(instant + timedelta(minutes=1), decision.not_after)
        assert not quiet_at(config, decision.not_after)


def check_caps(config: RulesConfig, history: list[PastNudge]) -> None:
    """No rolling 24 hours or 7 days holds more messages than the caps."""
    times = sorted(h.sent_at for h in history if h.channel in MESSAGE_CHANNELS)
    for i, start in enumerate(times):
        assert sum(1 for t in times[i:] if t < start + timedelta(days=1)) <= config.caps.per_day
        assert sum(1 for t in times[i:] if t < start + timedelta(days=7)) <= config.caps.per_week


def check_rotation(history: list[PastNudge]) -> None:
    """In delivery order, a member never gets the same wording of a rule twice in a row."""
    by_kind: dict[NudgeKind, list[PastNudge]] = defaultdict(list)
    for entry in history:
        by_kind[entry.kind].append(entry)
    for entries in by_kind.values():
        ordered = sorted(entries, key=lambda h: h.sent_at)
        for before, after in itertools.pairwise(ordered):
            assert before.variant_id != after.variant_id, ordered


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    config=configs(),
    start=st.integers(0, 365 * 1440),
    sequence=st.lists(events, min_size=1, max_size=60),
)
def test_no_sequence_of_events_breaks_the_guardrails(
    config: RulesConfig, start: int, sequence: list[Event]
) -> None:
    run(config, start, sequence)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    config=configs(),
    start=st.integers(0, 365 * 1440),
    sequence=st.lists(pressure, min_size=5, max_size=60),
)
def test_caps_and_rotation_hold_under_pressure(
    config: RulesConfig, start: int, sequence: list[Event]
) -> None:
    run(config, start, sequence)


def run(config: RulesConfig, start: int, sequence: list[Event]) -> None:
    """Play *sequence* from *start* (minutes into 2026) and check every guardrail."""
    histories: dict[int, list[PastNudge]] = defaultdict(list)
    at = START + timedelta(minutes=start)
    for event in sequence:
        at += timedelta(minutes=event.gap)
        now = at + timedelta(minutes=event.lag)
        the_moment = moment(
            at + timedelta(minutes=event.lead)
            if event.kind is not K.LOW_ATTENDANCE_STAFF
            else at - timedelta(minutes=5),
            rsvps=4,
            attendees=event.attendees,
        )
        trigger = Trigger(kind=event.kind, at=at, zone=PARIS, site="Rooftop", moment=the_moment)
        candidate: Candidate | None = None
        if event.kind is not K.LOW_ATTENDANCE_STAFF:
            candidate = Candidate(
                member_id=f"m{event.who}",
                first_name=f"M{event.who}",
                language=Language.EN if event.who == 1 else Language.FR,
                channels=event.channels,
                kinds=event.kinds,
                room_kind=event.room,
                on_site=event.on_site,
                joined=frozenset({the_moment.id}) if event.joined else frozenset(),
                history=tuple(histories[event.who]),
                first_visit=event.first_visit,
                days_since_last_visit=event.days_away,
                streak_days_without_moment=event.streak,
            )
        decision: Decision = decide(trigger, candidate, config, now)
        assert decide(trigger, candidate, config, now) == decision  # deterministic
        if isinstance(decision, Skip):
            assert decision.reasons
            continue
        if isinstance(decision, Holdout):
            continue
        check_send(config, decision, candidate)
        if candidate is not None:
            span = decision.not_after - decision.not_before
            histories[event.who].append(
                PastNudge(
                    sent_at=decision.not_before + span * event.delivery,
                    kind=decision.kind,
                    variant_id=decision.variant_id,
                    channel=decision.channel,
                )
            )
    for history in histories.values():
        check_caps(config, history)
        check_rotation(history)


@settings(max_examples=100, deadline=None)
@given(config=configs(), sequence=st.lists(events, min_size=1, max_size=10))
def test_pause_and_missing_consent_always_win(config: RulesConfig, sequence: list[Event]) -> None:
    paused = config.model_copy(update={"paused": True})
    at = START
    for event in sequence:
        at += timedelta(minutes=event.gap)
        trigger = Trigger(kind=event.kind, at=at, moment=moment(at + timedelta(minutes=30)))
        candidate = None
        if event.kind is not K.LOW_ATTENDANCE_STAFF:
            candidate = Candidate(
                member_id="m",
                first_name="M",
                language=Language.FR,
                channels=event.channels,
                kinds=frozenset(),
            )
            assert not isinstance(decide(trigger, candidate, config, at), Send)
        assert isinstance(decide(trigger, candidate, paused, at), Skip)


@settings(max_examples=500, deadline=None)
@given(
    start=st.integers(0, 1439),
    end=st.integers(0, 1439),
    at=st.integers(0, 365 * 1440),
    length=st.integers(0, 90),
)
def test_quiet_overlap_matches_a_minute_by_minute_check(
    start: int, end: int, at: int, length: int
) -> None:
    if start == end:
        return
    quiet = QuietHours(start=clock(start), end=clock(end))
    config = DEFAULTS.model_copy(update={"quiet_hours": quiet})
    first = START + timedelta(minutes=at)
    last = first + timedelta(minutes=length)
    expected = any(quiet_at(config, first + timedelta(minutes=m)) for m in range(length + 1))
    assert quiet_overlap(quiet, first, last, PARIS) == expected
