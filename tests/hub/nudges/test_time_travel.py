"""Each rule, walked through a day (or weeks) with a clock the test moves by hand."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from hub.config import Language, RoomKind
from hub.nudges.guardrails import (
    Holdout,
    ReasonCode,
    Send,
    Skip,
    decide,
    plan_moment_soon,
    rank_moment_soon,
    trigger_time,
)
from hub.nudges.rules import Channel, NudgeKind
from tests.hub.nudges.helpers import (
    PARIS,
    Clock,
    member,
    moment,
    rules,
    sent,
    trigger,
    with_rule,
)

K = NudgeKind


def codes(decision: object) -> set[ReasonCode]:
    """The reason codes of a Skip (fails on anything else)."""
    assert isinstance(decision, Skip), decision
    return decision.codes


def local(value: datetime) -> str:
    """HH:MM at the site."""
    return f"{value.astimezone(PARIS):%H:%M}"


# 1. Arrival ---------------------------------------------------------------------------------


def test_arrival_greeting_is_instant_on_the_screen_and_rotates_daily() -> None:
    clock, config, camille = Clock(), rules(), member()
    first = decide(trigger(K.ARRIVAL_GREETING, clock.at(9, 2)), camille, config, clock.now)
    assert isinstance(first, Send)
    assert first.channel is Channel.SCREEN
    assert first.not_before == first.not_after == clock.now
    assert "Camille" in first.text
    camille = replace(camille, history=(sent(first),))
    clock.advance(days=1)
    second = decide(trigger(K.ARRIVAL_GREETING, clock.at(8, 55)), camille, config, clock.now)
    assert isinstance(second, Send)
    assert second.variant_id != first.variant_id


def test_arrival_greeting_needs_screen_consent_and_ignores_quiet_hours() -> None:
    clock, config = Clock(), rules()
    shy = member(channels=frozenset({Channel.EMAIL}))
    skip = decide(trigger(K.ARRIVAL_GREETING, clock.at(9)), shy, config, clock.now)
    assert codes(skip) == {ReasonCode.NO_CONSENT_CHANNEL}
    early = decide(trigger(K.ARRIVAL_GREETING, clock.at(7, 10)), member(), config, clock.now)
    assert isinstance(early, Send)  # the member is at the screen: the greeting is no ping


def test_arrival_message_is_off_by_default_and_needs_a_moment_within_the_hour() -> None:
    clock = Clock()
    breakfast = moment(clock.at(10, 0))
    arrival = trigger(K.ARRIVAL_MESSAGE, clock.at(9, 15), moment=breakfast)
    assert codes(decide(arrival, member(), rules(), clock.now)) == {ReasonCode.RULE_DISABLED}
    config = with_rule(rules(), K.ARRIVAL_MESSAGE, enabled=True)
    send = decide(arrival, member(), config, clock.now)
    assert isinstance(send, Send)
    assert (local(send.not_before), local(send.not_after)) == ("09:17", "09:25")
    assert "10:00" in send.text or "Petit-déjeuner" in send.text
    too_early = trigger(K.ARRIVAL_MESSAGE, clock.at(8, 30), moment=breakfast)
    assert codes(decide(too_early, member(), config, clock.now)) == {ReasonCode.NO_MOMENT_SOON}


# 2. Moment starting soon --------------------------------------------------------------------


def test_moment_soon_lands_a_few_minutes_after_the_trigger_before_the_start() -> None:
    clock, config = Clock(), rules()
    workshop = moment(clock.at(14, 0), id="atelier", title="Atelier vélo", room="Rooftop")
    soon = trigger(K.MOMENT_SOON, clock.at(13, 50), moment=workshop)
    send = decide(soon, member(), config, clock.now)
    assert isinstance(send, Send)
    assert (local(send.not_before), local(send.not_after)) == ("13:51", "13:53")
    assert send.channel is Channel.APPRISE  # first consented channel in the rule's order
    email_only = member(channels=frozenset({Channel.EMAIL}))
    by_email = decide(soon, email_only, config, clock.now)
    assert isinstance(by_email, Send)
    assert by_email.channel is Channel.EMAIL
    clock.advance(minutes=4)
    assert codes(decide(soon, member(), config, clock.now)) == {ReasonCode.STALE}


def test_moment_soon_skips_joined_absent_and_busy_members() -> None:
    clock, config = Clock(), rules()
    lunch = moment(clock.at(12, 30), id="dej")
    soon = trigger(K.MOMENT_SOON, clock.at(12, 20), moment=lunch)
    cases = {
        ReasonCode.ALREADY_JOINED: member(joined=frozenset({"dej"})),
        ReasonCode.NOT_ON_SITE: member(on_site=False),
        ReasonCode.IN_MEETING_ROOM: member(room_kind=RoomKind.MEETING),
        ReasonCode.NO_CONSENT_KIND: member(kinds=frozenset({K.WELCOME_BACK})),
    }
    for code, candidate in cases.items():
        assert codes(decide(soon, candidate, config, clock.now)) == {code}
    desk = decide(soon, member(room_kind=RoomKind.DESK), config, clock.now)
    assert isinstance(desk, Send)


def test_caps_hold_over_a_rolling_day_and_week() -> None:
    clock, config, camille = Clock(), rules(), member()
    for day in range(8):
        start = clock.at(14, 0)
        soon = trigger(K.MOMENT_SOON, start - timedelta(minutes=10), moment=moment(start))
        decision = decide(soon, camille, config, soon.at)
        if day in (0, 1, 2):
            assert isinstance(decision, Send), (day, decision)
            camille = replace(camille, history=(*camille.history, sent(decision)))
        elif day in (3, 4, 5, 6):
            assert ReasonCode.CAP_WEEK in codes(decision), day
        else:  # a week after the first one
            assert isinstance(decision, Send), decision
        clock.advance(days=1)
    # Nudged yesterday at 13:51: today's 13:50 trigger is within 24 hours.
    clock = Clock()
    start = clock.at(14, 0)
    yesterday = decide(
        trigger(K.MOMENT_SOON, start - timedelta(minutes=10), moment=moment(start)),
        member(),
        config,
        start - timedelta(minutes=10),
    )
    camille = member(history=(sent(yesterday),))
    start = clock.advance(days=1)
    today = trigger(K.MOMENT_SOON, start - timedelta(minutes=11), moment=moment(start))
    assert codes(decide(today, camille, config, today.at)) == {ReasonCode.CAP_DAY}


def test_ranking_prefers_interest_then_the_least_recently_nudged_within_capacity() -> None:
    clock = Clock()
    talk = moment(clock.at(18, 0), tags=frozenset({"design", "food"}))
    lately = sent(
        decide(trigger(K.ARRIVAL_GREETING, clock.at(9, 0)), member(), rules(), clock.at(9, 0))
    )
    people = [
        member("a", interests=frozenset({"design"}), history=(lately,)),
        member("b", interests=frozenset({"design", "food"})),
        member("c", interests=frozenset({"design"})),
        member("d"),
        member("e", interests=frozenset({"food"}), joined=frozenset({talk.id})),
        member("f", interests=frozenset({"food"}), on_site=False),
    ]
    ranked = rank_moment_soon(people, talk, capacity_left=3)
    assert [c.member_id for c in ranked] == ["b", "c", "a"]
    assert [c.member_id for c in rank_moment_soon(people, talk, None)] == ["b", "c", "a", "d"]
    assert rank_moment_soon(people, talk, 0) == []


def test_plan_offers_only_the_remaining_seats() -> None:
    clock = Clock()
    talk = moment(clock.at(18, 0), tags=frozenset({"design"}))
    people = [
        member("a", interests=frozenset({"design"}), kinds=frozenset()),  # no consent
        member("b", interests=frozenset({"design"})),
        member("c"),
        member("d"),
    ]
    soon = trigger(K.MOMENT_SOON, clock.at(17, 50), moment=talk)
    plan = plan_moment_soon(soon, people, rules(), clock.now, capacity_left=2)
    outcome = {c.member_id: d for c, d in plan}
    assert codes(outcome["a"]) == {ReasonCode.NO_CONSENT_KIND}
    assert isinstance(outcome["b"], Send)
    assert isinstance(outcome["c"], Send)
    assert codes(outcome["d"]) == {ReasonCode.CAPACITY_REACHED}


# 3. Low attendance --------------------------------------------------------------------------


def test_low_attendance_alerts_staff_five_minutes_after_the_start() -> None:
    clock, config = Clock(), rules()
    afterwork = moment(clock.at(19, 0), title="Afterwork", rsvps=10, attendees=2)
    check = trigger(K.LOW_ATTENDANCE_STAFF, clock.at(19, 5), moment=afterwork)
    alert = decide(check, None, config, clock.now)
    assert isinstance(alert, Send)
    assert alert.channel is Channel.STAFF
    assert alert.member_id is None
    assert alert.text == "Afterwork (Cuisine, 19:00) : 2 présent(s) pour 10 attendu(s)."
    enough = replace(check, moment=replace(afterwork, attendees=5))
    assert codes(decide(enough, None, config, clock.now)) == {ReasonCode.ATTENDANCE_OK}
    late = replace(check, at=clock.at(20, 5))  # staff alerts ignore quiet hours
    assert isinstance(decide(late, None, config, clock.now), Send)


# 4. Tenant streak ---------------------------------------------------------------------------


def test_tenant_streak_suggests_an_introduction_to_staff_then_cools_down() -> None:
    clock, config = Clock(), rules()
    camille = member(streak_days_without_moment=4)
    check = trigger(K.TENANT_STREAK_STAFF, clock.at(9, 30))
    assert codes(decide(check, camille, config, clock.now)) == {ReasonCode.STREAK_TOO_SHORT}
    camille = replace(camille, streak_days_without_moment=5)
    first = decide(check, camille, config, clock.now)
    assert isinstance(first, Send)
    assert first.channel is Channel.STAFF
    assert "Camille" in first.text
    assert "5 jours" in first.text
    camille = replace(camille, history=(sent(first),), streak_days_without_moment=6)
    clock.advance(days=1)
    check = trigger(K.TENANT_STREAK_STAFF, clock.now)
    assert codes(decide(check, camille, config, clock.now)) == {ReasonCode.RECENTLY_SUGGESTED}
    clock.advance(days=14)
    again = decide(trigger(K.TENANT_STREAK_STAFF, clock.now), camille, config, clock.now)
    assert isinstance(again, Send)
    assert again.variant_id != first.variant_id


def test_tenant_streak_needs_the_members_consent_to_individual_insights() -> None:
    clock = Clock()
    private = member(streak_days_without_moment=9, channels=frozenset({Channel.EMAIL}))
    decision = decide(trigger(K.TENANT_STREAK_STAFF, clock.now), private, rules(), clock.now)
    assert codes(decision) == {ReasonCode.NO_CONSENT_CHANNEL}


# 5. Welcomes --------------------------------------------------------------------------------


def test_first_day_welcome_once_after_a_short_delay() -> None:
    clock, config = Clock(), rules()
    newcomer = member(first_visit=True)
    welcome = decide(trigger(K.WELCOME_FIRST_DAY, clock.at(9, 40)), newcomer, config, clock.now)
    assert isinstance(welcome, Send)
    assert (local(welcome.not_before), local(welcome.not_after)) == ("09:45", "10:00")
    assert "éKilibre" in welcome.text or "Camille" in welcome.text
    clock.advance(days=3)
    again = replace(newcomer, history=(sent(welcome),))
    decision = decide(trigger(K.WELCOME_FIRST_DAY, clock.now), again, config, clock.now)
    assert codes(decision) == {ReasonCode.ALREADY_WELCOMED}
    regular = member(first_visit=False)
    decision = decide(trigger(K.WELCOME_FIRST_DAY, clock.now), regular, config, clock.now)
    assert codes(decision) == {ReasonCode.NOT_FIRST_VISIT}


def test_welcome_back_after_a_long_absence_in_the_members_language() -> None:
    clock, config = Clock(), rules()
    back = trigger(K.WELCOME_BACK, clock.at(10))
    away = member(first_name="Sam", language=Language.EN, days_since_last_visit=30)
    decision = decide(back, away, config, clock.now)
    assert isinstance(decision, Send)
    variant = config.rules.welcome_back.variant(decision.variant_id)
    assert variant is not None
    assert decision.text == variant.en.format(first_name="Sam", site="éKilibre", days=30)
    recent = replace(away, days_since_last_visit=10)
    assert codes(decide(back, recent, config, clock.now)) == {ReasonCode.ABSENCE_TOO_SHORT}


def test_a_window_touching_quiet_hours_is_skipped() -> None:
    clock, config = Clock(), rules()
    newcomer = member(first_visit=True)
    late = decide(trigger(K.WELCOME_FIRST_DAY, clock.at(19, 45)), newcomer, config, clock.now)
    assert codes(late) == {ReasonCode.QUIET_HOURS}  # 19:50 to 20:05
    fine = decide(trigger(K.WELCOME_FIRST_DAY, clock.at(19, 35)), newcomer, config, clock.now)
    assert isinstance(fine, Send)  # 19:40 to 19:55
    morning = decide(trigger(K.WELCOME_FIRST_DAY, clock.at(7, 50)), newcomer, config, clock.now)
    assert codes(morning) == {ReasonCode.QUIET_HOURS}


# Global switches and the experiment ----------------------------------------------------------


def test_pause_stops_everything_and_dry_run_marks_sends() -> None:
    clock = Clock()
    check = trigger(K.WELCOME_BACK, clock.at(10))
    away = member(days_since_last_visit=40)
    assert codes(decide(check, away, rules(paused=True), clock.now)) == {ReasonCode.PAUSED}
    dry = decide(check, away, rules(dry_run=True), clock.now)
    assert isinstance(dry, Send)
    assert dry.dry_run


def test_holdout_members_are_recorded_not_sent_and_stay_held_out() -> None:
    clock = Clock()
    config = with_rule(rules(), K.WELCOME_BACK, holdout_share=0.5)
    check = trigger(K.WELCOME_BACK, clock.at(10))
    decisions = {
        f"m{i}": decide(check, member(f"m{i}", days_since_last_visit=40), config, clock.now)
        for i in range(40)
    }
    held = {m for m, d in decisions.items() if isinstance(d, Holdout)}
    assert 5 < len(held) < 35
    assert all(isinstance(decisions[m], Send) for m in decisions.keys() - held)
    clock.advance(days=30)
    later = trigger(K.WELCOME_BACK, clock.now)
    for member_id in held:
        decision = decide(later, member(member_id, days_since_last_visit=40), config, clock.now)
        assert isinstance(decision, Holdout)
        assert decision.channel is Channel.APPRISE


def test_guardrails_refuse_naive_times_and_missing_members() -> None:
    clock = Clock()
    with pytest.raises(ValueError, match="timezone-aware"):
        decide(
            trigger(K.WELCOME_BACK, clock.now), member(), rules(), clock.now.replace(tzinfo=None)
        )
    with pytest.raises(ValueError, match="pass a candidate"):
        decide(trigger(K.WELCOME_BACK, clock.now), None, rules(), clock.now)
    with pytest.raises(ValueError, match="needs a moment"):
        decide(trigger(K.MOMENT_SOON, clock.now), member(), rules(), clock.now)


def test_moment_rules_fire_on_the_moments_schedule() -> None:
    clock, config = Clock(), rules()
    talk = moment(clock.at(14, 0))
    assert local(trigger_time(K.MOMENT_SOON, talk, config)) == "13:50"
    assert local(trigger_time(K.LOW_ATTENDANCE_STAFF, talk, config)) == "14:05"
    with pytest.raises(ValueError, match="not fired"):
        trigger_time(K.WELCOME_BACK, talk, config)


def test_staff_nudges_use_the_staff_language() -> None:
    clock = Clock()
    english_member = member(language=Language.EN, streak_days_without_moment=7)
    check = trigger(K.TENANT_STREAK_STAFF, clock.now)
    decision = decide(check, english_member, rules(), clock.now)
    assert isinstance(decision, Send)
    assert "jours" in decision.text


def test_a_single_wording_is_not_sent_twice_in_a_row() -> None:
    clock = Clock()
    config = rules()
    only = config.rules.arrival_greeting.variants[:1]
    config = with_rule(config, K.ARRIVAL_GREETING, variants=only)
    first = decide(trigger(K.ARRIVAL_GREETING, clock.at(9)), member(), config, clock.now)
    again = member(history=(sent(first),))
    clock.advance(days=1)
    second = decide(trigger(K.ARRIVAL_GREETING, clock.now), again, config, clock.now)
    assert codes(second) == {ReasonCode.SAME_WORDING_ONLY_LEFT}
