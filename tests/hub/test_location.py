"""BLE room location: smoothing, hysteresis, absence, time rules, persistence, and a small day."""

from __future__ import annotations

import json
from collections.abc import Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from hub.location import (
    ABSENCE_CONFIDENCE,
    LocationSettings,
    RoomChange,
    RoomLocator,
    Sighting,
)
from vivant.demo.ble_world import Simulation, ekilibre, score

T0 = 1_741_676_400_000  # 2025-03-11 07:00 UTC
TAG = "mac:c2a1b2c3d4e5"
DEFAULTS = LocationSettings()


def at(seconds: float) -> int:
    """T0 + *seconds*, in epoch ms."""
    return T0 + round(seconds * 1000)


def sight(room: str, rssi: float, t: float, node: str | None = None, tag: str = TAG) -> Sighting:
    """One reading of *tag* by the node of *room* (named like the room unless given)."""
    return Sighting(tag=tag, node=node or room, room=room, rssi=rssi, n=4, ts_ms=at(t))


def windows(levels: dict[str, float], start: float, end: float, step: float = 5) -> list[Sighting]:
    """Every room's node reporting its level every *step* seconds in [start, end)."""
    out: list[Sighting] = []
    t = start
    while t < end:
        out.extend(sight(room, rssi, t) for room, rssi in levels.items())
        t += step
    return out


def feed(locator: RoomLocator, sightings: Iterable[Sighting]) -> list[RoomChange]:
    """Observe every sighting; the room changes they caused."""
    return [c for s in sightings if (c := locator.observe(s)) is not None]


def placed_in_a(locator: RoomLocator, until: float = 60) -> None:
    """Leave the tag settled in room a (a: −60 dBm, b: −75 dBm) until *until* seconds."""
    changes = feed(locator, windows({"a": -60, "b": -75}, 0, until))
    assert [c.room for c in changes] == ["a"]


# -- settings --------------------------------------------------------------------------------


def test_every_setting_is_documented_and_typos_are_refused() -> None:
    for name, info in LocationSettings.model_fields.items():
        assert info.description, name
    with pytest.raises(ValidationError):
        LocationSettings.model_validate({"margin": 3})
    with pytest.raises(ValidationError):
        LocationSettings(absence_s=0)


# -- first placement -------------------------------------------------------------------------


def test_first_placement_waits_for_a_few_sightings_then_takes_the_best_room() -> None:
    locator = RoomLocator()
    assert locator.observe(sight("cuisine", -62, 0)) is None
    assert locator.observe(sight("accueil", -75, 0.5)) is None
    assert locator.room_of(TAG) is None
    assert locator.tags() == {TAG}
    change = locator.observe(sight("cuisine", -61, 5))
    assert change == RoomChange(TAG, "cuisine", None, at(5), change.confidence if change else 0)
    assert change is not None
    assert 0.9 < change.confidence <= 1
    assert locator.room_of(TAG) == "cuisine"
    assert locator.last_seen_ms(TAG) == at(5)


def test_a_single_receiver_places_with_a_confident_default() -> None:
    locator = RoomLocator(LocationSettings(place_min_samples=1))
    change = locator.observe(sight("accueil", -80, 0))
    assert change is not None
    assert change.room == "accueil"
    assert change.confidence > 0.9


# -- hysteresis ------------------------------------------------------------------------------


def test_a_brief_stronger_challenger_does_not_move_anyone() -> None:
    locator = RoomLocator()
    placed_in_a(locator)
    # b is far stronger for two windows (10 s < switch_after_s), then things are back
    burst = windows({"a": -72, "b": -45}, 60, 70)
    after = windows({"a": -60, "b": -75}, 70, 180)
    assert feed(locator, [*burst, *after]) == []
    assert locator.room_of(TAG) == "a"


def test_a_challenger_that_drops_below_the_margin_starts_again() -> None:
    locator = RoomLocator(LocationSettings(beta=0))
    placed_in_a(locator)
    # b leads by far for 10 s, falls back for one window, leads again for 10 s: never 15 s in a row
    pattern = [
        *windows({"a": -70, "b": -50}, 60, 70),
        *windows({"a": -60, "b": -75}, 70, 75),
        *windows({"a": -70, "b": -50}, 75, 85),
        *windows({"a": -60, "b": -75}, 85, 150),
    ]
    assert feed(locator, pattern) == []


def test_a_sustained_challenger_wins_after_switch_after_s() -> None:
    locator = RoomLocator()
    placed_in_a(locator)
    changes = feed(locator, windows({"a": -75, "b": -60}, 60, 180))
    assert [(c.room, c.previous) for c in changes] == [("b", "a")]
    (change,) = changes
    # the smoothed lead takes a window or two, then it must hold for 15 s
    assert at(60 + DEFAULTS.switch_after_s) <= change.ts_ms <= at(60 + 35)
    assert change.confidence > 0.5
    assert locator.room_of(TAG) == "b"


def test_a_lead_below_the_margin_never_wins() -> None:
    locator = RoomLocator()
    placed_in_a(locator)
    assert feed(locator, windows({"a": -64, "b": -60}, 60, 600)) == []  # 4 dB < 5 dB


def test_zero_switch_time_switches_at_the_first_winning_evaluation() -> None:
    locator = RoomLocator(LocationSettings(switch_after_s=0, min_cutoff_hz=10))
    placed_in_a(locator)
    change = locator.observe(sight("b", -40, 60))
    assert change is not None
    assert change.room == "b"


# -- receivers -------------------------------------------------------------------------------


def test_a_room_scores_by_its_best_receiver() -> None:
    locator = RoomLocator()
    sightings = []
    for t in range(0, 30, 5):
        sightings += [
            sight("open-space", -82, t, node="open-ouest"),
            sight("open-space", -58, t + 1, node="open-est"),
            sight("cuisine", -66, t + 2, node="cuisine"),
        ]
    changes = feed(locator, sightings)
    assert [c.room for c in changes] == ["open-space"]


def test_a_node_serving_two_rooms_is_two_receivers() -> None:
    locator = RoomLocator()
    sightings = []
    for t in range(0, 120, 5):
        sightings += [
            sight("atelier", -75, t, node="etage"),
            sight("reunion", -55, t + 2.5, node="etage"),
        ]
    feed(locator, sightings)
    assert locator.room_of(TAG) == "reunion"


def test_node_offsets_correct_a_loud_node() -> None:
    loud = windows({"a": -62, "b": -60}, 0, 60)  # b's node hears 6 dB louder than it should
    plain = RoomLocator(LocationSettings(place_min_samples=4))
    corrected = RoomLocator(LocationSettings(place_min_samples=4, node_offsets_db={"b": -6}))
    assert [c.room for c in feed(plain, loud)] == ["b"]
    assert [c.room for c in feed(corrected, loud)] == ["a"]


def test_a_receiver_that_stops_hearing_the_tag_loses_it() -> None:
    locator = RoomLocator()
    placed_in_a(locator)
    # a's node no longer hears the tag; b's keeps hearing it, weaker than a did
    changes = feed(locator, windows({"b": -70}, 60, 180))
    assert [(c.room, c.previous) for c in changes] == [("b", "a")]
    # a's staleness: 12 s grace, then 1 dB/s; b needs a 5 dB lead for 15 s
    assert at(60 + 20) < changes[0].ts_ms <= at(60 + DEFAULTS.receiver_expiry_s + 5)


# -- absence and leaving ---------------------------------------------------------------------


def test_absence_departs_exactly_at_absence_s() -> None:
    locator = RoomLocator()
    placed_in_a(locator, until=100)  # last sighting at 95 s
    last = at(95)
    assert locator.last_seen_ms(TAG) == last
    boundary = last + round(DEFAULTS.absence_s * 1000)
    assert locator.tick(boundary - 1) == []
    assert locator.room_of(TAG) == "a"
    assert locator.tick(boundary) == [RoomChange(TAG, None, "a", last, ABSENCE_CONFIDENCE)]
    assert locator.room_of(TAG) is None
    assert locator.last_seen_ms(TAG) is None
    assert locator.tags() == set()
    assert locator.tick(boundary + 60_000) == []


def test_a_tag_never_placed_leaves_without_a_change() -> None:
    locator = RoomLocator()
    locator.observe(sight("a", -90, 0))
    assert locator.tags() == {TAG}
    assert locator.tick(at(DEFAULTS.absence_s)) == []
    assert locator.tags() == set()


def test_an_exit_tap_departs_for_sure_and_quiets_the_tag() -> None:
    locator = RoomLocator()
    placed_in_a(locator)
    change = locator.leave(TAG, at(60))
    assert change == RoomChange(TAG, None, "a", at(60), 1.0)
    # walking out past the entrance node: ignored for leave_quiet_s
    assert feed(locator, windows({"a": -60}, 61, 61 + DEFAULTS.leave_quiet_s)) == []
    assert locator.room_of(TAG) is None
    # heard again afterwards: back on site
    again = feed(locator, windows({"a": -60}, 61 + DEFAULTS.leave_quiet_s, 400))
    assert [c.room for c in again] == ["a"]
    assert locator.leave("mac:000000000000", at(400)) is None


# -- time and order --------------------------------------------------------------------------


def test_a_sighting_older_than_the_tolerance_is_dropped() -> None:
    locator = RoomLocator()
    placed_in_a(locator)  # newest sighting at 55 s
    stale = [sight("b", -30, 40, node=f"late-{i}") for i in range(10)]
    assert feed(locator, stale) == []
    assert locator.dropped == 10
    assert locator.last_seen_ms(TAG) == at(55)


def test_a_late_sighting_within_tolerance_counts_but_never_dates_a_change_in_the_past() -> None:
    locator = RoomLocator()
    placed_in_a(locator)
    # b's node reports 8 s late: each of its windows arrives after a newer one of a's node
    changes: list[RoomChange] = []
    for t in range(65, 180, 5):
        changes += feed(locator, [sight("a", -75, t), sight("b", -60, t - 8)])
    assert [c.room for c in changes] == ["b"]
    assert locator.dropped == 0
    # the change is dated by the newest sighting, not by the late one that decided it
    assert (changes[0].ts_ms - T0) % 5000 == 0


def test_a_repeated_or_reordered_window_of_one_receiver_is_dropped() -> None:
    locator = RoomLocator()
    placed_in_a(locator)
    assert locator.observe(sight("b", -30, 55)) is None  # b's 55 s window, again
    assert locator.observe(sight("b", -30, 50)) is None  # and an older one
    assert locator.dropped == 2


def test_a_late_sighting_does_not_bring_back_someone_who_left() -> None:
    locator = RoomLocator()
    placed_in_a(locator)
    gone_at = at(55 + DEFAULTS.absence_s)
    assert [c.room for c in locator.tick(gone_at)] == [None]
    # an outbox flushes windows from before the departure decision
    late = [sight("a", -60, 55 + DEFAULTS.absence_s - 60 + i, node=f"n{i}") for i in range(5)]
    assert feed(locator, late) == []
    assert locator.tags() == set()
    # a fresh sighting after the decision is a new arrival
    fresh = [sight("a", -60, 55 + DEFAULTS.absence_s + 5 * i) for i in range(1, 4)]
    assert [c.room for c in feed(locator, fresh)] == ["a"]


def test_sightings_far_from_the_hubs_time_are_dropped() -> None:
    locator = RoomLocator()
    locator.tick(at(3600))
    assert feed(locator, windows({"a": -60}, 3600 - DEFAULTS.absence_s - 60, 3300)) == []
    ahead = 3600 + DEFAULTS.future_tolerance_s + 1  # a node whose clock runs ahead
    assert feed(locator, windows({"a": -60}, ahead, ahead + 30)) == []
    assert locator.tags() == set()
    assert locator.dropped == 12 + 6
    # the wrong clock did not move the hub's time: on-time sightings still count
    assert [c.room for c in feed(locator, windows({"a": -60}, 3601, 3620))] == ["a"]


# -- persistence -----------------------------------------------------------------------------


def test_snapshot_and_restore_resume_the_same_rooms() -> None:
    locator = RoomLocator()
    placed_in_a(locator)
    feed(locator, windows({"a": -75, "b": -60}, 60, 70))  # a challenger under way
    feed(locator, [sight("c", -60, 70, tag="mac:000000000001")])  # a tag not yet placed
    locator.tick(at(70))
    data = json.loads(json.dumps(locator.snapshot()))
    restored = RoomLocator.restore(DEFAULTS, data)
    assert restored.snapshot() == locator.snapshot()
    assert restored.room_of(TAG) == "a"
    assert restored.tags() == locator.tags()
    rest = windows({"a": -75, "b": -60}, 70, 150)
    assert feed(restored, rest) == feed(locator, rest)
    assert restored.room_of(TAG) == "b"


def test_restore_refuses_an_unknown_version() -> None:
    with pytest.raises(ValueError, match="version"):
        RoomLocator.restore(DEFAULTS, {"version": 99})


# -- properties ------------------------------------------------------------------------------

ROOMS = ("accueil", "open-space", "cuisine", "reunion")
TAGS = ("mac:000000000001", "mac:000000000002", "mac:000000000003")

sightings_strategy = st.lists(
    st.builds(
        lambda tag, room, node, rssi, n, t: Sighting(tag, f"{room}-{node}", room, rssi, n, at(t)),
        st.sampled_from(TAGS),
        st.sampled_from(ROOMS),
        st.integers(0, 1),
        st.floats(-100, -30),
        st.integers(1, 10),
        st.floats(0, 900),
    ),
    max_size=80,
)


@settings(max_examples=150, deadline=None)
@given(sightings=sightings_strategy, ordered=st.booleans())
def test_rooms_are_the_sites_and_time_never_goes_back(
    sightings: list[Sighting], ordered: bool
) -> None:
    if ordered:
        sightings = sorted(sightings, key=lambda s: s.ts_ms)
    locator = RoomLocator()
    dated: dict[str, int] = {}
    for sighting in sightings:
        change = locator.observe(sighting)
        for tag in TAGS:
            assert locator.room_of(tag) in {*ROOMS, None}
        if change is not None:
            assert change.room in ROOMS
            assert change.room != change.previous
            assert 0.5 <= change.confidence <= 1
            assert change.ts_ms >= dated.get(change.tag, 0)
            dated[change.tag] = change.ts_ms


@settings(max_examples=150, deadline=None)
@given(sightings=sightings_strategy, steps=st.lists(st.integers(1, 400), max_size=12))
def test_without_sightings_only_absence_moves_anyone(
    sightings: list[Sighting], steps: list[int]
) -> None:
    locator = RoomLocator()
    for sighting in sorted(sightings, key=lambda s: s.ts_ms):
        locator.observe(sighting)
    now = at(900)
    for step in steps:
        now += step * 1000
        before = {tag: (locator.room_of(tag), locator.last_seen_ms(tag)) for tag in TAGS}
        changes = locator.tick(now)
        for change in changes:
            room, last = before[change.tag]
            assert change.room is None
            assert change.previous == room
            assert last is not None
            assert now - last >= DEFAULTS.absence_s * 1000
        changed = {c.tag for c in changes}
        for tag in TAGS:
            room, last = before[tag]
            if tag in changed:
                continue
            assert locator.room_of(tag) == room
            if last is not None and now - last >= DEFAULTS.absence_s * 1000:
                assert room is None  # never placed: forgotten without a change
                assert locator.last_seen_ms(tag) is None


@settings(max_examples=60, deadline=None)
@given(sightings=sightings_strategy, cut=st.integers(0, 80))
def test_a_restored_locator_behaves_like_the_original(sightings: list[Sighting], cut: int) -> None:
    sightings = sorted(sightings, key=lambda s: s.ts_ms)
    original = RoomLocator()
    feed(original, sightings[:cut])
    restored = RoomLocator.restore(DEFAULTS, json.loads(json.dumps(original.snapshot())))
    assert feed(restored, sightings[cut:]) == feed(original, sightings[cut:])
    assert restored.tick(at(2000)) == original.tick(at(2000))


# -- a small simulated day -------------------------------------------------------------------


def test_a_simulated_lunch_hour_meets_the_presence_goals() -> None:
    """8 people at éKilibre from 12:00 to 13:30, seed 1: deterministic, a regression guard.

    Ninety minutes of eight people is a small sample: one person at a seat that two nodes hear
    alike (uncalibrated node gains, σ 2 dB) costs about 8 points, and seeds 5 and 7 of 1-12 fall
    below 97 % this way. The full days of benchmarks/presence_accuracy.py are the measure.
    """
    sim = Simulation(ekilibre(), people=8, seed=1, start_s=4 * 3600, duration_s=5400)
    locator = RoomLocator()
    timeline: dict[str, list[tuple[int, str | None]]] = {}
    next_tick = sim.start_ms + 5000
    for sighting in sim.sightings():
        while next_tick <= sighting.ts_ms:
            for gone in locator.tick(next_tick):
                timeline.setdefault(gone.tag, []).append((next_tick, None))
            next_tick += 5000
        change = locator.observe(sighting)
        if change is not None:
            timeline.setdefault(change.tag, []).append((sighting.ts_ms, change.room))
    result = score(sim.truth, timeline)
    assert result.person_hours > 5
    assert result.changes >= 4  # people did move
    assert result.accuracy >= 0.97
    assert result.false_changes_per_hour < 1
    assert result.missed_departures == 0
    assert all(d <= DEFAULTS.absence_s + 60 for d in result.departure_delays_s)
