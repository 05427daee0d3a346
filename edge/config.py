"""Configuration of one edge agent (one node), loaded from a YAML file.

The file is checked as a whole before the agent starts: a typo, a reader placed in a room the
node does not serve, or a badge UID that is not hexadecimal stops the program with the file and
the line (see :mod:`vivant.config_file`). Nothing here touches hardware or the network: opening
a reader or the broker connection happens later, so ``vivant edge check-config`` is safe to run
on a laptop.

Badge readers are listed by *kind*: two need no hardware (``fake``, driven by code, and
``simulated``, random taps), four are hardware (``evdev`` keyboard wedges, ``pcsc``, ``serial``,
``pn532``), each with its own section (``serial: {port: …}``) so a key that belongs to another kind
is an error rather than silently ignored. The other sources (BLE, GPIO, environment) are described
in :mod:`edge.source_settings`; this module checks what spans sections: every source's room is one
the node serves, ids are unique, and no GPIO pin is wired twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from edge.source_settings import (
    BleSettings,
    DoorSettings,
    EnvironmentSettings,
    EvdevSettings,
    FeedbackSettings,
    GpioSettings,
    MotionSettings,
    PcscSettings,
    PeopleCounterSettings,
    Pn532Settings,
    SerialSettings,
)
from vivant.config_file import Secret, StrictModel, load_yaml
from vivant.mqtt import MqttSettings
from vivant.wire.credential import normalise_uid
from vivant.wire.topics import NodeId, RoomId, SegmentId, SiteId

# Sixteen characters is the floor for an HMAC key typed by a person; a generated key
# (``openssl rand -hex 32``) is far longer.
MIN_CREDENTIAL_KEY_CHARS = 16

BadgeUid = Annotated[str, AfterValidator(normalise_uid)]
"""A badge UID in hex (separators allowed), stored normalised: uppercase, no separators."""

BadgeReaderKind = Literal["fake", "simulated", "evdev", "pcsc", "serial", "pn532"]
"""Badge reader backends known to this version."""

HARDWARE_SECTIONS = ("evdev", "pcsc", "serial", "pn532")
I2C_PINS = {2: "the I2C bus (SDA)", 3: "the I2C bus (SCL)"}
"""Header pins taken by I2C when a node has I2C devices."""
"""Reader kinds with a section of their own; only the section of the reader's kind may be set."""


class OutboxSettings(StrictModel):
    """Where and how much the node keeps while the broker cannot be reached."""

    path: Path = Field(
        description=(
            "SQLite file of the durable outbox (e.g. /var/lib/vivant/outbox.sqlite3); its "
            "directory must exist and be writable by the agent."
        )
    )
    max_messages: int = Field(
        default=100_000,
        ge=1,
        le=10_000_000,
        description="Messages kept at most; when full the oldest are dropped and counted.",
    )
    max_age_h: float = Field(
        default=168,
        gt=0,
        le=24 * 366,
        description="Hours a message may wait; older ones are dropped and counted.",
    )


class ReconnectSettings(StrictModel):
    """Exponential backoff between connection attempts, with jitter."""

    min_s: float = Field(default=1.0, gt=0, le=60, description="First delay, seconds.")
    max_s: float = Field(default=60.0, gt=0, le=3600, description="Longest delay, seconds.")

    @model_validator(mode="after")
    def _ordered(self) -> ReconnectSettings:
        if self.max_s < self.min_s:
            raise ValueError("max_s must not be smaller than min_s")
        return self


class BadgeReaderSettings(StrictModel):
    """One badge reader attached to the node."""

    id: SegmentId = Field(
        description="Reader id, unique on this node; ``reader`` in badge messages."
    )
    room: SegmentId = Field(
        description="Room where the reader is mounted; one of the node's ``rooms``."
    )
    kind: BadgeReaderKind = Field(
        description=(
            "Backend: ``evdev`` (USB keyboard wedge), ``pcsc`` (ACR122U and other PC/SC "
            "readers), ``serial`` (RDM6300 and other UART readers), ``pn532`` (NFC module on "
            "I2C or UART); ``fake`` (taps injected by code) or ``simulated`` (random taps among "
            "``uids``) need no hardware."
        )
    )
    debounce_s: float = Field(
        default=2.0,
        ge=0,
        le=60,
        description="A card seen again on this reader within this many seconds is ignored.",
    )
    uids: list[BadgeUid] = Field(
        default_factory=list,
        description=(
            "Badge UIDs (hex) a simulated reader picks from, for ``kind: simulated`` and for "
            "``vivant edge --simulate``; demo badges only, never real members' UIDs."
        ),
    )
    mean_interval_s: float = Field(
        default=30.0,
        gt=0,
        le=86_400,
        description="Mean time between simulated taps, seconds (exponential inter-arrival).",
    )
    seed: int | None = Field(
        default=None, description="Seed of the simulated taps, for a reproducible demo."
    )
    evdev: EvdevSettings | None = Field(default=None, description="For ``kind: evdev``.")
    pcsc: PcscSettings | None = Field(default=None, description="For ``kind: pcsc``.")
    serial: SerialSettings | None = Field(default=None, description="For ``kind: serial``.")
    pn532: Pn532Settings | None = Field(default=None, description="For ``kind: pn532``.")
    feedback: FeedbackSettings | None = Field(
        default=None, description="LEDs and buzzer on GPIO answering taps at this reader."
    )

    @model_validator(mode="before")
    @classmethod
    def _default_sections(cls, data: Any) -> Any:
        # PC/SC and PN532 work with their defaults: `kind: pcsc` alone is a valid reader.
        if isinstance(data, dict) and data.get("kind") in ("pcsc", "pn532"):
            data.setdefault(data["kind"], {})
        return data

    @model_validator(mode="after")
    def _section_of_its_kind(self) -> BadgeReaderSettings:
        errors: list[InitErrorDetails] = []
        for section in HARDWARE_SECTIONS:
            given = getattr(self, section) is not None
            if section == self.kind and not given:
                errors.append(
                    _error(
                        "missing_section",
                        "a reader of kind '{kind}' needs its '{kind}:' section",
                        (section,),
                        None,
                        kind=self.kind,
                    )
                )
            elif section != self.kind and given:
                errors.append(
                    _error(
                        "foreign_section",
                        "'{section}:' is for readers of kind '{section}', this one is '{kind}'",
                        (section,),
                        section,
                        section=section,
                        kind=self.kind,
                    )
                )
        if errors:
            raise ValidationError.from_exception_data(type(self).__name__, errors)
        return self


class EdgeConfig(StrictModel):
    """Everything one edge agent needs: who it is, where the broker is, what it reads."""

    site: SiteId = Field(description="Site (coworking space) id; a topic segment.")
    node: NodeId = Field(description="Node id, unique within the site; a topic segment.")
    rooms: list[RoomId] = Field(min_length=1, description="Rooms (zones) this node serves.")
    mqtt: MqttSettings = Field(default_factory=MqttSettings, description="Broker connection.")
    credential_key: Secret = Field(
        description=(
            "The site's badge credential key (HMAC key turning a UID into a credential); "
            "{env: NAME} or {file: PATH}. The same key as the hub's for this site."
        )
    )
    outbox: OutboxSettings = Field(description="Durable outbox for messages not yet acknowledged.")
    telemetry_interval_s: float = Field(
        default=60, ge=1, le=3600, description="Seconds between retained telemetry messages."
    )
    reconnect: ReconnectSettings = Field(
        default_factory=ReconnectSettings, description="Backoff between broker connection attempts."
    )
    inflight_window: int = Field(
        default=100,
        ge=1,
        le=1000,
        description="Messages sent to the broker and not yet acknowledged, at most.",
    )
    shutdown_flush_s: float = Field(
        default=3.0,
        ge=0,
        le=60,
        description="On stop, seconds spent sending what the outbox still holds.",
    )
    badge_readers: list[BadgeReaderSettings] = Field(
        default_factory=list, description="Badge readers attached to this node."
    )
    ble: BleSettings | None = Field(default=None, description="BLE presence scanner.")
    gpio: GpioSettings = Field(
        default_factory=GpioSettings, description="Motion, door and people-counting sensors."
    )
    environment: EnvironmentSettings = Field(
        default_factory=EnvironmentSettings, description="CO2, temperature, humidity sensors."
    )

    @field_validator("rooms")
    @classmethod
    def _rooms(cls, values: list[str]) -> list[str]:
        if len(set(values)) != len(values):
            raise ValueError("rooms must not repeat")
        return values

    @field_validator("credential_key")
    @classmethod
    def _long_enough(cls, value: Secret) -> Secret:
        if len(value.get_secret_value()) < MIN_CREDENTIAL_KEY_CHARS:
            raise ValueError(f"must be at least {MIN_CREDENTIAL_KEY_CHARS} characters")
        return value

    @model_validator(mode="after")
    def _sources_fit(self) -> EdgeConfig:
        # Raised as a ValidationError with each source's own location (not a ValueError, which
        # pydantic would place at the top level) so the message points at the source's line.
        errors: list[InitErrorDetails] = []
        ids: set[str] = set()
        pins: dict[int, str] = {}
        if self.environment.sensors or any(
            r.pn532 is not None and r.pn532.interface == "i2c" for r in self.badge_readers
        ):
            pins.update(I2C_PINS)
        for loc, room in self._rooms_used():
            if room not in self.rooms:
                errors.append(
                    _error(
                        "room_not_served",
                        "room '{room}' is not one of this node's rooms: {rooms}",
                        (*loc, "room"),
                        room,
                        room=room,
                        rooms=", ".join(self.rooms),
                    )
                )
        for loc, source_id in self._ids_used():
            if source_id in ids:
                errors.append(
                    _error(
                        "duplicate_id",
                        "id '{id}' is used twice on this node",
                        (*loc, "id"),
                        source_id,
                        id=source_id,
                    )
                )
            ids.add(source_id)
        for loc, pin in self._pins_used():
            where = ".".join(str(part) for part in loc)
            if pin in pins:
                errors.append(
                    _error(
                        "pin_in_use",
                        "GPIO{pin} is already used by {other}",
                        loc,
                        pin,
                        pin=pin,
                        other=pins[pin],
                    )
                )
            pins.setdefault(pin, where)
        if errors:
            raise ValidationError.from_exception_data(type(self).__name__, errors)
        return self

    def _gpio_sources(
        self,
    ) -> list[tuple[str, Sequence[MotionSettings | DoorSettings | PeopleCounterSettings]]]:
        gpio = self.gpio
        return [
            ("motion", gpio.motion),
            ("doors", gpio.doors),
            ("people_counters", gpio.people_counters),
        ]

    def _rooms_used(self) -> list[tuple[tuple[str | int, ...], str]]:
        used: list[tuple[tuple[str | int, ...], str]] = [
            (("badge_readers", i), r.room) for i, r in enumerate(self.badge_readers)
        ]
        if self.ble is not None:
            used.append((("ble",), self.ble.room))
        for name, items in self._gpio_sources():
            used += [(("gpio", name, i), item.room) for i, item in enumerate(items)]
        used += [
            (("environment", "sensors", i), s.room) for i, s in enumerate(self.environment.sensors)
        ]
        return used

    def _ids_used(self) -> list[tuple[tuple[str | int, ...], str]]:
        used: list[tuple[tuple[str | int, ...], str]] = [
            (("badge_readers", i), r.id) for i, r in enumerate(self.badge_readers)
        ]
        for name, items in self._gpio_sources():
            used += [(("gpio", name, i), item.id) for i, item in enumerate(items)]
        used += [
            (("environment", "sensors", i), s.id) for i, s in enumerate(self.environment.sensors)
        ]
        return used

    def _pins_used(self) -> list[tuple[tuple[str | int, ...], int]]:
        used: list[tuple[tuple[str | int, ...], int]] = []
        for i, reader in enumerate(self.badge_readers):
            if reader.feedback is not None:
                used += [
                    (("badge_readers", i, "feedback", role), pin)
                    for role, pin in reader.feedback.pins().items()
                ]
        gpio = self.gpio
        used += [(("gpio", "motion", i, "pin"), m.pin) for i, m in enumerate(gpio.motion)]
        used += [(("gpio", "doors", i, "pin"), d.pin) for i, d in enumerate(gpio.doors)]
        for i, counter in enumerate(gpio.people_counters):
            used.append((("gpio", "people_counters", i, "outer_pin"), counter.outer_pin))
            used.append((("gpio", "people_counters", i, "inner_pin"), counter.inner_pin))
        return used

    @property
    def client_id(self) -> str:
        """MQTT client id: the configured one, else ``vivant-edge-<site>-<node>``."""
        return self.mqtt.client_id or f"vivant-edge-{self.site}-{self.node}"

    def reader(self, reader_id: str) -> BadgeReaderSettings:
        """Settings of one reader by id (``KeyError`` if it is not configured)."""
        for reader in self.badge_readers:
            if reader.id == reader_id:
                return reader
        raise KeyError(reader_id)


def _error(
    error_type: str, message: str, loc: tuple[str | int, ...], value: Any, **context: Any
) -> InitErrorDetails:
    """A validation error at *loc*, for errors that span sections of the file."""
    return InitErrorDetails(
        type=PydanticCustomError(error_type, message, context), loc=loc, input=value
    )


def load_edge_config(path: Path) -> EdgeConfig:
    """Read and validate an edge configuration file (raises ``ConfigError``)."""
    return load_yaml(path, EdgeConfig)
