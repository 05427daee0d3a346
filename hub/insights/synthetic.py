"""A synthetic population with a hidden truth: the demo's year, the tests' oracle, the benchmark.

Seeded and deterministic. Each member has a hidden *true posture* (absent, tenant, occasional,
coworker; a share of tenants become coworkers during the year and some coworkers drift to
occasional) and a hidden *responsiveness* to each nudge rule. Each weekday of the period:

* each site holds its moments (breakfast, lunch, workshop, talk, sport, afterwork);
* each member comes or not, with a probability set by their posture, in one to four sessions
  (lunch out, errands), and moves between their desk room, community rooms (coffee, lunch),
  meeting rooms and phone booths, with a habit of community time set by their posture;
* rooms are never over their capacity, by construction: some tenants rent a seat in the
  private offices (never more tenants than seats); everyone else takes a free seat in a flex desk
  room for the day, and a member who finds none stays away that day (the space is full);
  community breaks, meetings, calls and moments happen only while the room has room (a 5-minute
  grid of each room's day counts everyone who touches a slot, an upper bound of the true
  occupancy); a full moment turns late-comers away. The rooms of a synthetic site are sized for
  its population (:func:`site_capacity`); :func:`generate` keeps the capacities of rooms that
  already exist (the demo's configuration);
* for each moment during their day a member may RSVP (and then mostly comes); a member who did
  not RSVP may get one nudge a day (``arrival_message`` when they arrive within the hour before
  a moment, else ``moment_soon`` 10 or 30 minutes before it), in the treatment or the stable
  holdout arm (:func:`hub.nudges.experiment.assign`). Without a nudge they come with their base
  probability ``p0``; a sent nudge raises it to ``p1 = p0 + (1 − p0) · r · fatigue^k``, where
  ``r`` is their responsiveness to the rule and ``k`` the number of earlier decisions of that
  rule for them (the effect fades as nudges repeat). The same uniform draw decides both arms, so
  the true uplift of each decision is exactly ``p1 − p0``;
* attendance puts the member in the moment's room for the moment.

:func:`simulate` builds everything in memory; :func:`write` bulk-inserts it through the models
(sites, rooms, members with consents, sessions, dwells, moments, attendances, RSVPs, nudge
records with outcomes). The :class:`Truth` is returned separately and never stored.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session

from hub.db.models import (
    Attendance,
    Consent,
    Member,
    MemberConsent,
    Moment,
    NudgeRecord,
    PresenceSession,
    Room,
    RoomDwell,
    Rsvp,
    Site,
)
from hub.insights.posture import Posture
from hub.nudges.experiment import Arm, assign
from vivant.demo.population import SITES as DEMO_SITES

ZONE = "Europe/Paris"
RULES = ("moment_soon", "arrival_message")
CHANNELS = ("email", "apprise")

# Per posture: chance of coming on a weekday, share of the day in community rooms, chance of an
# RSVP to a moment during their day, base chance of coming to it without RSVP or nudge, and the
# mean responsiveness to a nudge.
_HABITS: dict[Posture, tuple[float, float, float, float, float]] = {
    Posture.ABSENT: (0.04, 0.05, 0.0, 0.03, 0.05),
    Posture.TENANT: (0.85, 0.0, 0.0, 0.0, 0.004),
    Posture.OCCASIONAL: (0.35, 0.12, 0.04, 0.04, 0.12),
    Posture.COWORKER: (0.75, 0.3, 0.45, 0.3, 0.2),
}
_MIX = ((Posture.ABSENT, 0.15), (Posture.TENANT, 0.35), (Posture.OCCASIONAL, 0.25))
# Moments: kind, title, local start (h, m), minutes, chance per weekday (Mon..Fri).
_PLAN: tuple[tuple[str, str, tuple[int, int], int, tuple[float, ...]], ...] = (
    ("breakfast", "Petit-déjeuner des coworkers", (9, 30), 60, (0.8,) * 5),
    ("talk", "Conférence", (11, 0), 60, (0.25,) * 5),
    ("sport", "Yoga", (12, 15), 45, (0.0, 0.6, 0.0, 0.0, 0.0)),
    ("lunch", "Déjeuner partagé", (12, 30), 60, (0.4,) * 5),
    ("workshop", "Atelier", (14, 0), 90, (0.6,) * 5),
    ("afterwork", "Afterwork", (18, 30), 90, (0.05, 0.05, 0.05, 0.9, 0.05)),
)


@dataclass(frozen=True)
class SyntheticSpec:
    """What to generate."""

    seed: int = 7
    sites: int = 3
    members_per_site: int = 100
    start: date = date(2025, 11, 24)  # a Monday
    days: int = 364
    holdout_share: float = 0.2
    uplift_scale: float = 1.0  # 0: nudges do nothing (the null experiment)
    fatigue: float = 0.99  # responsiveness kept after each earlier decision of the rule
    conversion_share: float = 0.15  # tenants who become coworkers during the period
    drift_share: float = 0.1  # coworkers who become occasional
    room_location_share: float = 1.0  # members who allowed room-level dwells
    insights_share: float = 0.6  # members who allowed individual insights


@dataclass(frozen=True)
class TrueDecision:
    """One nudge decision as the generator knows it: its true uplift ``p1 − p0``."""

    rule: str
    channel: str
    member_id: int
    arm: str
    attended: bool
    uplift: float


@dataclass
class Truth:
    """What the reports try to recover, kept away from the database."""

    postures: dict[int, list[tuple[date, Posture]]] = field(default_factory=dict)
    responsiveness: dict[tuple[int, str], float] = field(default_factory=dict)
    decisions: list[TrueDecision] = field(default_factory=list)

    def posture(self, member_id: int, day: date) -> Posture:
        """The member's true posture on *day*."""
        current = self.postures[member_id][0][1]
        for since, posture in self.postures[member_id]:
            if since <= day:
                current = posture
        return current

    def uplift(self, rule: str | None = None, channel: str | None = None) -> float:
        """Mean true uplift over the decisions of *rule* and *channel* (both arms)."""
        chosen = [
            d.uplift
            for d in self.decisions
            if (rule is None or d.rule == rule) and (channel is None or d.channel == channel)
        ]
        return sum(chosen) / len(chosen) if chosen else 0.0


@dataclass
class World:
    """Rows to insert (plain dicts for bulk inserts) and the truth behind them."""

    spec: SyntheticSpec
    truth: Truth
    rows: dict[str, list[dict[str, Any]]]


_SLOT_S = 300  # the occupancy grid of a room's day: 5-minute slots
_DEMO_MEMBERS = 40  # the population the demo sites' rooms are sized for
_UNLIMITED = 10_000  # rooms without a capacity (the lobby)


@dataclass
class _SiteShape:
    id: str
    desks: list[str]
    community: list[tuple[str, int]]
    meeting: list[str]
    booths: list[str]
    capacity: dict[str, int] = field(default_factory=dict)


class _Occupancy:
    """Who touches each 5-minute slot of each room's day (never more than the capacity)."""

    def __init__(self, capacity: dict[str, int], day_start: datetime) -> None:
        self.capacity = capacity
        self.start = day_start
        self.slots: dict[str, list[int]] = {}

    def _span(self, start: datetime, end: datetime) -> range:
        first = int((start - self.start).total_seconds()) // _SLOT_S
        last = -(-int((end - self.start).total_seconds()) // _SLOT_S)
        return range(max(0, first), min(last, 2 * 24 * 3600 // _SLOT_S))

    def take(self, room_id: str, start: datetime, end: datetime) -> bool:
        """Put someone in *room_id* over ``[start, end)`` if it has room all along."""
        limit = self.capacity.get(room_id, _UNLIMITED)
        grid = self.slots.setdefault(room_id, [0] * (2 * 24 * 3600 // _SLOT_S))
        span = self._span(start, end)
        if any(grid[i] >= limit for i in span):
            return False
        for i in span:
            grid[i] += 1
        return True


def site_capacity(kind: str, capacity: int | None, members: int) -> int | None:
    """A demo room's capacity scaled to a site of *members* (the demo's for up to 40)."""
    if capacity is None or kind == "phone_booth" or members <= _DEMO_MEMBERS:
        return capacity
    return -(-capacity * members // _DEMO_MEMBERS)


def _shapes(
    count: int, members: int, existing: dict[tuple[str, str], int | None] | None = None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[_SiteShape]]:
    sites, rooms, shapes = [], [], []
    for index in range(count):
        demo = DEMO_SITES[index % len(DEMO_SITES)]
        site_id = demo.id if index < len(DEMO_SITES) else f"{demo.id}-{index // len(DEMO_SITES)}"
        sites.append({"id": site_id, "name": demo.name, "timezone": ZONE})
        shape = _SiteShape(site_id, [], [], [], [])
        for room_id, name, kind, demo_capacity in demo.rooms:
            capacity = site_capacity(kind, demo_capacity, members)
            if existing is not None and (site_id, room_id) in existing:
                capacity = existing[(site_id, room_id)]  # write() keeps the existing room
            rooms.append(
                {
                    "site_id": site_id,
                    "id": room_id,
                    "name": name,
                    "kind": kind,
                    "capacity": capacity,
                }
            )
            shape.capacity[room_id] = capacity if capacity is not None else _UNLIMITED
            if kind == "desk":
                shape.desks.append(room_id)
            elif kind == "community":
                shape.community.append((room_id, capacity or 20))
            elif kind == "meeting":
                shape.meeting.append(room_id)
            elif kind == "phone_booth":
                shape.booths.append(room_id)
        shapes.append(shape)
    return sites, rooms, shapes


def simulate(
    spec: SyntheticSpec,
    first_ids: dict[str, int] | None = None,
    capacities: dict[tuple[str, str], int | None] | None = None,
) -> World:
    """Build the population and its period in memory (ids start at *first_ids*, default 1;
    rooms already in the database keep their *capacities*)."""
    rng = random.Random(spec.seed)
    ids = defaultdict(lambda: 1, first_ids or {})
    zone = ZoneInfo(ZONE)
    salt = f"synthetic-{spec.seed}"
    truth = Truth()
    rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    site_rows, room_rows, shapes = _shapes(spec.sites, spec.members_per_site, capacities)
    rows["sites"], rows["rooms"] = site_rows, room_rows
    created = datetime.combine(spec.start, time(8), tzinfo=zone).astimezone(UTC)

    def next_id(table: str) -> int:
        value = ids[table]
        ids[table] = value + 1
        return value

    members: list[dict[str, Any]] = []
    # Tenants rent the seats of the private offices (the last desk room when there are several)
    # while there are some; everyone else takes a flex seat for the day.
    rented: dict[tuple[str, str], int] = defaultdict(int)
    for shape in shapes:
        office = shape.desks[-1] if len(shape.desks) > 1 else None
        for _ in range(spec.members_per_site):
            member_id = next_id("members")
            draw, posture = rng.random(), Posture.COWORKER
            for candidate, share in _MIX:
                if draw < share:
                    posture = candidate
                    break
                draw -= share
            schedule = [(spec.start, posture)]
            change = spec.start + timedelta(days=rng.randrange(28, max(29, spec.days - 28)))
            if posture is Posture.TENANT and rng.random() < spec.conversion_share:
                schedule.append((change, Posture.COWORKER))
            elif posture is Posture.COWORKER and rng.random() < spec.drift_share:
                schedule.append((change, Posture.OCCASIONAL))
            truth.postures[member_id] = schedule
            for rule in RULES:
                mean = _HABITS[posture][4]
                truth.responsiveness[(member_id, rule)] = (
                    min(0.9, rng.expovariate(1 / mean)) * spec.uplift_scale
                )
            consents = [Consent.STAFF_VISIBLE.value, Consent.MESSAGES.value]
            if rng.random() < spec.room_location_share:
                consents.append(Consent.ROOM_LOCATION.value)
            if rng.random() < spec.insights_share:
                consents.append(Consent.INSIGHTS.value)
            rows["members"].append(
                {
                    "id": member_id,
                    "first_name": f"Membre {member_id}",
                    "last_name": None,
                    "email": f"membre-{spec.seed}-{member_id}@example.org",
                    "language": "fr",
                    "external_ref": None,
                    "created_at": created,
                }
            )
            rows["member_consents"].extend(
                {"member_id": member_id, "scope": scope, "granted_at": created}
                for scope in consents
            )
            desk = None
            if (
                posture is Posture.TENANT
                and office is not None
                and rented[(shape.id, office)] < shape.capacity[office]
            ):
                desk = office
                rented[(shape.id, office)] += 1
            members.append(
                {
                    "id": member_id,
                    "site": shape,
                    "desk": desk,  # a rented seat, else a flex seat each day
                    "channel": rng.choice(CHANNELS),
                    "dwells": Consent.ROOM_LOCATION.value in consents,
                }
            )

    prior: dict[tuple[int, str], int] = defaultdict(int)
    for offset in range(spec.days):
        day = spec.start + timedelta(days=offset)
        if day.weekday() >= 5:
            continue

        def at(hour: int, minute: int, day: date = day) -> datetime:
            return datetime.combine(day, time(hour, minute), tzinfo=zone).astimezone(UTC)

        moments_by_site: dict[str, list[dict[str, Any]]] = {}
        rooms_today = {
            shape.id: _Occupancy(shape.capacity, at(0, 0) - timedelta(hours=2)) for shape in shapes
        }
        flex_today = {
            shape.id: {
                room_id: shape.capacity[room_id] - rented[(shape.id, room_id)]
                for room_id in shape.desks
            }
            for shape in shapes
        }
        for shape in shapes:
            todays = []
            for kind, title, (hour, minute), minutes, chances in _PLAN:
                if rng.random() >= chances[day.weekday()]:
                    continue
                room_id, capacity = rng.choice(shape.community)
                start = at(hour, minute)
                moment: dict[str, Any] = {
                    "id": next_id("moments"),
                    "site_id": shape.id,
                    "room_id": room_id,
                    "title": title,
                    "kind": kind,
                    "description": "",
                    "starts_at": start,
                    "ends_at": start + timedelta(minutes=minutes),
                    "created_at": start - timedelta(days=7),
                    "tags": [],
                    "capacity": capacity,
                }
                rows["moments"].append(moment)
                todays.append(moment)
            moments_by_site[shape.id] = todays

        for member in members:
            member_id, shape = member["id"], member["site"]
            posture = truth.posture(member_id, day)
            come, community_share, rsvp_p, base_p, _ = _HABITS[posture]
            if rng.random() >= come:
                continue
            desk = member["desk"]
            if desk is None:
                free = flex_today[shape.id]
                desk = next((room_id for room_id in shape.desks if free[room_id] > 0), None)
                if desk is None:
                    continue  # every desk is taken: the space is full today
                free[desk] -= 1
            occupancy = rooms_today[shape.id]
            arrive = at(8, 0) + timedelta(minutes=max(0.0, rng.gauss(75, 40)))
            leave = at(17, 0) + timedelta(minutes=max(0.0, rng.gauss(75, 50)))
            visits: list[tuple[datetime, datetime, str]] = []
            nudged_today = False
            for moment in moments_by_site[shape.id]:
                starts, ends = moment["starts_at"], moment["ends_at"]
                if not (arrive - timedelta(minutes=30) <= starts <= leave + timedelta(hours=1)):
                    continue
                draw = rng.random()
                came = False
                if rng.random() < rsvp_p:
                    rows["rsvps"].append(
                        {
                            "id": next_id("rsvps"),
                            "moment_id": moment["id"],
                            "member_id": member_id,
                            "status": "going",
                            "created_at": (said := starts - timedelta(hours=rng.uniform(2, 48))),
                            "updated_at": said,
                        }
                    )
                    came = draw < 0.8
                elif not nudged_today:
                    nudged_today = True
                    if starts - timedelta(minutes=60) <= arrive < starts - timedelta(minutes=10):
                        rule, triggered = "arrival_message", arrive
                    else:
                        rule = "moment_soon"
                        triggered = starts - timedelta(minutes=rng.choice((10, 30)))
                    k = prior[(member_id, rule)]
                    prior[(member_id, rule)] = k + 1
                    r = truth.responsiveness[(member_id, rule)] * spec.fatigue**k
                    p1 = base_p + (1 - base_p) * r
                    arm = assign(str(member_id), rule, salt, spec.holdout_share)
                    came = draw < (p1 if arm is Arm.TREATMENT else base_p)
                    not_before = triggered + timedelta(minutes=rng.randint(1, 8))
                    rows["nudge_records"].append(
                        {
                            "id": next_id("nudge_records"),
                            "member_id": member_id,
                            "site_id": shape.id,
                            "rule": rule,
                            "channel": member["channel"],
                            "variant_id": f"v{k % 3 + 1}",
                            "arm": arm.value,
                            "decision": "sent" if arm is Arm.TREATMENT else "holdout",
                            "reasons": [],
                            "moment_id": moment["id"],
                            "triggered_at": triggered,
                            "not_before": not_before,
                            "not_after": not_before + timedelta(minutes=10),
                            "sent_at": not_before if arm is Arm.TREATMENT else None,
                            "outcome": "attended" if came else "not_attended",
                            "outcome_at": ends + timedelta(hours=1),
                        }
                    )
                    truth.decisions.append(
                        TrueDecision(
                            rule, member["channel"], member_id, arm.value, came, p1 - base_p
                        )
                    )
                else:
                    came = draw < base_p
                if (
                    came
                    and not any(a < ends and starts < b for a, b, _ in visits)
                    and occupancy.take(moment["room_id"], starts, ends)
                ):
                    visits.append((starts, ends, moment["room_id"]))
                    rows["attendances"].append(
                        {
                            "id": next_id("attendances"),
                            "moment_id": moment["id"],
                            "member_id": member_id,
                            "source": "dwell",
                            "confidence": 0.9,
                            "first_seen_at": starts,
                            "minutes_present": (ends - starts).total_seconds() / 60,
                            "recorded_at": ends,
                        }
                    )
            if visits:
                arrive = min(arrive, min(v[0] for v in visits) - timedelta(minutes=5))
                leave = max(leave, max(v[1] for v in visits) + timedelta(minutes=5))
            _day_of(
                rng,
                rows,
                next_id,
                (member, desk, occupancy),
                arrive,
                leave,
                visits,
                community_share,
            )
    return World(spec, truth, rows)


def _day_of(
    rng: random.Random,
    rows: dict[str, list[dict[str, Any]]],
    next_id: Any,
    who: tuple[dict[str, Any], str, _Occupancy],
    arrive: datetime,
    leave: datetime,
    visits: list[tuple[datetime, datetime, str]],
    community_share: float,
) -> None:
    """Sessions (one to four) and room dwells of one member's day around their moments, at
    their *desk* for the day; a visit happens only while its room has room."""
    member, desk, occupancy = who
    shape: _SiteShape = member["site"]
    span = (leave - arrive).total_seconds() / 60
    # Community breaks until their share of the day is reached; a meeting or a call sometimes.
    wanted = span * community_share * rng.uniform(0.6, 1.4)
    tries = 0
    while wanted > 10 and tries < 8:
        tries += 1
        minutes = min(wanted, rng.uniform(15, 60))
        start = arrive + timedelta(minutes=rng.uniform(10, max(11.0, span - minutes - 10)))
        end = start + timedelta(minutes=minutes)
        room_id = rng.choice(shape.community)[0]
        if (
            end < leave
            and not any(a < end and start < b for a, b, _ in visits)
            and occupancy.take(room_id, start, end)
        ):
            visits.append((start, end, room_id))
            wanted -= minutes
    if community_share > 0 and shape.meeting and rng.random() < 0.3:
        start = arrive + timedelta(minutes=rng.uniform(30, max(31.0, span - 90)))
        end = start + timedelta(minutes=rng.uniform(30, 60))
        room_id = rng.choice(shape.meeting)
        if (
            end < leave
            and not any(a < end and start < b for a, b, _ in visits)
            and occupancy.take(room_id, start, end)
        ):
            visits.append((start, end, room_id))
    if shape.booths and rng.random() < 0.15:
        start = arrive + timedelta(minutes=rng.uniform(20, max(21.0, span - 40)))
        end = start + timedelta(minutes=rng.uniform(5, 20))
        if (
            end < leave
            and not any(a < end and start < b for a, b, _ in visits)
            and occupancy.take(shape.booths[0], start, end)
        ):
            visits.append((start, end, shape.booths[0]))
    visits.sort()
    # Gaps out of the building (lunch outside, errands), away from every visit.
    gaps: list[tuple[datetime, datetime]] = []
    for _ in range(rng.choices((0, 1, 2, 3), weights=(5, 25, 40, 30))[0]):
        start = arrive + timedelta(minutes=rng.uniform(60, max(61.0, span - 60)))
        end = start + timedelta(minutes=rng.uniform(15, 60))
        blocked = [*((a, b) for a, b, _ in visits), *gaps]
        if end < leave - timedelta(minutes=15) and not any(
            a < end and start < b for a, b in blocked
        ):
            gaps.append((start, end))
    gaps.sort()
    sessions, cursor = [], arrive
    for gap_start, gap_end in gaps:
        sessions.append((cursor, gap_start))
        cursor = gap_end
    sessions.append((cursor, leave))
    for start, end in sessions:
        rows["presence_sessions"].append(
            {
                "id": next_id("presence_sessions"),
                "member_id": member["id"],
                "site_id": shape.id,
                "arrived_at": start,
                "arrival_source": "badge",
                "last_seen_at": end,
                "departed_at": end,
                "departure_source": "badge",
            }
        )
        if not member["dwells"]:
            continue
        cursor = start
        for visit_start, visit_end, room_id in [*visits, (end, end, "")]:
            if visit_start < start or (visit_start >= end and room_id):
                continue
            if visit_start > cursor:
                _dwell(rows, next_id, member["id"], shape.id, desk, cursor, visit_start)
            if room_id:
                stop = min(visit_end, end)
                _dwell(rows, next_id, member["id"], shape.id, room_id, visit_start, stop)
                cursor = stop


def _dwell(
    rows: dict[str, list[dict[str, Any]]],
    next_id: Any,
    member_id: int,
    site_id: str,
    room_id: str,
    start: datetime,
    end: datetime,
) -> None:
    if end > start:
        rows["room_dwells"].append(
            {
                "id": next_id("room_dwells"),
                "member_id": member_id,
                "site_id": site_id,
                "room_id": room_id,
                "entered_at": start,
                "left_at": end,
                "source": "ble",
            }
        )


_ORDER: tuple[tuple[str, Any], ...] = (
    ("sites", Site),
    ("rooms", Room),
    ("members", Member),
    ("member_consents", MemberConsent),
    ("moments", Moment),
    ("presence_sessions", PresenceSession),
    ("room_dwells", RoomDwell),
    ("attendances", Attendance),
    ("rsvps", Rsvp),
    ("nudge_records", NudgeRecord),
)
_SERIAL = ("members", "moments", "presence_sessions", "room_dwells", "attendances", "rsvps")


def first_free_ids(session: Session) -> dict[str, int]:
    """The next free id of each table the generator fills, so it can add to a live database."""
    out = {}
    for table, model in _ORDER:
        if table in (*_SERIAL, "nudge_records"):
            out[table] = (session.scalar(select(func.max(model.id))) or 0) + 1
    return out


def write(session: Session, world: World, chunk: int = 10_000) -> dict[str, int]:
    """Bulk-insert the world (existing sites are kept); returns the rows written per table."""
    known = set(session.scalars(select(Site.id)))
    counts = {}
    for table, model in _ORDER:
        rows = world.rows.get(table, [])
        if table == "sites":
            rows = [r for r in rows if r["id"] not in known]
        elif table == "rooms":
            rooms = {(s, r) for s, r in session.execute(select(Room.site_id, Room.id))}
            rows = [r for r in rows if (r["site_id"], r["id"]) not in rooms]
        for start in range(0, len(rows), chunk):
            session.execute(insert(model), rows[start : start + chunk])
        counts[table] = len(rows)
    if session.get_bind().dialect.name == "postgresql":
        for table in (*_SERIAL, "nudge_records"):
            session.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                    f"(SELECT COALESCE(MAX(id), 1) FROM {table}))"
                )
            )
    return counts


def generate(session: Session, spec: SyntheticSpec) -> Truth:
    """Simulate *spec* and write it into the database; returns the hidden truth."""
    capacities = {
        (site_id, room_id): capacity
        for site_id, room_id, capacity in session.execute(
            select(Room.site_id, Room.id, Room.capacity)
        )
    }
    world = simulate(spec, first_free_ids(session), capacities)
    write(session, world)
    return world.truth


def expected_sizes(world: World) -> dict[str, int]:
    """Rows per table (for logs and the benchmark)."""
    return {table: len(rows) for table, rows in world.rows.items()}
