"""Live state of every site: where enrolled tags are, how full each room is.

The ingest engine hands BLE windows and sensor readings here, inside the transaction of their
batch; :meth:`LiveState.tick` runs every few seconds in the same worker (never concurrently with
a batch), and is where absences, the daily cut-off, occupancy publishing, 5-minute rollups and
state snapshots happen. Everything is in memory and cheap per message; the database is written
only when something changes (a member arrives, leaves or changes room), so thousands of BLE
windows per second cost almost nothing.

Privacy: the room of a member is computed in memory for occupancy; room-level dwell is stored
only for members who allowed room-level location (:class:`~hub.db.models.Consent`).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.admission import BleFacts, SensorFacts
from hub.config import HubConfig, SiteSettings
from hub.db.models import (
    Consent,
    Credential,
    CredentialKind,
    HubState,
    MemberConsent,
    OccupancyRollup,
    PresenceSource,
)
from hub.location import LocationSettings, RoomChange, RoomLocator, Sighting
from hub.measurements import occupancy_point, sensor_point
from hub.occupancy import OccupancyEstimate, OccupancySettings, RoomOccupancy, changed
from hub.presence import (
    arrive,
    ble_absent,
    close_at_cutoff,
    cutoff_instant,
    enter_room,
    ms_to_datetime,
)
from hub.thirdparty import AnonymousTally, ThirdPartySighting, parse_espresense, parse_theengs
from hub.timeseries import Point
from vivant.wire.codec import encode
from vivant.wire.payloads import BleWindow, Sensor
from vivant.wire.topics import NodeTopic, Topics

log = logging.getLogger(__name__)

ROLLUP_BUCKET = timedelta(minutes=5)
PRESENCE_REFRESH_S = 60.0  # how often a sighting refreshes `last_seen_at` in the database
TAG_CACHE_S = 60.0
ANONYMOUS_FRESH_S = 120  # an anonymous count older than this no longer describes the room
# Sessions left open at a cut-off are looked for when the cut-off passes, and then once a minute
# (a late message replayed by an outbox can open one after it): not at every tick, which would
# be one query per site per second.
CUTOFF_CHECK_S = 60.0
_BLE = PresenceSource.BLE


@dataclass(frozen=True, slots=True)
class TagOwner:
    """The member an enrolled BLE tag belongs to, and whether room-level location is allowed."""

    member_id: int
    room_location: bool


class TagDirectory:
    """Tag id → owner for every enrolled BLE tag, in memory, reloaded every
    :data:`TAG_CACHE_S` (enrolments and consent changes are rare, windows are many)."""

    def __init__(self) -> None:
        self._owners: dict[str, TagOwner] = {}
        self._loaded_at: float | None = None

    def _load(self, session: Session) -> None:
        now = time.monotonic()
        if self._loaded_at is not None and now - self._loaded_at < TAG_CACHE_S:
            return
        located = set(
            session.scalars(
                select(MemberConsent.member_id).where(
                    MemberConsent.scope == Consent.ROOM_LOCATION.value
                )
            )
        )
        rows = session.execute(
            select(Credential.value, Credential.member_id).where(
                Credential.kind == CredentialKind.BLE_TAG.value
            )
        )
        self._owners = {tag: TagOwner(member_id, member_id in located) for tag, member_id in rows}
        self._loaded_at = now

    def owner(self, session: Session, tag: str) -> TagOwner | None:
        """The owner of *tag*, or ``None`` for a tag nobody enrolled."""
        self._load(session)
        return self._owners.get(tag)

    def enrolled(self, session: Session) -> frozenset[str]:
        """Every enrolled BLE tag id (for third-party parsers)."""
        self._load(session)
        return frozenset(self._owners)

    def forget(self) -> None:
        """Reload at the next window (after an enrolment or a consent change)."""
        self._loaded_at = None


@dataclass
class _Bucket:
    start: datetime
    samples: int = 0
    count_sum: int = 0
    count_max: int = 0
    identified_max: int = 0


@dataclass
class SiteLive:
    """One site's live state."""

    site: SiteSettings
    locator: RoomLocator
    rooms: dict[str, RoomOccupancy]
    published: dict[str, OccupancyEstimate] = field(default_factory=dict)
    anonymous: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)
    """(receiver, room) -> (devices heard in its latest window, window end ms)."""
    owners: dict[str, TagOwner] = field(default_factory=dict)  # tags placed by the locator
    refreshed: dict[int, float] = field(default_factory=dict)  # member id -> last DB refresh (ms)
    buckets: dict[str, _Bucket] = field(default_factory=dict)
    cutoff_checked: tuple[datetime, int] | None = None  # (cut-off instant, when checked, ms)

    def cutoff_due(self, now: datetime, now_ms: int) -> bool:
        """Whether to look for sessions open across the cut-off now."""
        cutoff = cutoff_instant(self.site, now)
        last = self.cutoff_checked
        if last is not None and last[0] == cutoff and now_ms - last[1] < CUTOFF_CHECK_S * 1000:
            return False
        self.cutoff_checked = (cutoff, now_ms)
        return True

    def identified(self) -> Counter[str]:
        """Members located per room right now."""
        return Counter(room for tag in self.locator.tags() if (room := self.locator.room_of(tag)))


@dataclass
class TickResult:
    """What a tick must send: retained occupancy messages and time-series points."""

    publishes: list[tuple[str, bytes]] = field(default_factory=list)
    points: list[Point] = field(default_factory=list)


class LiveState:
    """All sites' live state; the ingest engine's :class:`~hub.ingest.LiveObserver`."""

    def __init__(
        self,
        config: HubConfig,
        location: LocationSettings | None = None,
        occupancy: OccupancySettings | None = None,
        site_ids: set[str] | None = None,
    ) -> None:
        self.config = config
        self.topics = Topics(config.mqtt.topic_root)
        self.location_settings = location or LocationSettings()
        self.occupancy_settings = occupancy or OccupancySettings()
        self.tags = TagDirectory()
        self.tally = AnonymousTally(config.thirdparty.rooms(), config.thirdparty.anonymous_window_s)
        self.points: list[Point] = []  # time-series points gathered during a batch
        # Sensor points are built only for a time-series server (they are the hot path's).
        self.keep_points = config.timeseries is not None
        # Occupancy of the sites other hub processes serve (hub.cluster_view), for pages.
        self.elsewhere: Callable[[str], dict[str, OccupancyEstimate]] | None = None
        # The sites this process serves: all of them, unless several hub processes share the
        # database (hub.cluster), in which case sites are adopted and dropped as leases move.
        self.sites = {
            site.id: self._new_site(site)
            for site in config.sites
            if site_ids is None or site.id in site_ids
        }

    def _new_site(self, site: SiteSettings, locator: RoomLocator | None = None) -> SiteLive:
        return SiteLive(
            site=site,
            locator=locator or RoomLocator(self.location_settings),
            rooms={
                r.id: RoomOccupancy(r.id, r.capacity, self.occupancy_settings) for r in site.rooms
            },
        )

    # -- ingest -------------------------------------------------------------------------------

    def observe(
        self,
        session: Session,
        topic: NodeTopic,
        payload: BleWindow | Sensor | BleFacts | SensorFacts,
        effects: object,
    ) -> None:
        """Apply one BLE window or sensor reading (inside the batch's transaction).

        The ingest engine passes the compact facts of :mod:`hub.admission`; the wire models, with
        the same fields, are accepted too.
        """
        live = self.sites.get(topic.site)
        if live is None:
            return
        # Told apart by type: isinstance is slow on pydantic models, and this is per message.
        if type(payload) is BleFacts or type(payload) is BleWindow:
            self._ble(session, live, topic, payload)
        elif type(payload) is SensorFacts or type(payload) is Sensor:
            self._sensor(live, topic, payload)

    def _sensor(self, live: SiteLive, topic: NodeTopic, reading: Sensor | SensorFacts) -> None:
        room = live.rooms.get(reading.room)
        if room is not None:
            room.on_sensor(reading.kind, reading.value, reading.ts)
        if self.keep_points:
            self.points.append(
                sensor_point(
                    topic.site,
                    topic.node,
                    reading.room,
                    reading.kind,
                    reading.value,
                    ms_to_datetime(reading.ts),
                )
            )

    def _ble(
        self, session: Session, live: SiteLive, topic: NodeTopic, window: BleWindow | BleFacts
    ) -> None:
        anonymous = window.anonymous
        for reading in window.tags:
            owner = self.tags.owner(session, reading.tag)
            if owner is None:
                anonymous += 1  # enrolled at the edge, unknown here: counted, not identified
                continue
            live.owners[reading.tag] = owner
            change = live.locator.observe(
                Sighting(reading.tag, topic.node, window.room, reading.rssi, reading.n, window.ts)
            )
            if change is not None:
                self._apply_change(session, live, change, owner)
            elif live.locator.room_of(reading.tag) is not None:
                self._refresh(session, live, owner, window.ts)
        self._anonymous(live, topic.node, window.room, anonymous, window.ts)

    def _anonymous(
        self, live: SiteLive, receiver: str, room_id: str, count: int, ts_ms: int
    ) -> None:
        """Unknown devices in a room: the largest recent count of its receivers (a phone heard by
        two nodes of the room is one phone, so counts are not added)."""
        live.anonymous[(receiver, room_id)] = (count, ts_ms)
        room = live.rooms.get(room_id)
        if room is None:
            return
        fresh_after = ts_ms - ANONYMOUS_FRESH_S * 1000
        counts = [
            n for (_rx, r), (n, at) in live.anonymous.items() if r == room_id and at >= fresh_after
        ]
        room.set_anonymous(max(counts, default=0), ts_ms)

    def thirdparty(self, session: Session, topic: str, payload: bytes, received_ms: int) -> None:
        """An ESPresense or Theengs Gateway message (raises ``Rejected`` for bad input)."""
        sighting = self._thirdparty_parse(session, topic, payload, received_ms)
        if sighting is None:
            return
        live = self.sites.get(sighting.site)
        if live is None:
            return
        if sighting.tag is None:
            self.tally.add(sighting)
            return
        owner = self.tags.owner(session, sighting.tag)
        if owner is None:
            return
        live.owners[sighting.tag] = owner
        change = live.locator.observe(
            Sighting(sighting.tag, sighting.receiver, sighting.room, sighting.rssi, 1, received_ms)
        )
        if change is not None:
            self._apply_change(session, live, change, owner)
        elif live.locator.room_of(sighting.tag) is not None:
            self._refresh(session, live, owner, received_ms)

    def _thirdparty_parse(
        self, session: Session, topic: str, payload: bytes, received_ms: int
    ) -> ThirdPartySighting | None:
        settings = self.config.thirdparty
        enrolled = self.tags.enrolled(session)
        for parse in (parse_espresense, parse_theengs):
            sighting = parse(
                topic,
                payload,
                settings,
                enrolled=enrolled,
                ts_ms=received_ms,
                pseudonyms=self.tally,
            )
            if sighting is not None:
                return sighting
        return None

    def _refresh(self, session: Session, live: SiteLive, owner: TagOwner, ts_ms: int) -> None:
        """Keep the open session's last evidence fresh, at most once a minute per member."""
        last = live.refreshed.get(owner.member_id, 0)
        if ts_ms - last >= PRESENCE_REFRESH_S * 1000:
            arrive(session, owner.member_id, live.site.id, ms_to_datetime(ts_ms), _BLE)
            live.refreshed[owner.member_id] = ts_ms

    def _apply_change(
        self, session: Session, live: SiteLive, change: RoomChange, owner: TagOwner
    ) -> None:
        at = ms_to_datetime(change.ts_ms)
        if change.room is None:
            ble_absent(session, owner.member_id, live.site.id, at)
            if owner.room_location:
                enter_room(session, owner.member_id, live.site.id, None, at)
            live.owners.pop(change.tag, None)
            live.refreshed.pop(owner.member_id, None)
            return
        arrive(session, owner.member_id, live.site.id, at, _BLE)
        live.refreshed[owner.member_id] = change.ts_ms
        if owner.room_location:
            enter_room(session, owner.member_id, live.site.id, change.room, at)

    def member_left(self, site_id: str, member_id: int, ts_ms: int) -> None:
        """The member left for sure (exit tap, cut-off): stop placing their tags for a while."""
        live = self.sites.get(site_id)
        if live is None:
            return
        for tag in [t for t, owner in live.owners.items() if owner.member_id == member_id]:
            live.locator.leave(tag, ts_ms)
            live.owners.pop(tag, None)
        live.refreshed.pop(member_id, None)

    def forget_member(self, member_id: int) -> None:
        """The member was erased: drop their tags from every locator (with their quiet periods)
        and from the owner caches; the tag directory reloads without them."""
        for live in self.sites.values():
            for tag in [t for t, owner in live.owners.items() if owner.member_id == member_id]:
                live.locator.forget(tag)
                live.owners.pop(tag, None)
            live.refreshed.pop(member_id, None)
        self.tags.forget()

    # -- periodic -----------------------------------------------------------------------------

    def tick(self, session: Session, now: datetime) -> TickResult:
        """Absences, cut-off, occupancy estimates and rollups; returns what to publish."""
        result = TickResult(points=self.points)
        self.points = []
        now_ms = int(now.timestamp() * 1000)
        tallied = self.tally.counts(now_ms)
        for live in self.sites.values():
            if tallied is not None:
                for (site_id, room_id), count in tallied.counts.items():
                    if site_id == live.site.id:
                        self._anonymous(live, "thirdparty", room_id, count, tallied.end_ms)
            for change in live.locator.tick(now_ms):
                owner = live.owners.get(change.tag)
                if owner is not None:
                    self._apply_change(session, live, change, owner)
            if live.cutoff_due(now, now_ms):
                # They left when the closed session says (at the cut-off at the latest), not now:
                # a hub that was down then closes the sessions the next morning, and must not
                # ignore the tags of members arriving meanwhile.
                for closed in close_at_cutoff(session, live.site, now):
                    left = closed.departed_at
                    assert left is not None  # close_at_cutoff sets it
                    self.member_left(live.site.id, closed.member_id, int(left.timestamp() * 1000))
            identified = live.identified()
            for room_id, room in live.rooms.items():
                room.set_identified(identified.get(room_id, 0), now_ms)
                estimate = room.estimate(now_ms)
                self._rollup(session, live, room_id, estimate, identified.get(room_id, 0), now)
                if changed(live.published.get(room_id), estimate):
                    live.published[room_id] = estimate
                    result.publishes.append(
                        (
                            self.topics.occupancy(live.site.id, room_id),
                            encode(estimate.to_payload()),
                        )
                    )
                    result.points.append(
                        occupancy_point(
                            live.site.id,
                            room_id,
                            estimate.count,
                            estimate.confidence,
                            estimate.flags,
                            now,
                        )
                    )
        return result

    def _rollup(
        self,
        session: Session,
        live: SiteLive,
        room_id: str,
        estimate: OccupancyEstimate,
        identified: int,
        now: datetime,
    ) -> None:
        start = _bucket_start(now)
        bucket = live.buckets.get(room_id)
        if bucket is not None and bucket.start != start:
            self._save_bucket(session, live.site.id, room_id, bucket)
            bucket = None
        if bucket is None:
            bucket = live.buckets[room_id] = _Bucket(start)
        bucket.samples += 1
        bucket.count_sum += estimate.count
        bucket.count_max = max(bucket.count_max, estimate.count)
        bucket.identified_max = max(bucket.identified_max, identified)

    def flush_rollups(self, session: Session) -> None:
        """Write the buckets in progress (at shutdown)."""
        for live in self.sites.values():
            for room_id, bucket in live.buckets.items():
                self._save_bucket(session, live.site.id, room_id, bucket)

    @staticmethod
    def _save_bucket(session: Session, site_id: str, room_id: str, bucket: _Bucket) -> None:
        row = session.get(OccupancyRollup, (site_id, room_id, bucket.start)) or OccupancyRollup(
            site_id=site_id,
            room_id=room_id,
            bucket_start=bucket.start,
            samples=0,
            count_sum=0,
            count_max=0,
            identified_max=0,
        )
        row.samples = bucket.samples
        row.count_sum = bucket.count_sum
        row.count_max = bucket.count_max
        row.identified_max = bucket.identified_max
        session.add(row)

    # -- restart ------------------------------------------------------------------------------

    def save(self, session: Session, now: datetime, site_ids: set[str] | None = None) -> None:
        """Snapshot each site's locator (and tag owners) so a restart resumes the same rooms."""
        for site_id, live in self.sites.items():
            if site_ids is not None and site_id not in site_ids:
                continue
            key = f"locator:{site_id}"
            value: dict[str, object] = {
                "locator": live.locator.snapshot(),
                "owners": {tag: [o.member_id, o.room_location] for tag, o in live.owners.items()},
            }
            row = session.get(HubState, key) or HubState(key=key, value={}, saved_at=now)
            row.value = value
            row.saved_at = now
            session.add(row)

    def restore(self, session: Session) -> None:
        """Resume from the last snapshot (after a restart or a crash)."""
        for site_id in list(self.sites):
            self._restore_site(session, site_id)

    def adopt(self, session: Session, site_id: str) -> None:
        """Start serving a site (taken over from another hub process): resume its snapshot."""
        site = self.config.site(site_id)
        if site is None or site_id in self.sites:
            return
        self.sites[site_id] = self._new_site(site)
        self._restore_site(session, site_id)

    def drop(self, site_id: str) -> None:
        """Stop serving a site (handed to another hub process); its snapshot stays saved."""
        self.sites.pop(site_id, None)

    def _restore_site(self, session: Session, site_id: str) -> None:
        live = self.sites[site_id]
        row = session.get(HubState, f"locator:{site_id}")
        if row is None:
            return
        try:
            locator = RoomLocator.restore(self.location_settings, row.value["locator"])  # type: ignore[arg-type]
            owners = {
                tag: TagOwner(int(member_id), bool(allowed))
                for tag, (member_id, allowed) in row.value["owners"].items()  # type: ignore[attr-defined]
            }
        except (KeyError, TypeError, ValueError):
            log.warning("ignoring an unreadable live-state snapshot of %s", site_id)
            return
        restored = self._new_site(live.site, locator)
        restored.owners = owners
        self.sites[site_id] = restored
        log.info("resumed %d located tag(s) at %s", len(locator.tags()), site_id)


def _bucket_start(now: datetime) -> datetime:
    epoch = int(now.astimezone(UTC).timestamp())
    size = int(ROLLUP_BUCKET.total_seconds())
    return datetime.fromtimestamp(epoch - epoch % size, tz=UTC)
