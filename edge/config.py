"""Configuration of one edge agent (one node), loaded from a YAML file.

The file is checked as a whole before the agent starts: a typo, a reader placed in a room the
node does not serve, or a badge UID that is not hexadecimal stops the program with the file and
the line (see :mod:`vivant.config_file`). Nothing here touches hardware or the network: opening
a reader or the broker connection happens later, so ``vivant edge check-config`` is safe to run
on a laptop.

Badge readers are listed by *kind*. Today there are the two that need no hardware (``fake``,
driven by code, and ``simulated``, random taps); a hardware backend (evdev keyboard wedge, PC/SC,
serial) is added as a new kind here and a lazily imported module under :mod:`edge.sources`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from vivant.config_file import Secret, StrictModel, load_yaml
from vivant.mqtt import MqttSettings
from vivant.wire.credential import normalise_uid
from vivant.wire.topics import check_node_id, check_segment, check_site_id

# Sixteen characters is the floor for an HMAC key typed by a person; a generated key
# (``openssl rand -hex 32``) is far longer.
MIN_CREDENTIAL_KEY_CHARS = 16

BadgeUid = Annotated[str, AfterValidator(normalise_uid)]
"""A badge UID in hex (separators allowed), stored normalised: uppercase, no separators."""

BadgeReaderKind = Literal["fake", "simulated"]
"""Badge reader backends known to this version (hardware kinds come as new values)."""


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

    id: str = Field(description="Reader id, unique on this node; ``reader`` in badge messages.")
    room: str = Field(description="Room where the reader is mounted; one of the node's ``rooms``.")
    kind: BadgeReaderKind = Field(
        description=(
            "Backend: ``fake`` (taps injected by code, for tests and demos) or ``simulated`` "
            "(random taps among ``uids``)."
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

    @field_validator("id", "room")
    @classmethod
    def _segment(cls, value: str) -> str:
        return check_segment(value)


class EdgeConfig(StrictModel):
    """Everything one edge agent needs: who it is, where the broker is, what it reads."""

    site: str = Field(description="Site (coworking space) id; a topic segment.")
    node: str = Field(description="Node id, unique within the site; a topic segment.")
    rooms: list[str] = Field(min_length=1, description="Rooms (zones) this node serves.")
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

    @field_validator("site")
    @classmethod
    def _site(cls, value: str) -> str:
        return check_site_id(value)

    @field_validator("node")
    @classmethod
    def _node(cls, value: str) -> str:
        return check_node_id(value)

    @field_validator("rooms")
    @classmethod
    def _rooms(cls, values: list[str]) -> list[str]:
        for value in values:
            check_segment(value, "room id")
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
    def _readers_fit(self) -> EdgeConfig:
        # Raised as a ValidationError with the reader's own location (not a ValueError, which
        # pydantic would place at the top level) so the message points at the reader's line.
        errors: list[InitErrorDetails] = []
        seen: set[str] = set()
        for index, reader in enumerate(self.badge_readers):
            if reader.room not in self.rooms:
                errors.append(
                    InitErrorDetails(
                        type=PydanticCustomError(
                            "room_not_served",
                            "room '{room}' is not one of this node's rooms: {rooms}",
                            {"room": reader.room, "rooms": ", ".join(self.rooms)},
                        ),
                        loc=("badge_readers", index, "room"),
                        input=reader.room,
                    )
                )
            if reader.id in seen:
                errors.append(
                    InitErrorDetails(
                        type=PydanticCustomError(
                            "duplicate_reader", "reader id '{id}' is used twice", {"id": reader.id}
                        ),
                        loc=("badge_readers", index, "id"),
                        input=reader.id,
                    )
                )
            seen.add(reader.id)
        if errors:
            raise ValidationError.from_exception_data(type(self).__name__, errors)
        return self

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


def load_edge_config(path: Path) -> EdgeConfig:
    """Read and validate an edge configuration file (raises ``ConfigError``)."""
    return load_yaml(path, EdgeConfig)
