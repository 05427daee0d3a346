"""ESPresense and Theengs Gateway nodes as BLE sources, so an operator's existing nodes plug in.

Both publish one MQTT message per device heard, in their own topic layout and id scheme; this
module maps a message to a :class:`ThirdPartySighting` of a Vivant site and room. It does no I/O:
the caller gives the topic, the payload, the receive time and the set of enrolled tag ids.

**Privacy first.** Vivant's own nodes never send the address of a device that is not enrolled
(CNIL: BLE identifiers are personal data). Third-party nodes do, so the address stops here: an
unknown device comes back as ``tag=None, anonymous=1`` and, for counting distinct devices, a
``device_key`` that is an HMAC under a random salt held in memory by :class:`AnonymousTally` and
discarded with each window (60 s by default). Keys of two windows cannot be linked, nothing is
stored, and the count of a room is all that leaves. An IRK inside an ESPresense id is only
looked up in ``known_irks`` (held as secrets) and never kept in a sighting.

**ESPresense** (firmware repository ESPresense/ESPresense: ``lib/BleFingerprint/
BleFingerprint.cpp`` ``fill()`` and ``fingerprint*()``, ``BleFingerprint.h`` ``ID_TYPE_*``,
``string_utils.cpp`` ``slugify()``; docs ``configuration/mqtt.md`` of ESPresense/ESPresense.com)
publishes ``<base>/devices/<id>/<room>`` where ``<room>`` is the node's slugified room name,
with a JSON object ``{"mac", "id", "name", "idType", "rssi@1m", "rssi", "raw", "distance",
"var", "close", "int", …}``; ``rssi`` and ``distance`` are numbers. Ids are mapped to Vivant
tag ids (:data:`vivant.wire.payloads.TagId`), in the lowercase forms Vivant's own nodes produce
(``edge.sources.ble_parse``, ``irk:<enrolled id>``), so a tag enrolled once matches whichever
node hears it:

===========================================  ===============================================
ESPresense id                                Vivant tag id candidates (first enrolled wins)
===========================================  ===============================================
``iBeacon:<uuid>-<major>-<minor>``           ``iBeacon:<uuid lowercase>-<major>-<minor>``
``altBeacon:<uuid>-<major>-<minor>``         ``altBeacon:<uuid lowercase>-<major>-<minor>``
``eddy:<namespace>-<instance>``              ``eddystone:<20 hex>-<12 hex>`` (the firmware
                                             prints namespace byte 4 twice; undone here)
``irk:<32 hex IRK>``                         ``irk:<id>`` of the matching ``known_irks``
                                             entry, as Vivant nodes report a phone; an
                                             unlisted IRK only counts
``irk:<id>`` (an ESPresense alias)           the id itself
``<12 hex>``, ``known:<12 hex>``,            ``mac:<12 hex>``, then the id itself
``tile:<12 hex>`` (any ``<kind>:<address>``)
``apple:…``, ``md:…``, ``sd:…``, ``ad:…``,   none: these fingerprints are shared by many
``exp:…``, ``smarttag:…``, ``msft:…``        devices of a model, so they never identify
an alias without a scheme (``alice-phone``)  ``alias:<id>``
anything else (``name:whoop-4a2b``, …)       the id itself, if it is a valid tag id
===========================================  ===============================================

**Theengs Gateway** (repository theengs/gateway: ``TheengsGateway/ble_gateway.py``
``publish_json()`` and ``get_address()``, ``config.py`` ``DEFAULT_CONFIG``; iBeacon model of
theengs/decoder; ``docs/use/use.md``) publishes ``home/TheengsGateway/BTtoMQTT/<address
without colons>`` with ``{"id": "AA:BB:…", "rssi", "name", "brand", "model", "model_id",
"mfid", "uuid", "major", "minor", "txpower", "manufacturerdata", "servicedatauuid", …}``;
``distance`` only with its presence option; ``{"id", "presence": "absent"}`` when a tracker
times out (not a sighting). A decoded iBeacon (``model_id`` ``IBEACON``, ``uuid`` as 32 hex
digits) maps to ``iBeacon:<uuid with dashes>-<major>-<minor>``; the address (``mac`` if present,
else ``id``; an identity address when the gateway resolves RPAs with its ``identities``) maps to
``mac:<12 hex>``. Malformed decoder fields are ignored; a malformed ``id``, ``rssi`` or
``distance`` rejects the message.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
import secrets
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from pydantic import Field, TypeAdapter, ValidationError, field_validator, model_validator

from vivant.config_file import Secret, StrictModel
from vivant.wire.errors import Rejected, RejectReason
from vivant.wire.payloads import MAX_PAYLOAD_BYTES, TagId
from vivant.wire.topics import RoomId, SiteId

DEFAULT_ESPRESENSE_BASE = "espresense"
DEFAULT_THEENGS_BASE = "home"
DEFAULT_THEENGS_GATEWAY = "TheengsGateway"
THEENGS_SUBTOPIC = "BTtoMQTT"
RSSI_RANGE = (-127.0, 20.0)
MAX_DEVICE_ID = 128

# ESPresense fingerprints shared by every device of a kind (BleFingerprint.cpp): never identities.
SHARED_FINGERPRINTS = frozenset({"apple", "md", "sd", "ad", "exp", "smarttag", "msft"})

_TAG_ID: TypeAdapter[str] = TypeAdapter(TagId)
_HEX12 = re.compile(r"^[0-9a-f]{12}$")
_MAC = re.compile(r"^[0-9a-f]{2}(?:[:-]?[0-9a-f]{2}){5}$")
_UUID = re.compile(r"^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$")
_BEACON = re.compile(r"^(ibeacon|altbeacon):(.+)-(\d{1,5})-(\d{1,5})$", re.IGNORECASE)
_EDDY = re.compile(r"^eddy:([0-9a-f]{20}|[0-9a-f]{22})-([0-9a-f]{12})$")
_IRK = re.compile(r"^[0-9a-f]{32}$")
_NO_IRKS: dict[str, str] = {}


def _topic_levels(value: str, what: str) -> str:
    levels = value.split("/")
    if len(value) > 200 or any(not level or set(level) & {"+", "#", "\0"} for level in levels):
        raise ValueError(f"{what} {value!r} must be MQTT topic levels, without wildcards")
    return value


class EspresenseMapping(StrictModel):
    """One ESPresense node (a room, in ESPresense's words) heard as a Vivant room."""

    espresense_room: RoomId = Field(
        description="Room as ESPresense writes it in topics (its name slugified: living_room)."
    )
    site: SiteId = Field(description="Vivant site id.")
    room: RoomId = Field(description="Vivant room id of that site.")
    base_topic: str = Field(
        default=DEFAULT_ESPRESENSE_BASE, description="ESPresense's MQTT base topic."
    )

    @field_validator("base_topic")
    @classmethod
    def _base(cls, value: str) -> str:
        return _topic_levels(value, "base topic")


class TheengsMapping(StrictModel):
    """One Theengs Gateway (publishing on ``<base>/<gateway>/BTtoMQTT/…``) heard as a room."""

    gateway: str = Field(
        default=DEFAULT_THEENGS_GATEWAY,
        description="Gateway name, the level before BTtoMQTT in its publish topic.",
    )
    site: SiteId = Field(description="Vivant site id.")
    room: RoomId = Field(description="Vivant room id of that site.")
    base_topic: str = Field(
        default=DEFAULT_THEENGS_BASE, description="Levels before the gateway name (home)."
    )

    @field_validator("gateway")
    @classmethod
    def _gateway(cls, value: str) -> str:
        if "/" in value:
            raise ValueError("gateway is a single topic level")
        return _topic_levels(value, "gateway")

    @field_validator("base_topic")
    @classmethod
    def _base(cls, value: str) -> str:
        return _topic_levels(value, "base topic")


def _irk_hex(text: str) -> str:
    return text.strip().replace(" ", "").replace(":", "").lower()


class KnownIrk(StrictModel):
    """A phone's IRK, to match ESPresense's ``irk:<IRK>`` ids to the member's enrolled phone."""

    id: str = Field(
        pattern=r"^[a-z0-9._-]{1,64}$",
        description="Enrolled id, as in the Vivant nodes' irks; the phone matches irk:<id>.",
    )
    key: Secret = Field(
        description=(
            "The IRK, 32 hex digits most significant first (as in ESPresense known_irks and "
            "in its irk:<IRK> ids); {env: NAME} or {file: PATH}."
        )
    )

    @field_validator("key")
    @classmethod
    def _hex_key(cls, value: Secret) -> Secret:
        if not _IRK.fullmatch(_irk_hex(value.get_secret_value())):
            raise ValueError("an IRK is 32 hex digits")
        return value


class ThirdPartySettings(StrictModel):
    """Third-party BLE nodes accepted by the hub, each mapped to a site and room."""

    espresense: list[EspresenseMapping] = Field(
        default_factory=list, description="ESPresense nodes, by the room name in their topics."
    )
    theengs: list[TheengsMapping] = Field(
        default_factory=list, description="Theengs Gateways, by gateway name."
    )
    known_irks: list[KnownIrk] = Field(
        default_factory=list,
        description="Phones that ESPresense resolves by IRK, matched to their enrolled ids.",
    )
    max_distance_m: float | None = Field(
        default=None,
        gt=0,
        le=100,
        description="Ignore sightings reported farther than this (BLE crosses walls).",
    )
    anonymous_window_s: float = Field(
        default=60,
        ge=5,
        le=900,
        description="Unknown devices are counted per room over windows this long.",
    )

    @model_validator(mode="after")
    def _unique_sources(self) -> ThirdPartySettings:
        esp = [(m.base_topic, m.espresense_room) for m in self.espresense]
        if len(set(esp)) != len(esp):
            raise ValueError("an ESPresense room is mapped twice")
        theengs = [(m.base_topic, m.gateway) for m in self.theengs]
        if len(set(theengs)) != len(theengs):
            raise ValueError("a Theengs gateway is mapped twice")
        irk_ids = [irk.id for irk in self.known_irks]
        if len(set(irk_ids)) != len(irk_ids):
            raise ValueError("a known IRK id is listed twice")
        return self

    def irk_ids(self) -> dict[str, str]:
        """Enrolled id of each known IRK, by its lowercase hex."""
        return {_irk_hex(irk.key.get_secret_value()): irk.id for irk in self.known_irks}

    def rooms(self) -> frozenset[tuple[str, str]]:
        """Every (site, room) that a third-party node reports for."""
        esp = {(m.site, m.room) for m in self.espresense}
        return frozenset(esp | {(m.site, m.room) for m in self.theengs})


def unknown_rooms(settings: ThirdPartySettings, known: Collection[tuple[str, str]]) -> list[str]:
    """Mappings pointing at a (site, room) not in *known*, as messages for a config error."""
    return [
        f"{kind} {source!r} maps to unknown room {site}/{room}"
        for kind, source, site, room in (
            *(("espresense", m.espresense_room, m.site, m.room) for m in settings.espresense),
            *(("theengs", m.gateway, m.site, m.room) for m in settings.theengs),
        )
        if (site, room) not in known
    ]


def subscriptions(settings: ThirdPartySettings) -> list[str]:
    """MQTT filters covering exactly the mapped ESPresense rooms and Theengs gateways."""
    filters = {f"{m.base_topic}/devices/+/{m.espresense_room}" for m in settings.espresense}
    filters |= {f"{m.base_topic}/{m.gateway}/{THEENGS_SUBTOPIC}/+" for m in settings.theengs}
    return sorted(filters)


@dataclass(frozen=True, slots=True)
class ThirdPartySighting:
    """One device heard by a third-party node, in a Vivant room."""

    site: str
    room: str
    receiver: str
    """``espresense:<espresense room>`` or ``theengs:<gateway>``."""
    tag: str | None
    """The enrolled Vivant tag id, or None for a device that is not enrolled."""
    rssi: float
    """Signal strength reported by the node, dBm."""
    ts_ms: int
    """Receive time given by the caller (neither source sends an observation time)."""
    distance: float | None = None
    """Distance estimated by the node, metres, when it sends one."""
    anonymous: int = 0
    """1 for a device that is not enrolled (it only counts), else 0."""
    device_key: str | None = None
    """For unknown devices: an ephemeral pseudonym, valid only inside one tally window."""

    def __post_init__(self) -> None:
        if (self.tag is None) != (self.anonymous == 1) or self.anonymous not in (0, 1):
            raise ValueError("a sighting is either an enrolled tag or one anonymous device")
        if self.tag is not None and self.device_key is not None:
            raise ValueError("an enrolled sighting carries its tag, not a device key")


class Pseudonymiser(Protocol):
    """Turns a device address into a short-lived pseudonym (see :class:`AnonymousTally`)."""

    def pseudonym(self, device_id: str, ts_ms: int) -> str:
        """A key for *device_id* that only means something in the window of *ts_ms*."""
        ...


def ibeacon_tag(uuid: str, major: int, minor: int, scheme: str = "iBeacon") -> str | None:
    """``iBeacon:<uuid>-<major>-<minor>`` with the UUID lowercase and dashed, or None."""
    compact = uuid.strip().lower()
    if not _UUID.fullmatch(compact) or not (0 <= major <= 0xFFFF and 0 <= minor <= 0xFFFF):
        return None
    h = compact.replace("-", "")
    return f"{scheme}:{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}-{major}-{minor}"


def _valid_tag(value: str) -> bool:
    try:
        _TAG_ID.validate_python(value)
    except ValidationError:
        return False
    return True


def _unique(candidates: Iterable[str | None]) -> list[str]:
    seen: list[str] = []
    for candidate in candidates:
        if candidate is not None and candidate not in seen and _valid_tag(candidate):
            seen.append(candidate)
    return seen


def espresense_tag_candidates(device_id: str, irk_ids: Mapping[str, str] = _NO_IRKS) -> list[str]:
    """Vivant tag ids an ESPresense device id may be enrolled as, best first (module table).

    *irk_ids* maps known IRKs (lowercase hex) to enrolled ids (:meth:`ThirdPartySettings.irk_ids`).
    """
    raw = device_id.strip()
    lower = raw.lower()
    if _HEX12.fullmatch(lower):
        return [f"mac:{lower}"]
    if ":" not in raw:
        return _unique([f"alias:{raw}"])
    scheme, _, value = raw.partition(":")
    scheme_lower = scheme.lower()
    if scheme_lower in SHARED_FINGERPRINTS:
        return []
    beacon = _BEACON.fullmatch(raw)
    if beacon:
        kind = "iBeacon" if beacon.group(1).lower() == "ibeacon" else "altBeacon"
        major, minor = int(beacon.group(3)), int(beacon.group(4))
        return _unique([ibeacon_tag(beacon.group(2), major, minor, kind)])
    eddy = _EDDY.fullmatch(lower)
    if eddy:
        namespace = eddy.group(1)
        if len(namespace) == 22:
            if namespace[8:10] != namespace[10:12]:
                return []
            namespace = namespace[:10] + namespace[12:]
        return [f"eddystone:{namespace}-{eddy.group(2)}"]
    if scheme_lower == "irk" and _IRK.fullmatch(value.lower()):
        enrolled_id = irk_ids.get(value.lower())
        return [f"irk:{enrolled_id}"] if enrolled_id is not None else []
    if _HEX12.fullmatch(value.lower()):
        return _unique([f"mac:{value.lower()}", raw])
    return _unique([raw])


def _mac(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    compact = value.strip().lower()
    return compact.replace(":", "").replace("-", "") if _MAC.fullmatch(compact) else None


def _whole(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value) if float(value).is_integer() else None


def theengs_tag_candidates(data: dict[str, Any]) -> list[str]:
    """Vivant tag ids a Theengs Gateway message may be enrolled as, best first."""
    candidates: list[str | None] = []
    uuid, major, minor = data.get("uuid"), _whole(data.get("major")), _whole(data.get("minor"))
    if isinstance(uuid, str) and major is not None and minor is not None:
        candidates.append(ibeacon_tag(uuid, major, minor))
    for key in ("mac", "id"):
        mac = _mac(data.get(key))
        candidates.append(f"mac:{mac}" if mac else None)
    return _unique(candidates)


def _load(payload: bytes) -> dict[str, Any]:
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise Rejected(RejectReason.TOO_LARGE, f"{len(payload)} bytes > {MAX_PAYLOAD_BYTES}")
    try:
        data = json.loads(payload.decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise Rejected(RejectReason.MALFORMED_JSON, "payload is not JSON") from None
    if not isinstance(data, dict):
        raise Rejected(RejectReason.INVALID_PAYLOAD, "payload is not a JSON object")
    return data


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _device_id(data: dict[str, Any]) -> str:
    value = data.get("id")
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_DEVICE_ID:
        raise Rejected(RejectReason.INVALID_PAYLOAD, "id: a non-empty string is required")
    return value.strip()


def _number(data: dict[str, Any], key: str) -> float | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise Rejected(RejectReason.INVALID_PAYLOAD, f"{key}: a number is required")
    return float(value)


def _rssi(data: dict[str, Any]) -> float:
    rssi = _number(data, "rssi")
    if rssi is None or not RSSI_RANGE[0] <= rssi <= RSSI_RANGE[1]:
        raise Rejected(RejectReason.INVALID_PAYLOAD, "rssi: a number from -127 to 20 is required")
    return rssi


def _distance(data: dict[str, Any]) -> float | None:
    distance = _number(data, "distance")
    if distance is not None and distance < 0:
        raise Rejected(RejectReason.INVALID_PAYLOAD, "distance: must be ≥ 0")
    return distance


def _sighting(
    *,
    site: str,
    room: str,
    receiver: str,
    candidates: list[str],
    device: str,
    rssi: float,
    distance: float | None,
    ts_ms: int,
    enrolled: Collection[str],
    pseudonyms: Pseudonymiser | None,
) -> ThirdPartySighting:
    tag = next((candidate for candidate in candidates if candidate in enrolled), None)
    if tag is not None:
        return ThirdPartySighting(site, room, receiver, tag, rssi, ts_ms, distance)
    key = pseudonyms.pseudonym(device, ts_ms) if pseudonyms is not None else None
    return ThirdPartySighting(site, room, receiver, None, rssi, ts_ms, distance, 1, key)


def _too_far(distance: float | None, settings: ThirdPartySettings) -> bool:
    limit = settings.max_distance_m
    return limit is not None and distance is not None and distance > limit


def parse_espresense(
    topic: str,
    payload: bytes,
    settings: ThirdPartySettings,
    *,
    enrolled: Collection[str],
    ts_ms: int,
    pseudonyms: Pseudonymiser | None = None,
) -> ThirdPartySighting | None:
    """A sighting from ``<base>/devices/<id>/<room>``; None if unmapped; Rejected if malformed."""
    for mapping in settings.espresense:
        prefix = f"{mapping.base_topic}/devices/"
        if not topic.startswith(prefix):
            continue
        topic_id, _, espresense_room = topic[len(prefix) :].rpartition("/")
        if topic_id and espresense_room == mapping.espresense_room:
            break
    else:
        return None
    data = _load(payload)
    device_id = _device_id(data)
    rssi = _rssi(data)
    distance = _distance(data)
    if _too_far(distance, settings):
        return None
    return _sighting(
        site=mapping.site,
        room=mapping.room,
        receiver=f"espresense:{mapping.espresense_room}",
        candidates=espresense_tag_candidates(device_id, settings.irk_ids()),
        device=_mac(data.get("mac")) or device_id,
        rssi=rssi,
        distance=distance,
        ts_ms=ts_ms,
        enrolled=enrolled,
        pseudonyms=pseudonyms,
    )


def parse_theengs(
    topic: str,
    payload: bytes,
    settings: ThirdPartySettings,
    *,
    enrolled: Collection[str],
    ts_ms: int,
    pseudonyms: Pseudonymiser | None = None,
) -> ThirdPartySighting | None:
    """A sighting from ``<base>/<gateway>/BTtoMQTT/<address>``; None if unmapped or no sighting."""
    for mapping in settings.theengs:
        prefix = f"{mapping.base_topic}/{mapping.gateway}/{THEENGS_SUBTOPIC}/"
        address = topic[len(prefix) :] if topic.startswith(prefix) else ""
        if address and "/" not in address and address != "undecoded":
            break
    else:
        return None
    data = _load(payload)
    device_id = _device_id(data)
    if "rssi" not in data:
        return None  # {"id", "presence": "absent"} and other non-sightings
    rssi = _rssi(data)
    distance = _distance(data)
    if _too_far(distance, settings):
        return None
    return _sighting(
        site=mapping.site,
        room=mapping.room,
        receiver=f"theengs:{mapping.gateway}",
        candidates=theengs_tag_candidates(data),
        device=_mac(data.get("mac")) or _mac(device_id) or device_id,
        rssi=rssi,
        distance=distance,
        ts_ms=ts_ms,
        enrolled=enrolled,
        pseudonyms=pseudonyms,
    )


class WindowCounts(NamedTuple):
    """Distinct unknown devices per (site, room) over one complete window."""

    end_ms: int
    """End of the window (exclusive), epoch milliseconds."""
    counts: dict[tuple[str, str], int]
    """Every known room, zero included."""


def _new_salt() -> bytes:
    return secrets.token_bytes(16)


class AnonymousTally:
    """Counts distinct unknown devices per room in tumbling windows, forgetting them after each.

    Pass it to the parsers as *pseudonyms*, then :meth:`add` each sighting. A device's key is
    HMAC-SHA256 of its address under a random salt that is replaced, with every key, when the
    window closes: only per-room counts survive. Feed :meth:`counts` to
    :meth:`hub.occupancy.RoomOccupancy.set_anonymous`.
    """

    def __init__(
        self,
        rooms: Iterable[tuple[str, str]],
        window_s: float = 60,
        *,
        salt: Callable[[], bytes] = _new_salt,
    ) -> None:
        self._rooms = frozenset(rooms)
        self._window_ms = round(window_s * 1000)
        if self._window_ms <= 0:
            raise ValueError("window_s must be positive")
        self._new_salt = salt
        self._salt = salt()
        self._index: int | None = None
        self._keys: dict[tuple[str, str], set[str]] = {}
        self._last: WindowCounts | None = None

    def _roll(self, ts_ms: int) -> None:
        index = ts_ms // self._window_ms
        if self._index is None:
            self._index = index
            return
        if index <= self._index:
            return
        rooms = self._rooms | self._keys.keys()
        closing = index == self._index + 1  # else the window just before `index` was empty
        self._last = WindowCounts(
            end_ms=index * self._window_ms,
            counts={r: len(self._keys.get(r, ())) if closing else 0 for r in rooms},
        )
        self._index, self._salt, self._keys = index, self._new_salt(), {}

    def pseudonym(self, device_id: str, ts_ms: int) -> str:
        """A key for *device_id* that only means something in the window of *ts_ms*."""
        self._roll(ts_ms)
        return hmac.new(self._salt, device_id.encode("utf-8"), hashlib.sha256).hexdigest()[:16]

    def add(self, sighting: ThirdPartySighting) -> None:
        """Count an unknown device (enrolled sightings and late ones are ignored)."""
        if sighting.tag is not None:
            return
        if sighting.device_key is None:
            raise ValueError("parse with pseudonyms=<this tally> to count unknown devices")
        self._roll(sighting.ts_ms)
        if self._index is not None and sighting.ts_ms // self._window_ms < self._index:
            return  # the window it belongs to is closed and its salt is gone
        self._keys.setdefault((sighting.site, sighting.room), set()).add(sighting.device_key)

    def counts(self, now_ms: int) -> WindowCounts | None:
        """Counts of the last complete window as of *now_ms*, or None before the first one."""
        self._roll(now_ms)
        return self._last
