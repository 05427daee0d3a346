"""The BLE world simulator: its radio statistics, its floor plan, determinism, ground truth."""

from __future__ import annotations

import itertools
import math
import random
import statistics
from functools import cache

import pytest

from vivant.demo.ble_world import (
    DAY_START_MS,
    STREET,
    GroundTruth,
    Link,
    NodeWindow,
    Radio,
    Simulation,
    Visit,
    ekilibre,
    score,
)
from vivant.demo.population import SITES

PLAN = ekilibre()


@cache
def morning() -> tuple[Simulation, tuple[NodeWindow, ...]]:
    """Six people from 08:00 to 10:30, and everything the nodes heard (shared by tests)."""
    sim = Simulation(PLAN, people=6, seed=3, duration_s=9000)
    return sim, tuple(sim.windows())


def heard(radio: Radio, mean: float, count: int, seed: int = 1) -> list[float | None]:
    """*count* advertisements through one link at a fixed distance."""
    link = Link(radio, random.Random(seed))
    return [link.hear(mean) for _ in range(count)]


# -- radio -----------------------------------------------------------------------------------


def test_log_distance_path_loss() -> None:
    radio = Radio()
    assert radio.mean_rssi(1, 0) == pytest.approx(-59)
    assert radio.mean_rssi(10, 0) == pytest.approx(-59 - 25)
    assert radio.mean_rssi(10, 8) == pytest.approx(-59 - 25 - 8)


def test_a_fifth_of_advertisements_are_lost() -> None:
    samples = heard(Radio(), mean=-60, count=50_000)
    lost = samples.count(None) / len(samples)
    assert lost == pytest.approx(0.20, abs=0.01)


def test_shadowing_is_six_db_with_a_slow_part() -> None:
    radio = Radio()
    mean = radio.mean_rssi(4, 0)  # far above the sensitivity: nothing is cut off
    samples = heard(radio, mean, count=200_000)
    values = [v for v in samples if v is not None]
    assert statistics.fmean(values) == pytest.approx(mean, abs=0.3)
    assert statistics.stdev(values) == pytest.approx(6.0, abs=0.25)
    # successive advertisements share the slow part (a quarter of the variance, τ 30 s)
    pairs = [(a, b) for a, b in itertools.pairwise(samples) if a is not None and b is not None]
    lag1 = statistics.correlation([a for a, _ in pairs], [b for _, b in pairs])
    assert lag1 == pytest.approx(0.25 * math.exp(-1 / 30), abs=0.03)


def test_without_a_slow_part_advertisements_are_independent() -> None:
    samples = heard(Radio(slow_share=0), mean=-60, count=50_000)
    pairs = [(a, b) for a, b in itertools.pairwise(samples) if a is not None and b is not None]
    lag1 = statistics.correlation([a for a, _ in pairs], [b for _, b in pairs])
    assert abs(lag1) < 0.03


def test_nothing_is_heard_below_the_sensitivity() -> None:
    samples = heard(Radio(), mean=-115, count=20_000)
    values = [v for v in samples if v is not None]
    assert values
    assert min(values) >= -100
    assert len(values) < 0.01 * len(samples)


# -- floor plan ------------------------------------------------------------------------------


def test_ekilibre_has_the_demo_rooms() -> None:
    demo = next(site for site in SITES if site.id == "ekilibre")
    assert {room.id for room in PLAN.rooms} == {room[0] for room in demo.rooms}
    assert PLAN.rooms_without_node() == ["cabine"]
    for node in PLAN.nodes:
        assert PLAN.room_at(node.at) == node.room


def test_walls_between_points() -> None:
    entree = next(n for n in PLAN.nodes if n.id == "entree").at
    cuisine = next(n for n in PLAN.nodes if n.id == "cuisine").at
    assert PLAN.wall_loss(entree, cuisine) == 8  # two interior walls
    assert PLAN.wall_loss((1, 1), (5, 7)) == 0  # same room
    assert PLAN.wall_loss((3, -3), entree) == 10  # from the street: the facade


def test_routes_go_door_to_door() -> None:
    assert PLAN.route("bureaux", "cuisine") == [(3, 8), (6, 4), (20, 4)]
    assert PLAN.route("cuisine", "cuisine") == []
    assert PLAN.route(STREET, "open-space") == [(3, 0), (6, 4)]
    with pytest.raises(ValueError, match="no route"):
        PLAN.route("cuisine", "garage")


# -- determinism -----------------------------------------------------------------------------


def test_the_same_seed_gives_the_same_world() -> None:
    one = Simulation(PLAN, people=3, seed=5, start_s=3600, duration_s=600)
    two = Simulation(PLAN, people=3, seed=5, start_s=3600, duration_s=600)
    other = Simulation(PLAN, people=3, seed=6, start_s=3600, duration_s=600)
    windows = list(one.windows())
    assert windows
    assert windows == list(two.windows()) == list(one.windows())
    assert one.truth == two.truth
    assert list(other.windows()) != windows


# -- what the nodes report -------------------------------------------------------------------


def test_windows_aggregate_like_a_node() -> None:
    sim, windows = morning()
    radio = sim.radio
    assert [w.ts_ms for w in windows] == sorted(w.ts_ms for w in windows)
    by_node: dict[str, list[int]] = {}
    for window in windows:
        by_node.setdefault(window.node, []).append(window.ts_ms)
        assert window.window_s == radio.window_s
        assert window.room == next(n.room for n in PLAN.nodes if n.id == window.node)
        tags = [tag for tag, _, _ in window.readings]
        assert len(tags) == len(set(tags))
        for _, rssi, n in window.readings:
            assert 1 <= n <= radio.window_s / radio.interval_s
            assert -100 <= rssi <= 20
    for ends in by_node.values():  # one window every 5 s per node, at the node's own phase
        assert all((b - a) % 5000 == 0 and b > a for a, b in itertools.pairwise(ends))
    assert len({ends[0] % 5000 for ends in by_node.values()}) > 1


def test_only_people_near_the_site_are_heard() -> None:
    sim, windows = morning()
    people = {p.tag: p for p in sim.people}
    for window in windows:
        end_s = (window.ts_ms - DAY_START_MS) / 1000
        for tag, _, _ in window.readings:
            person = people[tag]
            assert any(person.position(end_s - k) is not None for k in range(6))


def test_the_sightings_are_the_windows_flattened() -> None:
    sim = Simulation(PLAN, people=2, seed=2, start_s=1800, duration_s=900)
    windows = list(sim.windows())
    sightings = list(sim.sightings())
    assert len(sightings) == sum(len(w.readings) for w in windows)
    assert sightings[0].ts_ms == windows[0].ts_ms
    assert sightings[0].node == windows[0].node


# -- ground truth ----------------------------------------------------------------------------


def test_ground_truth_is_consistent() -> None:
    sim, _ = morning()
    truth = sim.truth
    rooms = {room.id for room in PLAN.rooms}
    neighbours = {frozenset(door.rooms) for door in PLAN.doors}
    arrived = 0
    for person in sim.people:
        true_rooms = truth.rooms[person.tag]
        assert len(true_rooms) == truth.seconds
        assert set(true_rooms) <= rooms | {None}
        for a, b in itertools.pairwise(true_rooms):
            if a != b:  # one second moves at most through one door (the street is None)
                assert frozenset((a or STREET, b or STREET)) in neighbours
        for visit in truth.visits[person.tag]:
            arrived += 1
            assert visit.arrived_ms < visit.departed_ms
            s = (visit.arrived_ms - truth.start_ms) // 1000
            assert truth.room_at(person.tag, visit.arrived_ms + 1000) == "accueil"
            assert true_rooms[max(0, s - 5)] is None
        on_site = [r is not None for r in true_rooms]
        if not truth.visits[person.tag]:
            assert not any(on_site)
    assert arrived >= 4  # most people arrive between 8:15 and 10:15
    assert truth.room_at(sim.people[0].tag, truth.start_ms - 1000) is None
    assert truth.room_at(sim.people[0].tag, truth.end_ms) is None


def test_a_full_day_has_moves_lunches_out_and_departures() -> None:
    sim = Simulation(PLAN, people=12, seed=4, duration_s=1)  # plans only: no radio
    truth_rooms = set()
    visits = 0
    for person in sim.people:
        for second in range(0, 12 * 3600, 30):
            at = person.position(second)
            truth_rooms.add(PLAN.room_at(at) if at else None)
        visits += len(person.visits)
        assert not sim.truth.visits[person.tag]  # none within the one simulated second
    assert truth_rooms == {room.id for room in PLAN.rooms} | {None}
    assert visits > 12  # some went out for lunch and came back


# -- scoring ---------------------------------------------------------------------------------


def test_score_counts_seconds_changes_and_departures() -> None:
    start = DAY_START_MS
    rooms = [None] * 10 + ["accueil"] * 20 + ["open-space"] * 60 + ["cabine"] * 10 + [None] * 50
    truth = GroundTruth(
        PLAN,
        start,
        len(rooms),
        {"t": rooms},
        {"t": [Visit(start + 10_000, start + 100_000)]},
    )
    timeline = {
        "t": [
            (start + 12_000, "accueil"),  # placed 2 s after arriving
            (start + 45_000, "open-space"),  # 15 s late
            (start + 70_000, "cuisine"),  # false: never there
            (start + 80_000, "open-space"),
            (start + 95_000, "reunion"),  # while in the booth: unjudged
            (start + 130_000, None),  # 30 s after the exit
        ]
    }
    result = score(truth, timeline, stay_s=30)
    assert result.unplaced_s == 2
    assert result.nodeless_s == 10
    assert result.scored_s == 78
    assert result.correct_s == 78 - 15 - 10
    assert result.changes == 4
    assert result.false_changes == 1
    assert result.unjudged_changes == 1
    assert result.departure_delays_s == (30.0,)
    assert result.missed_departures == 0
    assert result.false_departures == 0
    assert result.placement_delays_s == (2.0,)
    assert (result.stays, result.stays_seen) == (1, 1)  # the open space; the rest is < 30 s
