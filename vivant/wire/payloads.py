"""Payload models of wire contract v1.

One immutable pydantic model per message, documented field by field; the JSON Schemas in
``firmware-config/schemas/`` are generated from these models (see :mod:`vivant.wire.schemas`).

Rules shared by every payload:

* JSON object, UTF-8, at most :data:`MAX_PAYLOAD_BYTES`.
* Unknown fields are ignored, so a newer node can talk to an older hub.
* Types are strict: ``"42"`` is not an integer and ``1.0`` is not a timestamp; NaN and
  infinities are refused. A firmware bug must show up as a counted rejection, not as a value the
  hub silently guessed.
* ``id`` is unique per node; the hub drops a second message with the same ``(node, id)``
  (QoS 1 delivers at least once). ``ts`` is the time of the observation in epoch milliseconds
  UTC, not the time of sending: an outbox may send it hours later.
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

MAX_PAYLOAD_BYTES = 16 * 1024
# 2020-01-01T00:00:00Z: a Raspberry Pi without a real-time clock starts in 1970 until NTP answers;
# such a timestamp is a bug to reject, not an observation to store.
MIN_TS_MS = 1_577_836_800_000
# 2100-01-01T00:00:00Z
MAX_TS_MS = 4_102_444_800_000

MessageId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9._:-]+$",
        description="Unique per node (a counter, a UUID, …); the hub drops repeats of (node, id).",
    ),
]
TimestampMs = Annotated[
    int,
    Field(
        ge=MIN_TS_MS,
        le=MAX_TS_MS,
        description="Epoch milliseconds UTC (integer, 2020 or later).",
    ),
]
Segment = Annotated[
    str,
    Field(pattern=r"^[a-z0-9_-]{1,64}$", description="An id usable as a topic segment."),
]
Credential = Annotated[
    str,
    Field(
        pattern=r"^[0-9a-f]{32}$",
        description=(
            "First 32 lowercase hex digits of HMAC-SHA256(site credential key, badge UID in "
            "uppercase hex). Never the raw UID."
        ),
    ),
]
TagId = Annotated[
    str,
    Field(
        min_length=3,
        max_length=128,
        pattern=r"^[A-Za-z0-9]+:[A-Za-z0-9:._-]+$",
        description=(
            "Enrolled tag id, <scheme>:<value> in the style of ESPresense: "
            "iBeacon:<uuid>-<major>-<minor>, eddystone:<namespace>-<instance>, "
            "mac:<12 hex digits>, irk:<enrolled id>, … (the hub maps ESPresense's own ids)"
        ),
    ),
]


class _Payload(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, strict=True, allow_inf_nan=False)


class _Observation(_Payload):
    id: MessageId
    ts: TimestampMs = Field(
        description="Time of the observation (not of sending), epoch milliseconds UTC."
    )
    room: Segment = Field(description="Room (zone) of the site where the observation was made.")


class Badge(_Observation):
    """A badge was presented to a reader (``<root>/<site>/<node>/badge``, QoS 1)."""

    reader: Segment = Field(description="Reader id on this node (a node may have several).")
    credential: Credential


class TagReading(_Payload):
    """One enrolled tag heard during a BLE window."""

    tag: TagId
    rssi: float = Field(ge=-127, le=20, description="Smoothed RSSI over the window, dBm.")
    n: int = Field(ge=1, le=100_000, description="Advertisements heard in the window.")


class BleWindow(_Observation):
    """What a node heard over one scan window (``<root>/<site>/<node>/ble``, QoS 1)."""

    window_s: float = Field(gt=0, le=3600, description="Length of the window, seconds.")
    tags: list[TagReading] = Field(
        default_factory=list, max_length=512, description="Enrolled tags heard, by id."
    )
    anonymous: int = Field(
        ge=0,
        le=100_000,
        description="How many other devices were heard; their addresses are never sent.",
    )


class SensorKind(StrEnum):
    """What a ``sensor`` message measures, and its unit."""

    MOTION = "motion"  # 0 no motion, 1 motion
    DOOR = "door"  # 0 closed, 1 open
    PEOPLE_IN = "people_in"  # count since the previous message
    PEOPLE_OUT = "people_out"  # count since the previous message
    CO2 = "co2"  # ppm
    TEMPERATURE = "temperature"  # °C
    HUMIDITY = "humidity"  # % relative humidity
    NOISE = "noise"  # dBA
    ILLUMINANCE = "illuminance"  # lux
    PRESSURE = "pressure"  # hPa (added in v1: an additive change)


_BINARY = {SensorKind.MOTION, SensorKind.DOOR}
_COUNTS = {SensorKind.PEOPLE_IN, SensorKind.PEOPLE_OUT}
_RANGES: dict[SensorKind, tuple[float, float]] = {
    SensorKind.PEOPLE_IN: (0, 10_000),
    SensorKind.PEOPLE_OUT: (0, 10_000),
    SensorKind.CO2: (0, 40_000),
    SensorKind.TEMPERATURE: (-40, 85),
    SensorKind.HUMIDITY: (0, 100),
    SensorKind.NOISE: (0, 194),
    SensorKind.ILLUMINANCE: (0, 200_000),
    SensorKind.PRESSURE: (300, 1100),
}


class Sensor(_Observation):
    """One sensor reading (``<root>/<site>/<node>/sensor``, QoS 1)."""

    kind: SensorKind = Field(description="What is measured; fixes the unit and the range.")
    value: float = Field(description="The reading, in the unit of its kind.")

    @model_validator(mode="after")
    def _value_fits_kind(self) -> Sensor:
        if self.kind in _BINARY and self.value not in (0, 1):
            raise ValueError(f"{self.kind.value} must be 0 or 1")
        if self.kind in _COUNTS and not float(self.value).is_integer():
            raise ValueError(f"{self.kind.value} must be a whole number")
        low, high = _RANGES.get(self.kind, (-math.inf, math.inf))
        if not low <= self.value <= high:
            raise ValueError(f"{self.kind.value} must be between {low:g} and {high:g}")
        return self


class Telemetry(_Payload):
    """Node health (``<root>/<site>/<node>/telemetry``, retained, QoS 1)."""

    ts: TimestampMs
    version: str = Field(max_length=64, description="Software or firmware version.")
    uptime_s: int = Field(ge=0, description="Seconds since the agent started.")
    outbox_depth: int = Field(ge=0, description="Messages waiting in the durable outbox.")
    dropped: int = Field(
        ge=0, description="Messages dropped since start (outbox full, or kept too long)."
    )
    cpu_temp_c: float | None = Field(default=None, description="SoC temperature, °C, if known.")
    undervoltage: bool | None = Field(default=None, description="Power supply under-voltage seen.")
    clock_synced: bool | None = Field(default=None, description="System clock synchronised (NTP).")


class Status(StrEnum):
    """Availability, as plain text (not JSON), retained; also the Last Will."""

    ONLINE = "online"
    OFFLINE = "offline"


class SensorParams(_Payload):
    """How often a node reads its environment sensors."""

    interval_s: float = Field(default=60, ge=1, le=3600)


class NodeConfig(_Payload):
    """What the hub tells a node (``<root>/<site>/<node>/config``, retained)."""

    ts: TimestampMs
    rooms: list[Segment] = Field(min_length=1, description="Rooms this node serves.")
    enrolled_tags: list[TagId] = Field(
        default_factory=list,
        description="BLE tag ids to report by id; everything else is counted only.",
    )
    ble_window_s: float = Field(default=5, gt=0, le=3600, description="BLE scan window, seconds.")
    sensors: SensorParams = Field(default_factory=SensorParams)


class Feedback(StrEnum):
    """What a reader should signal after a tap."""

    ACCEPTED = "accepted"
    UNKNOWN = "unknown"
    ENROLLED = "enrolled"


class FeedbackCommand(_Payload):
    """Signal the result of a tap on the reader (LED, buzzer)."""

    action: Literal["feedback"]
    id: MessageId
    ts: TimestampMs
    reader: Segment
    badge_id: MessageId = Field(description="The ``id`` of the badge message this answers.")
    result: Feedback


class EnrolModeCommand(_Payload):
    """Put a reader in enrolment mode until *until_ts*: its next tap enrols a badge."""

    action: Literal["enrol"]
    id: MessageId
    ts: TimestampMs
    reader: Segment
    until_ts: TimestampMs


Command = Annotated[FeedbackCommand | EnrolModeCommand, Field(discriminator="action")]


class Occupancy(_Payload):
    """Live occupancy of one room (``<root>/<site>/occupancy/<room>``, retained)."""

    count: int = Field(ge=0, description="People in the room, identified or not.")
    confidence: float = Field(ge=0, le=1, description="0 (a guess) to 1 (counted).")
    updated: TimestampMs
    flags: list[str] = Field(
        default_factory=list, description="Data-quality flags: sensor_offline, counter_corrected, …"
    )
