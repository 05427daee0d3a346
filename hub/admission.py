"""Which BLE windows and sensor readings get in: authorised by topic, validated, made compact.

BLE windows and sensor readings are most of what the hub receives (about 95 % of a typical
mix). Each is screened once: the topic must name a node registered at the site, the payload must
follow the wire contract (:mod:`vivant.wire`, the one place its rules are written) and its room
must be one the node serves. The verdict is a plain tuple (only str, int, float and tuples): the
facts to apply, or the reason for the rejection, which the ingest engine counts and logs. The
hub's MQTT worker process screens each message as it arrives (:mod:`hub.mqtt_worker`), so that
this work runs beside the ingest engine, on the other core; the verdict crosses the pipe with the
message. The engine then works on small named tuples rather than pydantic models on its hot path.

Anything else (badge taps, status, telemetry, third-party topics, the hub's own publications) is
not screened here (``None``): the engine classifies it itself.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, NamedTuple

from vivant.wire.codec import decode_edge
from vivant.wire.errors import Rejected, RejectReason
from vivant.wire.payloads import BleWindow, Sensor, SensorKind
from vivant.wire.topics import EdgeKind, NodeTopic, TopicError, Topics

if TYPE_CHECKING:  # for annotations only: screening needs the registry, not the configuration
    from hub.config import HubConfig

Verdict = tuple[Any, ...]
"""What :func:`screen` returns: ``("ble", site, node, id, ts, room, window_s, anonymous,
((tag, rssi, n), …))``, ``("sensor", site, node, id, ts, room, kind, value)`` or
``("rejected", reason, detail)``; only str, int, float and tuples."""

_BLE, _SENSOR, _REJECTED = EdgeKind.BLE.value, EdgeKind.SENSOR.value, "rejected"
_SUFFIXES = (f"/{_BLE}", f"/{_SENSOR}")
_SENSOR_KINDS = {kind.value: kind for kind in SensorKind}
_KINDS = {_BLE: EdgeKind.BLE, _SENSOR: EdgeKind.SENSOR}


class TagSeen(NamedTuple):
    """One enrolled tag heard during a window (as :class:`~vivant.wire.payloads.TagReading`)."""

    tag: str
    rssi: float
    n: int


class BleFacts(NamedTuple):
    """A validated BLE window (the fields of :class:`~vivant.wire.payloads.BleWindow`)."""

    id: str
    ts: int
    room: str
    window_s: float
    anonymous: int
    tags: tuple[TagSeen, ...]


class SensorFacts(NamedTuple):
    """A validated sensor reading (the fields of :class:`~vivant.wire.payloads.Sensor`)."""

    id: str
    ts: int
    room: str
    kind: SensorKind
    value: float


class Registry:
    """The nodes allowed to publish: (site, node) → the rooms it serves, under a topic root."""

    def __init__(self, root: str, rooms: dict[tuple[str, str], frozenset[str]]) -> None:
        self.root = root
        self.rooms = rooms
        self._topics = Topics(root)
        self._prefix = root + "/"

    @classmethod
    def of(cls, config: HubConfig) -> Registry:
        """Every node of every configured site."""
        return cls(
            config.mqtt.topic_root,
            {(s.id, n.id): frozenset(n.rooms) for s in config.sites for n in s.nodes},
        )

    def screen(self, topic: str, payload: bytes) -> Verdict | None:
        """The verdict on a BLE window or sensor reading; ``None`` for any other message."""
        if not topic.endswith(_SUFFIXES) or not topic.startswith(self._prefix):
            return None
        try:
            parsed = self._topics.parse(topic)
        except TopicError as error:
            return (_REJECTED, RejectReason.UNKNOWN_TOPIC.value, str(error))
        if not isinstance(parsed, NodeTopic) or not isinstance(parsed.kind, EdgeKind):
            return None  # the hub's own occupancy of a room named like a kind
        rooms = self.rooms.get((parsed.site, parsed.node))
        if rooms is None:
            return (
                _REJECTED,
                RejectReason.UNKNOWN_NODE.value,
                f"node {parsed.node!r} is not registered at {parsed.site!r}",
            )
        try:
            decoded = decode_edge(parsed.kind, payload)
        except Rejected as rejected:
            return (_REJECTED, rejected.reason.value, rejected.detail)
        # Told apart by type, not isinstance: pydantic's metaclass makes isinstance slow, and
        # this runs for nearly every message the hub receives.
        if type(decoded) is BleWindow:
            if decoded.room not in rooms:
                return _room_mismatch(parsed, decoded.room)
            tags = tuple([(t.tag, t.rssi, t.n) for t in decoded.tags])
            return (
                _BLE, parsed.site, parsed.node, decoded.id, decoded.ts,
                decoded.room, decoded.window_s, decoded.anonymous, tags,
            )  # fmt: skip
        if type(decoded) is Sensor:
            if decoded.room not in rooms:
                return _room_mismatch(parsed, decoded.room)
            return (
                _SENSOR, parsed.site, parsed.node, decoded.id, decoded.ts,
                decoded.room, decoded.kind.value, decoded.value,
            )  # fmt: skip
        return None  # not reached: the suffix is a screened kind


def _room_mismatch(topic: NodeTopic, room: str) -> Verdict:
    return (
        _REJECTED,
        RejectReason.ROOM_MISMATCH.value,
        f"node {topic.node!r} does not serve room {room!r}",
    )


def admit(verdict: Verdict) -> tuple[NodeTopic, BleFacts | SensorFacts]:
    """The topic and facts of an accepted verdict; raises :class:`Rejected` for a rejection."""
    kind = verdict[0]
    if kind == _BLE:
        _, site, node, msg_id, ts, room, window_s, anonymous, tags = verdict
        seen = tuple([TagSeen(tag, rssi, n) for tag, rssi, n in tags])
        return _topic(site, node, kind), BleFacts(msg_id, ts, room, window_s, anonymous, seen)
    if kind == _SENSOR:
        _, site, node, msg_id, ts, room, sensor, value = verdict
        facts = SensorFacts(msg_id, ts, room, _SENSOR_KINDS[sensor], value)
        return _topic(site, node, kind), facts
    raise Rejected(RejectReason(verdict[1]), verdict[2])


@functools.cache
def _topic(site: str, node: str, kind: str) -> NodeTopic:
    """One topic object per registered node and kind (a verdict names only those)."""
    return NodeTopic(site, node, _KINDS[kind])
