"""Occupancy fusion, driven by a test clock: every time below is minutes after T0."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from hub.occupancy import (
    FLAGS,
    Co2TrendSettings,
    OccupancyEstimate,
    OccupancyFlag,
    OccupancySettings,
    RoomOccupancy,
    changed,
)
from vivant.wire.payloads import Occupancy, SensorKind

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
IN, OUT, MOTION, DOOR, CO2 = (
    SensorKind.PEOPLE_IN,
    SensorKind.PEOPLE_OUT,
    SensorKind.MOTION,
    SensorKind.DOOR,
    SensorKind.CO2,
)


def at(minutes: float) -> int:
    return T0 + round(minutes * 60_000)


def room(capacity: int | None = 16, **overrides: object) -> RoomOccupancy:
    return RoomOccupancy("cuisine", capacity, OccupancySettings.model_validate(overrides))


def motion_every_minute(r: RoomOccupancy, value: int, start: float, stop: float) -> None:
    """A PIR reporting its state each minute, as the edge does."""
    minute = start
    while minute < stop:
        r.on_sensor(MOTION, value, at(minute))
        minute += 1


def counter_heartbeats(r: RoomOccupancy, start: float, stop: float) -> None:
    """A beam counter reporting zero crossings each minute (it is alive, nobody crossed)."""
    minute = start
    while minute < stop:
        r.on_sensor(IN, 0, at(minute))
        r.on_sensor(OUT, 0, at(minute))
        minute += 1


# -- beam counter ---------------------------------------------------------------------------


def test_beam_counter_counts_in_and_out() -> None:
    r = room()
    motion_every_minute(r, 1, 0, 10)
    r.on_sensor(IN, 3, at(1))
    r.on_sensor(IN, 2, at(2))
    r.on_sensor(OUT, 1, at(5))
    estimate = r.estimate(at(6))
    assert estimate.count == 4
    assert estimate.flags == ()
    assert estimate.confidence >= 0.9  # counter, and motion agrees
    assert estimate.updated_ms == at(6)


def test_counter_is_clamped_at_zero_and_flagged() -> None:
    r = room()
    motion_every_minute(r, 1, 0, 30)
    r.on_sensor(IN, 1, at(1))
    r.on_sensor(OUT, 3, at(2))  # two exits nobody entered for
    estimate = r.estimate(at(3))
    assert estimate.count == 1  # the counter says 0, motion says someone is there
    assert OccupancyFlag.COUNTER_CORRECTED in estimate.flags
    assert OccupancyFlag.COUNTER_DRIFT in estimate.flags
    assert estimate.confidence < 0.5
    r.on_sensor(IN, 2, at(4))
    assert r.estimate(at(5)).count == 2  # counting resumes from zero, not from -2
    counter_heartbeats(r, 5, 30)
    later = r.estimate(at(2 + 15 + 1))  # flag_hold_s (15 min) after the clamp
    assert later.count == 2
    assert later.flags == ()


def test_in_and_out_at_the_same_instant_do_not_clamp() -> None:
    r = room()
    r.on_sensor(OUT, 1, at(1))
    r.on_sensor(IN, 1, at(1))
    estimate = r.estimate(at(2))
    assert estimate.count == 0
    assert OccupancyFlag.COUNTER_CORRECTED not in estimate.flags


def test_late_counts_are_applied_in_event_time_order() -> None:
    r = room()
    motion_every_minute(r, 1, 0, 10)
    r.on_sensor(OUT, 2, at(5))  # arrives first (the entry was stuck in a node's outbox)
    r.on_sensor(IN, 2, at(3))
    estimate = r.estimate(at(6))
    assert estimate.count == 1  # motion floor: the counter is at 0 after 2 in, 2 out
    assert OccupancyFlag.COUNTER_CORRECTED not in estimate.flags


def test_counts_later_than_the_tolerance_still_count() -> None:
    r = room(late_tolerance_s=120)
    motion_every_minute(r, 1, 0, 30)
    r.on_sensor(IN, 2, at(1))
    assert r.estimate(at(10)).count == 2
    r.on_sensor(IN, 1, at(4))  # six minutes late: folded into the base
    assert r.estimate(at(11)).count == 3


# -- empty reset and drift ------------------------------------------------------------------


def test_stuck_counter_drifts_then_resets_after_the_room_is_empty() -> None:
    r = room()  # hold 5 min, drift after 10 min vacant, reset after 15 min vacant
    motion_every_minute(r, 1, 0, 10)
    r.on_sensor(IN, 2, at(1))  # two people came in; one exit is missed later
    r.on_sensor(OUT, 1, at(8))
    motion_every_minute(r, 0, 10, 60)  # vacant from 10 + 5 = 15
    counter_heartbeats(r, 10, 60)

    during_hold = r.estimate(at(14))
    assert during_hold.count == 1
    assert during_hold.flags == ()

    vacant = r.estimate(at(20))  # motion vacant, counter still 1: disagreement
    assert vacant.count == 1
    assert vacant.confidence < during_hold.confidence

    drifting = r.estimate(at(26))  # vacant for more than drift_after_s
    assert drifting.count == 0  # the drifting counter is no longer trusted
    assert OccupancyFlag.COUNTER_DRIFT in drifting.flags

    reset = r.estimate(at(31))  # vacant since 15, reset at 15 + 15 = 30
    assert reset.count == 0
    assert reset.flags == (OccupancyFlag.COUNTER_CORRECTED,)

    r.on_sensor(MOTION, 1, at(40))
    r.on_sensor(IN, 1, at(40))
    assert r.estimate(at(41)).count == 1  # counting again from zero


def test_counts_older_than_a_reset_are_superseded() -> None:
    r = room()
    r.on_sensor(MOTION, 0, at(0))
    counter_heartbeats(r, 0, 40)
    motion_every_minute(r, 0, 0, 40)
    assert r.estimate(at(25)).count == 0  # vacant since 5, reset at 20
    r.on_sensor(IN, 3, at(10))  # a late message from before the reset
    assert r.estimate(at(26)).count == 0


def test_ghost_counts_during_the_same_vacancy_are_reset_again() -> None:
    r = room()
    motion_every_minute(r, 0, 0, 80)
    counter_heartbeats(r, 0, 80)
    assert r.estimate(at(21)).count == 0  # first reset at 5 + 15 = 20
    r.on_sensor(IN, 1, at(30))  # a chair pushed through the beam, nobody moves
    ghost = r.estimate(at(31))
    assert ghost.count == 0  # motion has said vacant for long: the counter is drifting
    assert OccupancyFlag.COUNTER_DRIFT in ghost.flags
    after = r.estimate(at(46))  # 30 + 15
    assert after.count == 0
    assert OccupancyFlag.COUNTER_DRIFT not in after.flags
    assert OccupancyFlag.COUNTER_CORRECTED in after.flags


# -- motion -------------------------------------------------------------------------------------


def test_motion_holds_occupancy_after_the_sensor_returns_to_zero() -> None:
    r = room(motion_hold_s=300)
    r.on_sensor(MOTION, 1, at(0))
    r.on_sensor(MOTION, 0, at(1))
    occupied = r.estimate(at(5.9))
    assert occupied.count == 1  # motion alone says "at least one"
    vacant = r.estimate(at(6.1))
    assert vacant.count == 0
    assert vacant.confidence > occupied.confidence  # vacancy by motion is the surer statement


def test_motion_still_on_keeps_the_room_occupied() -> None:
    r = room(motion_hold_s=60)
    r.on_sensor(MOTION, 1, at(0))  # reports changes only: someone stays in front of it
    assert r.estimate(at(10)).count == 1


def test_late_motion_zero_before_the_last_motion_is_ignored() -> None:
    r = room(motion_hold_s=60)
    r.on_sensor(MOTION, 1, at(5))
    r.on_sensor(MOTION, 0, at(2))  # older than the motion: says nothing about now
    assert r.estimate(at(10)).count == 1


# -- identified, anonymous, CO2 -------------------------------------------------------------


def test_identified_members_are_a_floor() -> None:
    r = room()
    motion_every_minute(r, 1, 0, 10)
    r.on_sensor(IN, 1, at(1))
    agreeing = r.estimate(at(2))
    r.set_identified(3, at(2))
    estimate = r.estimate(at(3))
    assert estimate.count == 3
    assert estimate.confidence < agreeing.confidence  # the counter missed people


def test_latest_identified_count_wins_even_if_an_older_one_arrives_later() -> None:
    r = room()
    r.set_identified(2, at(5))
    r.set_identified(7, at(4))
    assert r.estimate(at(6)).count == 2


def test_anonymous_devices_give_a_soft_estimate() -> None:
    r = room(devices_per_person=1.3)
    r.set_anonymous(4, at(1))  # 4 / 1.3 ≈ 3 people
    estimate = r.estimate(at(2))
    assert estimate.count == 3
    assert 0.3 <= estimate.confidence <= 0.6
    r.set_anonymous(1, at(3))
    assert r.estimate(at(4)).count == 1


def test_motion_vacancy_overrides_anonymous_devices() -> None:
    r = room()
    r.on_sensor(MOTION, 0, at(0))
    motion_every_minute(r, 0, 0, 20)
    r.set_anonymous(3, at(19))  # phones charging on an empty desk
    estimate = r.estimate(at(19.5))
    assert estimate.count == 0
    assert estimate.confidence < 0.7


def test_co2_trend_only_moves_confidence() -> None:
    def with_co2(ppm_per_min: float) -> OccupancyEstimate:
        r = room(co2=Co2TrendSettings(slope_ppm_per_min=3))
        motion_every_minute(r, 0, 0, 30)
        for minute in range(15, 30):
            r.on_sensor(CO2, 600 + ppm_per_min * (minute - 15), at(minute))
        return r.estimate(at(29.5))

    steady, rising, falling = with_co2(0), with_co2(10), with_co2(-10)
    assert steady.count == rising.count == falling.count == 0
    assert rising.confidence < steady.confidence < falling.confidence


def test_co2_is_ignored_unless_configured() -> None:
    r = room()
    r.on_sensor(CO2, 900, at(0))
    estimate = r.estimate(at(60))
    assert OccupancyFlag.SENSOR_OFFLINE not in estimate.flags


# -- cap, offline, no data ------------------------------------------------------------------


def test_estimate_is_capped_at_capacity_times_factor() -> None:
    r = room(capacity=4, capacity_factor=1.5)
    motion_every_minute(r, 1, 0, 10)
    r.on_sensor(IN, 40, at(1))  # a stuck beam
    estimate = r.estimate(at(2))
    assert r.cap == 6
    assert estimate.count == 6
    assert OccupancyFlag.ESTIMATE_CAPPED in estimate.flags


def test_room_without_capacity_uses_the_uncapped_limit() -> None:
    r = room(capacity=None, uncapped_limit=50)
    r.on_sensor(IN, 80, at(1))
    assert r.estimate(at(2)).count == 50


def test_silent_sensor_is_flagged_offline_and_ignored() -> None:
    r = room(offline_after_s=600)
    r.on_sensor(IN, 5, at(0))
    r.set_anonymous(1, at(0))
    motion_every_minute(r, 1, 0, 30)
    for minute in range(0, 30):
        r.set_anonymous(1, at(minute))
    estimate = r.estimate(at(20))  # the counter said nothing for 20 minutes
    assert OccupancyFlag.SENSOR_OFFLINE in estimate.flags
    assert estimate.count == 1  # anonymous BLE, confirmed by motion


def test_door_contact_counts_for_liveness_only() -> None:
    r = room(offline_after_s=600)
    r.on_sensor(DOOR, 1, at(0))
    first = r.estimate(at(1))
    assert first.count == 0
    assert OccupancyFlag.NO_DATA in first.flags
    assert OccupancyFlag.SENSOR_OFFLINE in r.estimate(at(20)).flags


def test_room_without_sensors_is_no_data_and_counts_identified_members() -> None:
    r = room()
    assert r.estimate(at(0)) == OccupancyEstimate(0, 0.1, (OccupancyFlag.NO_DATA,), at(0))
    r.set_identified(2, at(1))
    estimate = r.estimate(at(2))
    assert estimate.count == 2
    assert estimate.flags == (OccupancyFlag.NO_DATA,)


# -- inputs, settings, payload --------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "value"),
    [(MOTION, 0.5), (DOOR, 2), (IN, -1), (OUT, 1.5)],
)
def test_invalid_readings_are_refused(kind: SensorKind, value: float) -> None:
    with pytest.raises(ValueError, match=kind.value):
        room().on_sensor(kind, value, at(0))


def test_negative_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="identified"):
        room().set_identified(-1, at(0))
    with pytest.raises(ValueError, match="anonymous"):
        room().set_anonymous(-1, at(0))


def test_other_sensor_kinds_are_ignored() -> None:
    r = room()
    r.on_sensor(SensorKind.TEMPERATURE, 21.5, at(0))
    assert r.estimate(at(60)).flags == (OccupancyFlag.NO_DATA,)


def test_settings_are_strict_and_consistent() -> None:
    with pytest.raises(ValidationError, match="drift_after_s"):
        OccupancySettings(drift_after_s=1000, empty_reset_s=900)
    with pytest.raises(ValidationError, match="extra"):
        OccupancySettings.model_validate({"motion_hold": 30})
    with pytest.raises(ValidationError):
        OccupancySettings(capacity_factor=0.5)
    for name, field in OccupancySettings.model_fields.items():
        assert field.description, name


def test_estimate_becomes_the_wire_payload() -> None:
    payload = OccupancyEstimate(3, 0.72, (OccupancyFlag.SENSOR_OFFLINE,), at(0)).to_payload()
    assert payload == Occupancy(count=3, confidence=0.72, updated=at(0), flags=["sensor_offline"])


# -- changed ------------------------------------------------------------------------------------


def test_changed_publishes_first_and_on_real_changes_only() -> None:
    base = OccupancyEstimate(3, 0.8, (), at(0))
    assert changed(None, base)
    assert not changed(base, OccupancyEstimate(3, 0.8, (), at(1)))  # only time moved
    assert not changed(base, OccupancyEstimate(3, 0.75, (), at(1)))
    assert not changed(base, OccupancyEstimate(3, 0.7, (), at(1)))  # exactly one step
    assert changed(base, OccupancyEstimate(3, 0.65, (), at(1)))
    assert changed(base, OccupancyEstimate(4, 0.8, (), at(1)))
    assert changed(base, OccupancyEstimate(3, 0.8, ("sensor_offline",), at(1)))
    assert changed(base, OccupancyEstimate(3, 0.75, (), at(1)), confidence_step=0.01)


# -- properties -------------------------------------------------------------------------------

KINDS = st.sampled_from([IN, OUT, MOTION, DOOR, CO2, SensorKind.TEMPERATURE])
EVENT = st.one_of(
    st.tuples(st.just("sensor"), KINDS, st.integers(0, 30), st.integers(-600, 7200)),
    st.tuples(st.just("identified"), st.just(None), st.integers(0, 40), st.integers(-600, 7200)),
    st.tuples(st.just("anonymous"), st.just(None), st.integers(0, 60), st.integers(-600, 7200)),
    st.tuples(st.just("estimate"), st.just(None), st.just(0), st.integers(0, 7200)),
)


def _value(kind: SensorKind, raw: int) -> float:
    if kind in (MOTION, DOOR):
        return raw % 2
    if kind is CO2:
        return 400 + raw * 50
    return raw


@settings(max_examples=300, deadline=None)
@given(
    events=st.lists(EVENT, max_size=80),
    capacity=st.one_of(st.none(), st.integers(1, 20)),
    co2=st.booleans(),
)
def test_any_event_sequence_gives_a_sane_estimate(
    events: list[tuple[str, SensorKind | None, int, int]], capacity: int | None, co2: bool
) -> None:
    r = RoomOccupancy(
        "salle",
        capacity,
        OccupancySettings(
            motion_hold_s=60,
            empty_reset_s=300,
            drift_after_s=120,
            offline_after_s=600,
            late_tolerance_s=120,
            flag_hold_s=300,
            uncapped_limit=25,
            co2=Co2TrendSettings(window_s=300, min_readings=2) if co2 else None,
        ),
    )
    now = T0
    estimates = []
    for what, kind, raw, offset_s in events:
        ts = T0 + offset_s * 1000
        if what == "sensor":
            assert kind is not None
            r.on_sensor(kind, _value(kind, raw), ts)
        elif what == "identified":
            r.set_identified(raw, ts)
        elif what == "anonymous":
            r.set_anonymous(raw, ts)
        else:
            now = max(now, ts)  # the hub's clock moves forward; events may not
            estimates.append(r.estimate(now))
    estimates.append(r.estimate(now + 60_000))
    for estimate in estimates:
        assert 0 <= estimate.count <= r.cap
        assert 0.0 <= estimate.confidence <= 1.0
        assert set(estimate.flags) <= FLAGS
        assert list(estimate.flags) == sorted(set(estimate.flags))
        estimate.to_payload()  # always a valid wire payload
