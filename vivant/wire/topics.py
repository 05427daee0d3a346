"""MQTT topic layout of wire contract v1.

Every topic is ``<root>/<site>/<node>/<kind>`` for a node, plus two hub topics. Each segment
matches ``[a-z0-9_-]+`` (zigbee2mqtt / ESPresense hygiene): no wildcard, no slash, no case
games, so an ACL can be written per node and a topic can be parsed without guessing.

Two names are reserved because they sit where a site or node id would: the site id ``hub``
(``<root>/hub/status``) and the node id ``occupancy`` (``<root>/<site>/occupancy/<room>``).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator

DEFAULT_ROOT = "vivant/v1"
SEGMENT_RE = re.compile(r"^[a-z0-9_-]{1,64}$")
RESERVED_SITE_IDS = frozenset({"hub"})
RESERVED_NODE_IDS = frozenset({"occupancy"})


class EdgeKind(StrEnum):
    """What a node publishes (edge → hub)."""

    STATUS = "status"
    TELEMETRY = "telemetry"
    BADGE = "badge"
    BLE = "ble"
    SENSOR = "sensor"


class HubKind(StrEnum):
    """What the hub publishes to one node (hub → edge)."""

    CONFIG = "config"
    COMMAND = "command"


class TopicError(ValueError):
    """A topic or a topic segment does not follow the contract."""


def check_segment(value: str, what: str = "segment") -> str:
    """Return *value* if it is a valid topic segment, else raise :class:`TopicError`."""
    if not SEGMENT_RE.fullmatch(value):
        raise TopicError(f"{what} {value!r} must match [a-z0-9_-]{{1,64}}")
    return value


def check_site_id(value: str) -> str:
    """Validate a site id (a segment, and not a reserved name)."""
    check_segment(value, "site id")
    if value in RESERVED_SITE_IDS:
        raise TopicError(f"site id {value!r} is reserved")
    return value


def check_node_id(value: str) -> str:
    """Validate a node id (a segment, and not a reserved name)."""
    check_segment(value, "node id")
    if value in RESERVED_NODE_IDS:
        raise TopicError(f"node id {value!r} is reserved")
    return value


def _room_id(value: str) -> str:
    return check_segment(value, "room id")


def _screen_id(value: str) -> str:
    return check_segment(value, "screen id")


# Identifier types for configuration models: one definition of each rule, used by edge and hub.
SiteId = Annotated[str, AfterValidator(check_site_id)]
"""A site id: a topic segment other than the reserved ``hub``."""
NodeId = Annotated[str, AfterValidator(check_node_id)]
"""A node id: a topic segment other than the reserved ``occupancy``."""
RoomId = Annotated[str, AfterValidator(_room_id)]
"""A room (zone) id: a topic segment."""
ScreenId = Annotated[str, AfterValidator(_screen_id)]
"""A lobby screen id: a URL and topic segment."""
SegmentId = Annotated[str, AfterValidator(check_segment)]
"""Any other id used as a topic segment (a reader, a sensor)."""


@dataclass(frozen=True, slots=True)
class NodeTopic:
    """A parsed ``<root>/<site>/<node>/<kind>`` topic."""

    site: str
    node: str
    kind: EdgeKind | HubKind


@dataclass(frozen=True, slots=True)
class OccupancyTopic:
    """A parsed ``<root>/<site>/occupancy/<room>`` topic."""

    site: str
    room: str


@dataclass(frozen=True, slots=True)
class HubStatusTopic:
    """The hub's own ``<root>/hub/status`` topic."""


ParsedTopic = NodeTopic | OccupancyTopic | HubStatusTopic

_KINDS: dict[str, EdgeKind | HubKind] = {k.value: k for k in (*EdgeKind, *HubKind)}


@functools.cache
def _three_segments(root: str) -> re.Pattern[str]:
    segment = "([a-z0-9_-]{1,64})"
    return re.compile(f"{re.escape(root)}/{segment}/{segment}/{segment}")


@dataclass(frozen=True, slots=True)
class Topics:
    """Builds and parses the topics under one root (``vivant/v1`` unless configured)."""

    root: str = DEFAULT_ROOT

    def __post_init__(self) -> None:
        parts = self.root.split("/")
        if not parts or any(not SEGMENT_RE.fullmatch(p) for p in parts):
            raise TopicError(f"topic root {self.root!r}: each segment must match [a-z0-9_-]+")

    def node(self, site: str, node: str, kind: EdgeKind | HubKind) -> str:
        """Topic of one node's *kind* messages."""
        return f"{self.root}/{check_site_id(site)}/{check_node_id(node)}/{kind.value}"

    def occupancy(self, site: str, room: str) -> str:
        """Retained occupancy topic of one room."""
        return f"{self.root}/{check_site_id(site)}/occupancy/{check_segment(room, 'room id')}"

    @property
    def hub_status(self) -> str:
        """The hub's retained status topic (also its Last Will)."""
        return f"{self.root}/hub/status"

    @property
    def everything(self) -> str:
        """Subscription filter for every topic under the root (the hub's, and only the hub's)."""
        return f"{self.root}/#"

    def node_filter(self, site: str, node: str) -> str:
        """Subscription filter for what the hub sends to one node."""
        return f"{self.root}/{check_site_id(site)}/{check_node_id(node)}/+"

    def parse(self, topic: str) -> ParsedTopic:
        """Parse a topic under this root, or raise :class:`TopicError`."""
        match = _three_segments(self.root).fullmatch(topic)  # the hot path: one regex
        if match is None:
            prefix = self.root + "/"
            if not topic.startswith(prefix):
                raise TopicError(f"topic {topic!r} is not under {self.root!r}")
            if topic[len(prefix) :] == "hub/status":
                return HubStatusTopic()
            raise TopicError(f"topic {topic!r} is not <site>/<node>/<kind>")
        site, middle, last = match.groups()
        if site in RESERVED_SITE_IDS:
            raise TopicError(f"topic {topic!r} uses the reserved site id {site!r}")
        if middle in RESERVED_NODE_IDS:
            return OccupancyTopic(site=site, room=last)
        kind = _KINDS.get(last)
        if kind is None:
            raise TopicError(f"topic {topic!r}: unknown message kind {last!r}")
        return NodeTopic(site=site, node=middle, kind=kind)
