"""A seeded BLE world: a site's floor plan, its nodes, people moving through a day, ground truth.

The presence benchmark and the location tests feed what this module hears to the hub's
:class:`~hub.location.RoomLocator` and compare its rooms with where people really were.

The model, and why
------------------
* **Floor plan.** Rooms are rectangles (metres) joined by doors; walls are segments, each
  crossing costs its ``loss_db`` (interior 4 dB, plasterboard to light brick; exterior 10 dB).
  :func:`ekilibre` draws éKilibre's seven rooms from :mod:`vivant.demo.population`.
* **Radio.** Log-distance path loss, ``rssi = tx_power - 10·n·log10(d) - walls`` with a tag
  calibrated at −59 dBm at 1 m and an exponent of 2.5 (an office). Shadowing has a standard
  deviation of ``sigma_db`` = 6 dB in total, split between a part drawn afresh for every
  advertisement (channel hopping, multipath) and a slow part per (tag, node) link (a body, a
  bag, a door), an AR(1) process with a time constant of ``slow_tau_s``: it is the slow part that
  fools a smoother, and leaving it out would make the benchmark easy. 20 % of advertisements are
  lost, independently per node, and a node does not hear below −100 dBm. Nodes differ: each has a
  static receive gain offset (σ ``node_gain_sigma_db`` = 2 dB), which the locator is not told.
* **Nodes** aggregate exactly as the edge agent does: windows of 5 s ending at a per-node phase
  (nodes are not synchronised), the mean RSSI of the advertisements heard and their count ``n``
  per tag; a tag heard 0 times is absent from that window. Each reading becomes a
  :class:`~hub.location.Sighting` dated at the end of its window (wire contract: ``ts`` is the
  end of the window).
* **People** arrive through the entrance between 8:15 and 10:15, sit at a desk in the open space
  or the private offices, go for coffee to the kitchen, to meetings, to the phone booth, to the
  afternoon workshop, chat at the reception, go out for lunch or eat in, and leave. They walk at
  about 1.2 m/s from door to door, so positions interpolate and rooms on the way are crossed. A
  tag advertises every second while its wearer is inside or on the street near the entrance.

Ground truth and rooms without a node
-------------------------------------
:class:`GroundTruth` holds each person's true room every second (``None`` off site) and their
visits (arrival and departure when crossing the entrance). A room without a node (éKilibre's
phone booth, 2 m × 2.5 m, wedged between the open space, the workshop room and the meeting room)
cannot be named by any locator: whoever is in it is heard about equally by three nodes behind
one wall each. :func:`score` therefore measures accuracy only in rooms with a node and reports
the person-seconds it left out; a room change made while the person was in such a room (or had
been within the matching window) is counted as *unjudged*, neither right nor false.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from hub.location import Sighting

Point = tuple[float, float]

# Tuesday 11 March 2025, 08:00 in Paris (07:00 UTC): the simulated day starts there.
DAY_START_MS = int(datetime(2025, 3, 11, 7, 0, tzinfo=UTC).timestamp() * 1000)
DAY_S = 12 * 3600  # 08:00 to 20:00
WALK_SPEED_M_S = 1.2


@dataclass(frozen=True, slots=True)
class Room:
    """A rectangular room of the floor plan, in metres."""

    id: str
    x0: float
    y0: float
    x1: float
    y1: float

    def contains(self, p: Point) -> bool:
        """Whether *p* is inside or on the walls."""
        return self.x0 <= p[0] <= self.x1 and self.y0 <= p[1] <= self.y1

    def random_point(self, rng: random.Random, margin: float = 0.6) -> Point:
        """A point at least *margin* metres from the walls."""
        return (
            rng.uniform(self.x0 + margin, self.x1 - margin),
            rng.uniform(self.y0 + margin, self.y1 - margin),
        )


@dataclass(frozen=True, slots=True)
class Wall:
    """A straight wall; a radio path crossing it loses *loss_db*."""

    a: Point
    b: Point
    loss_db: float


@dataclass(frozen=True, slots=True)
class Door:
    """A door between two rooms (or from a room to the street: ``"street"``)."""

    rooms: tuple[str, str]
    at: Point


@dataclass(frozen=True, slots=True)
class NodePlacement:
    """A node (receiver) of the site, in the room it reports for."""

    id: str
    room: str
    at: Point


STREET = "street"


@dataclass(frozen=True)
class FloorPlan:
    """Rooms, walls, doors and nodes of one site."""

    site: str
    rooms: tuple[Room, ...]
    walls: tuple[Wall, ...]
    doors: tuple[Door, ...]
    nodes: tuple[NodePlacement, ...]
    street: tuple[Point, ...]  # from the entrance door out to where a person is out of range

    def room(self, room_id: str) -> Room:
        """The room with this id."""
        return next(r for r in self.rooms if r.id == room_id)

    def room_at(self, p: Point) -> str | None:
        """The room containing *p*, or None outside."""
        for room in self.rooms:
            if room.contains(p):
                return room.id
        return None

    def rooms_without_node(self) -> list[str]:
        """Rooms no node reports for: a locator cannot name them."""
        located = {node.room for node in self.nodes}
        return [room.id for room in self.rooms if room.id not in located]

    def wall_loss(self, p: Point, q: Point) -> float:
        """Attenuation of the walls crossed by the segment *p*-*q*, dB."""
        return sum(w.loss_db for w in self.walls if _crosses(p, q, w.a, w.b))

    def route(self, start: str, end: str) -> list[Point]:
        """Door points on the shortest path (fewest doors) from room *start* to room *end*."""
        previous: dict[str, tuple[str, Point] | None] = {start: None}
        frontier = [start]
        while frontier and end not in previous:
            following = []
            for here in frontier:
                for door in self.doors:
                    if here in door.rooms:
                        there = door.rooms[1] if door.rooms[0] == here else door.rooms[0]
                        if there not in previous:
                            previous[there] = (here, door.at)
                            following.append(there)
            frontier = following
        if end not in previous:
            raise ValueError(f"no route from {start} to {end}")
        points: list[Point] = []
        here = end
        while (step := previous[here]) is not None:
            here, at = step
            points.append(at)
        return points[::-1]


def _side(a: Point, b: Point, c: Point) -> float:
    return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])


def _crosses(p: Point, q: Point, a: Point, b: Point) -> bool:
    """Whether segments *p*-*q* and *a*-*b* properly intersect."""
    d1, d2 = _side(a, b, p), _side(a, b, q)
    d3, d4 = _side(p, q, a), _side(p, q, b)
    return ((d1 > 0) != (d2 > 0)) and ((d3 > 0) != (d4 > 0)) and d1 != 0 and d2 != 0


def ekilibre() -> FloorPlan:
    """éKilibre on one floor, 27 m × 14 m; one node per room, two in the open space, none in the
    phone booth (see "rooms without a node" above).

    ::

        y=14 +---------+------------+----+----------+
             | bureaux | atelier    |////| reunion  |
             |         |            +----+          |
        y=8  +--D------+-----D------|cab.|-D--------+
             | accueil |  open-space  D  |  cuisine |
             |         D              D  D          |
        y=0  +---E-----+-----------------+----------+
             x=0      x=6      x=16 x=18 x=20      x=27
    """
    rooms = (
        Room("accueil", 0, 0, 6, 8),
        Room("open-space", 6, 0, 20, 8),
        Room("cuisine", 20, 0, 27, 8),
        Room("bureaux", 0, 8, 7, 14),
        Room("atelier", 7, 8, 16, 14),
        Room("cabine", 16, 8, 18, 10.5),
        Room("reunion", 18, 8, 27, 14),
    )
    inner, outer = 4.0, 10.0
    walls = (
        Wall((0, 0), (27, 0), outer),
        Wall((27, 0), (27, 14), outer),
        Wall((27, 14), (0, 14), outer),
        Wall((0, 14), (0, 0), outer),
        Wall((0, 8), (27, 8), inner),
        Wall((6, 0), (6, 8), inner),
        Wall((20, 0), (20, 8), inner),
        Wall((7, 8), (7, 14), inner),
        Wall((16, 8), (16, 14), inner),
        Wall((18, 8), (18, 14), inner),
        Wall((16, 10.5), (18, 10.5), inner),  # the booth's back wall (a store room behind)
    )
    doors = (
        Door(("accueil", STREET), (3, 0)),
        Door(("accueil", "open-space"), (6, 4)),
        Door(("open-space", "cuisine"), (20, 4)),
        Door(("accueil", "bureaux"), (3, 8)),
        Door(("open-space", "atelier"), (11.5, 8)),
        Door(("open-space", "cabine"), (17, 8)),
        Door(("open-space", "reunion"), (19, 8)),
    )
    nodes = (
        NodePlacement("entree", "accueil", (3.0, 5.5)),
        NodePlacement("open-ouest", "open-space", (9.5, 4.0)),
        NodePlacement("open-est", "open-space", (16.5, 4.0)),
        NodePlacement("cuisine", "cuisine", (23.5, 4.0)),
        NodePlacement("bureaux", "bureaux", (3.5, 11.0)),
        NodePlacement("atelier", "atelier", (11.5, 11.0)),
        NodePlacement("reunion", "reunion", (22.5, 11.0)),
    )
    street = ((3.0, 0.0), (3.0, -4.0), (-30.0, -4.0))
    return FloorPlan("ekilibre", rooms, walls, doors, nodes, street)


@dataclass(frozen=True)
class Radio:
    """Radio propagation and node aggregation parameters."""

    tx_power_dbm: float = -59.0  # RSSI at 1 m
    path_loss_exponent: float = 2.5
    sigma_db: float = 6.0  # total shadowing standard deviation
    slow_share: float = 0.25  # share of the shadowing *variance* that varies slowly
    slow_tau_s: float = 30.0  # time constant of the slow part
    loss: float = 0.2  # share of advertisements lost, per node
    node_gain_sigma_db: float = 2.0  # static spread of the nodes' receive gain (boards, antennas)
    sensitivity_dbm: float = -100.0  # a node hears nothing weaker
    interval_s: float = 1.0  # advertising interval
    window_s: float = 5.0  # node scan window

    def mean_rssi(self, distance_m: float, wall_loss_db: float) -> float:
        """Log-distance path loss, before shadowing."""
        d = max(distance_m, 0.5)
        return self.tx_power_dbm - 10 * self.path_loss_exponent * math.log10(d) - wall_loss_db


class Link:
    """Shadowing and loss on one (tag, node) link; one :meth:`hear` per advertisement."""

    __slots__ = ("_fast", "_loss", "_rho", "_rng", "_sensitivity", "_slow", "_slow_sigma")

    def __init__(self, radio: Radio, rng: random.Random) -> None:
        self._rng = rng
        self._loss = radio.loss
        self._sensitivity = radio.sensitivity_dbm
        self._fast = radio.sigma_db * math.sqrt(1 - radio.slow_share)
        self._slow_sigma = radio.sigma_db * math.sqrt(radio.slow_share)
        self._rho = math.exp(-radio.interval_s / radio.slow_tau_s)
        self._slow = rng.gauss(0, self._slow_sigma)

    def hear(self, mean_dbm: float) -> float | None:
        """The RSSI of the next advertisement at this node, or None if it was not heard."""
        rng = self._rng
        rho = self._rho
        self._slow = rho * self._slow + math.sqrt(1 - rho * rho) * rng.gauss(0, self._slow_sigma)
        if rng.random() < self._loss:
            return None
        rssi = mean_dbm + self._slow + rng.gauss(0, self._fast)
        return rssi if rssi >= self._sensitivity else None


@dataclass(frozen=True, slots=True)
class Stay:
    """Staying still at a point from *start_s* to *end_s* (seconds from the day's start)."""

    start_s: float
    end_s: float
    at: Point


@dataclass(frozen=True, slots=True)
class Walk:
    """Walking along *points* from *start_s* to *end_s* at constant speed."""

    start_s: float
    end_s: float
    points: tuple[Point, ...]

    def position(self, t: float) -> Point:
        """Where the walker is at *t*."""
        travelled = (t - self.start_s) * WALK_SPEED_M_S
        for a, b in itertools.pairwise(self.points):
            length = math.dist(a, b)
            if travelled <= length and length > 0:
                f = travelled / length
                return (a[0] + f * (b[0] - a[0]), a[1] + f * (b[1] - a[1]))
            travelled -= length
        return self.points[-1]


Leg = Stay | Walk


@dataclass(frozen=True, slots=True)
class Visit:
    """One stay on site: entrance crossed inbound, then outbound (epoch ms)."""

    arrived_ms: int
    departed_ms: int


@dataclass(frozen=True)
class Person:
    """Someone wearing an enrolled tag, with their day."""

    tag: str
    desk_room: str
    legs: tuple[Leg, ...]  # contiguous while on site or on the street; gaps are away
    visits: tuple[Visit, ...]  # the day's stays on site
    _starts: tuple[float, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_starts", tuple(leg.start_s for leg in self.legs))

    def position(self, t: float) -> Point | None:
        """Where the person is at *t* (seconds from the day's start), None away from the site."""
        i = bisect.bisect_right(self._starts, t) - 1
        if i < 0:
            return None
        leg = self.legs[i]
        if t > leg.end_s:
            return None
        return leg.at if isinstance(leg, Stay) else leg.position(t)


class _DayBuilder:
    """Builds one person's legs, door to door, in time order."""

    def __init__(self, plan: FloorPlan, start_s: float) -> None:
        self.plan = plan
        self.legs: list[Leg] = []
        self.visits: list[tuple[float, float]] = []
        self.t = start_s
        self.room = STREET
        self.at = plan.street[-1]

    def _walk(self, points: list[Point]) -> None:
        path = [self.at, *points]
        length = sum(math.dist(a, b) for a, b in itertools.pairwise(path))
        end = self.t + length / WALK_SPEED_M_S
        self.legs.append(Walk(self.t, end, tuple(path)))
        self.t = end
        self.at = path[-1]

    def go(self, room: str, at: Point) -> None:
        """Walk to *at* in *room*, through the doors (and the street, arriving)."""
        plan = self.plan
        if self.room == STREET:
            outside = list(plan.street[::-1][1:])  # street end -> ... -> entrance door
            self._walk(outside)
            self.visits.append((self.t, math.inf))
            self.room = "accueil"
        self._walk([*plan.route(self.room, room), at])
        self.room = room

    def stay_until(self, end_s: float) -> None:
        """Stay where one is until *end_s* (if later than now)."""
        if end_s > self.t:
            self.legs.append(Stay(self.t, end_s, self.at))
            self.t = end_s

    def leave(self) -> None:
        """Walk out through the entrance and away down the street."""
        plan = self.plan
        self._walk([*plan.route(self.room, "accueil"), plan.street[0]])
        arrived, _ = self.visits[-1]
        self.visits[-1] = (arrived, self.t)
        self._walk(list(plan.street[1:]))
        self.room = STREET


def _person_day(plan: FloorPlan, rng: random.Random, tag: str) -> Person:
    """One person's randomised working day (times in seconds from 08:00)."""
    h = 3600.0
    desk_room = "open-space" if rng.random() < 0.75 else "bureaux"
    desk = plan.room(desk_room).random_point(rng, margin=0.8)
    arrive = rng.uniform(0.25 * h, 2.25 * h)
    leave = min(arrive + rng.uniform(6 * h, 9.5 * h), 11.5 * h)

    # (start, duration, room or STREET for going out)
    wishes: list[tuple[float, float, str]] = []
    lunch = rng.random()
    lunch_at = rng.uniform(4 * h, 5.25 * h)
    if lunch < 0.35:
        wishes.append((lunch_at, rng.uniform(45, 75) * 60, STREET))
    elif lunch < 0.85:
        wishes.append((lunch_at, rng.uniform(30, 50) * 60, "cuisine"))
    t = arrive + rng.uniform(0.5 * h, 1.5 * h)
    while t < leave - 0.5 * h:
        wishes.append((t, rng.uniform(3, 12) * 60, "cuisine"))
        t += rng.uniform(1 * h, 2.5 * h)
    for _ in range(rng.choice((0, 1, 1, 2))):
        wishes.append((rng.uniform(arrive, leave), rng.uniform(30, 60) * 60, "reunion"))
    for _ in range(rng.choice((0, 1, 2))):
        wishes.append((rng.uniform(arrive, leave), rng.uniform(5, 20) * 60, "cabine"))
    if rng.random() < 0.3:
        wishes.append((6 * h, 1.5 * h, "atelier"))
    if rng.random() < 0.3:
        wishes.append((rng.uniform(arrive, leave), rng.uniform(3, 10) * 60, "accueil"))
    wishes.sort()

    day = _DayBuilder(plan, arrive - 30.0)
    day.go(desk_room, desk)
    for start, duration, room in wishes:
        if start < day.t + 60 or start + duration > leave - 10 * 60:
            continue  # busy then, or too close to leaving: people skip things
        day.stay_until(start)
        if room == STREET:
            day.leave()
            day.t = max(day.t, start + duration)  # away: a gap in the legs
            day.go(desk_room, desk)
        else:
            margin = 0.3 if room == "cabine" else 0.6
            day.go(room, plan.room(room).random_point(rng, margin))
            day.stay_until(day.t + duration)
            day.go(desk_room, desk)
    day.stay_until(leave)
    day.leave()
    visits = tuple(
        Visit(DAY_START_MS + round(a * 1000), DAY_START_MS + round(d * 1000)) for a, d in day.visits
    )
    return Person(tag, desk_room, tuple(day.legs), visits)


@dataclass(frozen=True)
class GroundTruth:
    """Where everyone really was: a room (or None off site) per second, and their visits."""

    plan: FloorPlan
    start_ms: int
    seconds: int  # simulated
    rooms: Mapping[str, Sequence[str | None]]  # tag -> true room at each second from start_ms
    visits: Mapping[str, Sequence[Visit]]  # those that overlap the simulated time

    @property
    def end_ms(self) -> int:
        """End of the simulated time."""
        return self.start_ms + self.seconds * 1000

    def room_at(self, tag: str, ts_ms: int) -> str | None:
        """The tag's true room at *ts_ms* (None off site or outside the simulated day)."""
        i = (ts_ms - self.start_ms) // 1000
        rooms = self.rooms[tag]
        return rooms[i] if 0 <= i < len(rooms) else None

    @property
    def departures(self) -> list[tuple[str, int]]:
        """(tag, ms) of every departure through the entrance, in time order."""
        return sorted(
            ((tag, v.departed_ms) for tag, vs in self.visits.items() for v in vs),
            key=lambda item: item[1],
        )


@dataclass(frozen=True, slots=True)
class NodeWindow:
    """What one node reports for one window: per tag, the mean RSSI and count heard."""

    node: str
    room: str
    ts_ms: int  # end of the window
    window_s: float
    readings: tuple[tuple[str, float, int], ...]  # (tag, rssi, n)

    def sightings(self) -> list[Sighting]:
        """The window as the hub's sightings."""
        return [
            Sighting(tag, self.node, self.room, rssi, n, self.ts_ms)
            for tag, rssi, n in self.readings
        ]


class Simulation:
    """A seeded day at a site: people, their ground truth, and what the nodes hear."""

    def __init__(
        self,
        plan: FloorPlan,
        people: int = 30,
        seed: int = 1,
        radio: Radio | None = None,
        start_s: int = 0,
        duration_s: int = DAY_S,
    ) -> None:
        """Plan *people*'s day at *plan*; simulate from 08:00 + *start_s* for *duration_s*."""
        self.plan = plan
        self.seed = seed
        self.radio = radio or Radio()
        self.start_s = start_s
        self.duration_s = duration_s
        self.start_ms = DAY_START_MS + start_s * 1000
        self.end_ms = self.start_ms + duration_s * 1000
        rng = random.Random(f"{seed}-people")
        self.people: list[Person] = []
        visits: dict[str, list[Visit]] = {}
        for _ in range(people):
            tag = f"mac:{rng.getrandbits(48):012x}"
            person = _person_day(plan, rng, tag)
            self.people.append(person)
            visits[tag] = [
                v
                for v in person.visits
                if v.arrived_ms < self.end_ms and v.departed_ms > self.start_ms
            ]
        seconds = range(start_s, start_s + duration_s)
        rooms = {
            p.tag: [_room_or_none(plan, p.position(float(s))) for s in seconds] for p in self.people
        }
        self.truth = GroundTruth(plan, self.start_ms, duration_s, rooms, visits)
        # each node's static receive gain offset, dB: what an installer's calibration measures
        gains = random.Random(f"{seed}-nodes")
        self.node_gains_db = {
            node.id: gains.gauss(0, self.radio.node_gain_sigma_db) for node in plan.nodes
        }

    def windows(self) -> Iterator[NodeWindow]:
        """Every node's windows in time order (the same stream for the same seed).

        A window in which no tag was heard is left out: a real node sends it (wire contract),
        but it carries no sighting.
        """
        plan, radio = self.plan, self.radio
        rng = random.Random(f"{self.seed}-radio")
        nodes = plan.nodes
        window_ms = round(radio.window_s * 1000)
        phases_ms = [rng.randrange(window_ms) for _ in nodes]
        gains = [self.node_gains_db[node.id] for node in nodes]
        step_ms = round(radio.interval_s * 1000)
        ad_phase_ms = {p.tag: rng.randrange(step_ms) for p in self.people}
        links = {(p.tag, i): Link(radio, rng) for p in self.people for i in range(len(nodes))}
        means: dict[str, tuple[Point, list[float]]] = {}
        # node index -> window end (ms) -> tag -> [sum of RSSI, count]
        pending: list[dict[int, dict[str, list[float]]]] = [{} for _ in nodes]
        start_ms = self.start_s * 1000
        for t_ms in range(start_ms, start_ms + self.duration_s * 1000, step_ms):
            for person in self.people:
                ad_ms = t_ms + ad_phase_ms[person.tag]
                at = person.position(ad_ms / 1000)
                if at is None:
                    continue
                cached = means.get(person.tag)
                if cached is None or cached[0] != at:
                    cached = (
                        at,
                        [_mean(plan, radio, at, n) + g for n, g in zip(nodes, gains, strict=True)],
                    )
                    means[person.tag] = cached
                for i, mean in enumerate(cached[1]):
                    rssi = links[(person.tag, i)].hear(mean)
                    if rssi is None:
                        continue
                    end = ad_ms - (ad_ms - phases_ms[i]) % window_ms + window_ms
                    acc = pending[i].setdefault(end, {}).setdefault(person.tag, [0.0, 0])
                    acc[0] += rssi
                    acc[1] += 1
            horizon = t_ms + step_ms  # every advertisement before it has been heard
            ready: list[NodeWindow] = []
            for i, node in enumerate(nodes):
                for end in [e for e in pending[i] if e <= horizon]:
                    heard = pending[i].pop(end)
                    readings = tuple(
                        (tag, round(max(-127.0, min(20.0, s / n)), 1), int(n))
                        for tag, (s, n) in sorted(heard.items())
                    )
                    ready.append(
                        NodeWindow(node.id, node.room, DAY_START_MS + end, radio.window_s, readings)
                    )
            ready.sort(key=lambda w: w.ts_ms)
            yield from ready

    def sightings(self) -> Iterator[Sighting]:
        """Every sighting in time order."""
        for window in self.windows():
            yield from window.sightings()


def _room_or_none(plan: FloorPlan, at: Point | None) -> str | None:
    return None if at is None else plan.room_at(at)


def _mean(plan: FloorPlan, radio: Radio, at: Point, node: NodePlacement) -> float:
    return radio.mean_rssi(math.dist(at, node.at), plan.wall_loss(at, node.at))


# -- scoring ---------------------------------------------------------------------------------

Timeline = Mapping[str, Sequence[tuple[int, str | None]]]
"""Per tag, (ms when the locator said it, room or None), in time order."""


@dataclass(frozen=True)
class Score:
    """How a locator's timeline compares with the ground truth (definitions on each field)."""

    # person-seconds on site, in a room with a node, after the visit's first placement, where the
    # locator named the true room
    correct_s: int
    # person-seconds on site, in a room with a node, after the visit's first placement
    scored_s: int
    # excluded: person-seconds on site before the visit's first placement
    unplaced_s: int
    # excluded: person-seconds in a room without a node (no receiver can name it)
    nodeless_s: int
    person_hours: float  # on site, all rooms
    changes: int  # changes from one room to another
    # ... into a room that was not the true one at any second of the *match_s* before it (a flap
    # away and back counts once: the way back is right)
    false_changes: int
    # ... that cannot be judged: the person was in a room without a node in those *match_s*
    unjudged_changes: int
    false_departures: int  # departures (None) said while the person was truly on site
    departure_delays_s: tuple[float, ...]  # detected departures: locator None - true exit
    missed_departures: int  # exits not followed by a None before the next arrival or the end
    placement_delays_s: tuple[float, ...]  # first room of a visit - arrival (0: placed outside)
    stays: int  # true stays of at least *stay_s* in one room with a node
    stays_seen: int  # ... of which the locator named that room at some second

    @property
    def accuracy(self) -> float:
        """Share of scored person-seconds in the right room."""
        return self.correct_s / self.scored_s if self.scored_s else 0.0

    @property
    def false_changes_per_hour(self) -> float:
        """False room changes per person-hour on site."""
        return self.false_changes / self.person_hours if self.person_hours else 0.0


def _beliefs(
    start_ms: int, seconds: int, events: Sequence[tuple[int, str | None]]
) -> list[str | None]:
    """The locator's room at each second, from its timeline."""
    belief: list[str | None] = []
    k, current = 0, None
    for s in range(seconds):
        ms = start_ms + s * 1000
        while k < len(events) and events[k][0] <= ms:
            current = events[k][1]
            k += 1
        belief.append(current)
    return belief


def score(truth: GroundTruth, timeline: Timeline, match_s: int = 60, stay_s: int = 120) -> Score:
    """Compare a locator's *timeline* with *truth*, second by second."""
    located = {node.room for node in truth.plan.nodes}
    correct = scored = unplaced = nodeless = on_site = 0
    changes = false_changes = unjudged = false_departures = missed = stays = stays_seen = 0
    delays: list[float] = []
    placements: list[float] = []
    seconds, end_ms = truth.seconds, truth.end_ms
    for tag, true_rooms in truth.rooms.items():
        events = list(timeline.get(tag, ()))
        times = [ms for ms, _ in events]
        belief = _beliefs(truth.start_ms, seconds, events)
        visits = truth.visits.get(tag, ())
        for number, visit in enumerate(visits):
            first = max(0, -((truth.start_ms - visit.arrived_ms) // 1000))  # ceil
            last = min((visit.departed_ms - truth.start_ms) // 1000, seconds)
            placed = next((s for s in range(first, last) if belief[s] is not None), None)
            if placed is not None:
                came = max(visit.arrived_ms, truth.start_ms)
                placements.append(max(0.0, (truth.start_ms + placed * 1000 - came) / 1000))
            for s in range(first, last):
                room = true_rooms[s]
                if room is None:
                    continue
                on_site += 1
                if placed is None or s < placed:
                    unplaced += 1
                elif room not in located:
                    nodeless += 1
                else:
                    scored += 1
                    correct += belief[s] == room
            if visit.departed_ms >= end_ms:
                continue  # still on site when the simulation ends
            # the first None said at or after the exit, before the next arrival
            following = visits[number + 1].arrived_ms if number + 1 < len(visits) else end_ms
            j = bisect.bisect_left(times, visit.departed_ms)
            said = next((ms for ms, room in events[j:] if room is None and ms < following), None)
            if said is not None:
                delays.append((said - visit.departed_ms) / 1000)
            elif j > 0 and events[j - 1][1] is None:
                delays.append(0.0)  # already said gone before the exit (a false departure)
            else:
                missed += 1
        previous: str | None = None
        for ms, said_room in events:
            s = (ms - truth.start_ms) // 1000
            if said_room is None:
                false_departures += 0 <= s < seconds and true_rooms[s] is not None
            elif previous is not None and said_room != previous:
                changes += 1
                recent = true_rooms[max(0, s - match_s) : max(0, s + 1)]
                if said_room not in recent:
                    if any(r is not None and r not in located for r in recent):
                        unjudged += 1
                    else:
                        false_changes += 1
            previous = said_room
        s = 0
        while s < seconds:  # stays: runs of one located room of at least stay_s seconds
            e = s
            while e < seconds and true_rooms[e] == true_rooms[s]:
                e += 1
            if true_rooms[s] in located and e - s >= stay_s:
                stays += 1
                stays_seen += true_rooms[s] in belief[s:e]
            s = e
    return Score(
        correct_s=correct,
        scored_s=scored,
        unplaced_s=unplaced,
        nodeless_s=nodeless,
        person_hours=on_site / 3600,
        changes=changes,
        false_changes=false_changes,
        unjudged_changes=unjudged,
        false_departures=false_departures,
        departure_delays_s=tuple(delays),
        missed_departures=missed,
        placement_delays_s=tuple(placements),
        stays=stays,
        stays_seen=stays_seen,
    )
