"""Hub configuration: broker, database, HTTP, and the sites with their rooms, nodes and screens.

Sites, rooms, nodes and screens are configuration (an installer writes them once, they change
with the building); members, credentials and moments are data (they live in the database).
"""

from __future__ import annotations

from datetime import time
from enum import StrEnum
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, IPvAnyNetwork, field_validator, model_validator

from hub.attendance import AttendanceSettings
from hub.channels.settings import ChannelSettings
from hub.cluster import ClusterSettings
from hub.db.models import MomentKind
from hub.insights.settings import InsightsSettings
from hub.location import LocationSettings
from hub.occupancy import OccupancySettings
from hub.privacy_settings import PrivacySettings
from hub.retention import RetentionSettings
from hub.thirdparty import ThirdPartySettings, unknown_rooms
from hub.timeseries import TimeSeriesSettings
from vivant.config_file import Secret, StrictModel
from vivant.mqtt import MqttSettings
from vivant.wire.topics import NodeId, RoomId, ScreenId, SiteId


class RoomKind(StrEnum):
    """What a room is for; insights compare desk rooms with community rooms."""

    DESK = "desk"
    COMMUNITY = "community"
    MEETING = "meeting"
    LOBBY = "lobby"
    PHONE_BOOTH = "phone_booth"


class Language(StrEnum):
    """Languages of the user interface (French first)."""

    FR = "fr"
    EN = "en"


class Theme(StrEnum):
    """Colours of a lobby screen."""

    DARK = "dark"
    LIGHT = "light"


class RoomSettings(StrictModel):
    """One room (zone) of a site."""

    id: RoomId = Field(description="Topic-safe id, e.g. cuisine.")
    name: str = Field(min_length=1, max_length=80, description="Name shown to people.")
    kind: RoomKind = Field(description="desk, community, meeting, lobby or phone_booth.")
    capacity: int | None = Field(default=None, ge=1, le=10_000, description="Seats or people.")


class NodeSettings(StrictModel):
    """An edge node allowed to publish for this site."""

    id: NodeId = Field(description="Node id, as in the node's own configuration.")
    rooms: list[RoomId] = Field(min_length=1, description="Rooms this node may report for.")
    exit_readers: list[str] = Field(
        default_factory=list,
        description="Readers of this node where a tap means leaving (a tap there closes presence).",
    )
    ble_window_s: float = Field(
        default=5, gt=0, le=3600, description="BLE scan window the node uses (sent in its config)."
    )
    sensor_interval_s: float = Field(
        default=60, ge=1, le=3600, description="How often the node reads its environment sensors."
    )


class ScreenSettings(StrictModel):
    """A lobby screen of this site."""

    id: ScreenId = Field(description="Screen id used in its URL: /screens/<site>/<screen>.")
    name: str = Field(default="", max_length=80, description="Where the screen hangs.")
    language: Language = Field(default=Language.FR, description="fr (default) or en.")
    theme: Theme = Field(
        default=Theme.DARK,
        description="dark (default: calm in a lobby, no glare) or light (a bright entrance).",
    )
    token_version: int = Field(
        default=1,
        ge=1,
        description="Raise it to revoke the screen's current URL (`vivant hub screen-url`).",
    )


class CalendarFeedSettings(StrictModel):
    """An iCal feed (Google Calendar, Outlook, Nexudus, OfficeRnD…) whose events are moments."""

    url: Secret = Field(
        description=(
            "http(s) or webcal URL, or a file path. Private calendar URLs carry a token: give "
            "them as {env: NAME} or {file: PATH}."
        )
    )
    room: RoomId = Field(description="Room of the events whose LOCATION names no room of the site.")
    kind: MomentKind | None = Field(
        default=None, description="Kind of the events whose title and categories say nothing."
    )
    name: str = Field(default="", max_length=80, description="Shown to staff with the sync status.")


class SiteSettings(StrictModel):
    """One coworking space."""

    id: SiteId = Field(description="Topic-safe id, e.g. ekilibre.")
    name: str = Field(min_length=1, max_length=80, description="Name shown to people.")
    timezone: str = Field(default="Europe/Paris", description="IANA time zone of the site.")
    cutoff: time = Field(
        default=time(23, 30),
        description="Local time after which everyone still on site is checked out (HH:MM).",
    )
    rooms: list[RoomSettings] = Field(min_length=1)
    nodes: list[NodeSettings] = Field(default_factory=list)
    screens: list[ScreenSettings] = Field(default_factory=list)
    calendar_feeds: list[CalendarFeedSettings] = Field(
        default_factory=list, description="iCal feeds synchronised into this site's moments."
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # "Europe" is a directory
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @model_validator(mode="after")
    def _references(self) -> SiteSettings:
        room_ids = [r.id for r in self.rooms]
        _unique(room_ids, "room")
        _unique([n.id for n in self.nodes], "node")
        _unique([s.id for s in self.screens], "screen")
        for node in self.nodes:
            for room in node.rooms:
                if room not in room_ids:
                    raise ValueError(f"node {node.id!r} serves unknown room {room!r}")
        for feed in self.calendar_feeds:
            if feed.room not in room_ids:
                raise ValueError(f"calendar feed {feed.name!r} uses unknown room {feed.room!r}")
        return self

    @property
    def zone(self) -> ZoneInfo:
        """The site's time zone."""
        return ZoneInfo(self.timezone)

    def room(self, room_id: str) -> RoomSettings | None:
        """The room with this id, if any."""
        return next((r for r in self.rooms if r.id == room_id), None)

    def node(self, node_id: str) -> NodeSettings | None:
        """The node with this id, if any."""
        return next((n for n in self.nodes if n.id == node_id), None)

    def screen(self, screen_id: str) -> ScreenSettings | None:
        """The screen with this id, if any."""
        return next((s for s in self.screens if s.id == screen_id), None)


def _unique(ids: list[str], what: str) -> None:
    seen: set[str] = set()
    for item in ids:
        if item in seen:
            raise ValueError(f"duplicate {what} id {item!r}")
        seen.add(item)


class DatabaseSettings(StrictModel):
    """Where the hub keeps its data."""

    url: str = Field(
        default="sqlite:///vivant.db",
        description="SQLAlchemy URL: sqlite:///path.db or postgresql+psycopg://user@host/db.",
    )
    migrate_on_start: bool = Field(default=True, description="Run Alembic upgrades at start.")


class HttpSettings(StrictModel):
    """The hub's web server."""

    host: str = Field(default="127.0.0.1", description="Address to listen on.")
    port: int = Field(default=8080, ge=1, le=65535)
    public_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s/]+(/[^\s]*)?$",
        description=(
            "Address people reach the hub at, for links in messages and QR codes on screens "
            "(e.g. https://vivant.ekilibre.fr). Default: http://<host>:<port>."
        ),
    )
    trusted_proxies: list[IPvAnyNetwork] = Field(
        default_factory=list,
        description=(
            "Reverse proxies (addresses or networks, e.g. 127.0.0.1) whose X-Forwarded-For is "
            "believed: the sign-in limits then count the real client address, not the proxy's."
        ),
    )
    public_requests_per_minute: int = Field(
        default=60,
        ge=1,
        le=1_000_000,
        description=(
            "Requests per client address and minute to the public member pages (RSVP and "
            "privacy links, the iCal feed of a site); more get 429 with Retry-After. A member "
            "makes a handful; a calendar application one every few minutes at most."
        ),
    )
    screen_failures_per_minute: int = Field(
        default=20,
        ge=1,
        le=1_000_000,
        description=(
            "Wrong lobby-screen tokens per client address and minute before that address gets "
            "429 on screen URLs (a screen with its right token is never limited)."
        ),
    )

    @property
    def base_url(self) -> str:
        """The public address without a trailing slash."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")


class IngestSettings(StrictModel):
    """Ingest pipeline bounds."""

    queue_size: int = Field(
        default=10_000, ge=10, description="Bounded queue between MQTT and the engine."
    )
    batch_size: int = Field(
        default=500, ge=1, description="Messages applied per transaction at most."
    )
    dedup_window_h: float = Field(
        default=72, gt=0, description="How long (node, id) pairs are remembered."
    )


class NudgeSettings(StrictModel):
    """The nudge scheduler and where its rules come from."""

    enabled: bool = Field(default=True, description="Run the nudge scheduler in this hub.")
    rules_file: Path | None = Field(
        default=None,
        description="YAML rules (a full copy of hub/nudges/defaults.yaml, edited); default: those.",
    )
    tick_s: float = Field(
        default=30, gt=0, le=600, description="Seconds between two looks at presence and moments."
    )
    delivery_poll_s: float = Field(
        default=5, gt=0, le=600, description="Seconds between two looks for messages due."
    )


class HubConfig(StrictModel):
    """Everything the hub reads from its YAML file."""

    mqtt: MqttSettings = Field(default_factory=MqttSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    location: LocationSettings = Field(
        default_factory=LocationSettings, description="BLE room location (smoothing, hysteresis)."
    )
    occupancy: OccupancySettings = Field(
        default_factory=OccupancySettings, description="Occupancy fusion per room."
    )
    timeseries: TimeSeriesSettings | None = Field(
        default=None, description="InfluxDB-compatible server for sensor and occupancy history."
    )
    thirdparty: ThirdPartySettings = Field(
        default_factory=ThirdPartySettings,
        description="ESPresense and Theengs Gateway nodes mapped to sites and rooms.",
    )
    home_assistant_discovery: bool = Field(
        default=False, description="Publish Home Assistant MQTT discovery for room occupancy."
    )
    attendance: AttendanceSettings = Field(
        default_factory=AttendanceSettings, description="How much presence in a room counts."
    )
    insights: InsightsSettings = Field(
        default_factory=InsightsSettings,
        description="Definitions of the insights (postures, value index, privacy threshold).",
    )
    calendar_sync_minutes: float = Field(
        default=20, gt=0, le=1440, description="Minutes between two syncs of each calendar feed."
    )
    live_tick_s: float = Field(
        default=5, gt=0, le=60, description="Seconds between occupancy and absence updates."
    )
    greet_max_age_s: float = Field(
        default=120,
        gt=0,
        description="A tap older than this (replayed late) updates presence but greets no one.",
    )
    greeting_seconds: float = Field(
        default=8, gt=0, le=120, description="How long a greeting card shows."
    )
    secret_key: Secret | None = Field(
        default=None,
        description=(
            "Signs member links and session cookies ({env: NAME} or {file: PATH}, 32+ random "
            "characters). Default: generated once and kept in the database."
        ),
    )
    cluster: ClusterSettings | None = Field(
        default=None,
        description=(
            "Several hub processes sharing one PostgreSQL database, each serving some sites "
            "(omit for a single hub serving every site)."
        ),
    )
    privacy: PrivacySettings = Field(
        default_factory=PrivacySettings,
        description="Member self-service page: e-mail for the links, link validity, rate limits.",
    )
    retention: RetentionSettings = Field(
        default_factory=RetentionSettings,
        description="How long identified presence, badge taps and dwell are kept.",
    )
    channels: ChannelSettings = Field(
        default_factory=ChannelSettings,
        description="Outbound channels: staff Apprise URLs per site, e-mail sender, webhooks.",
    )
    nudges: NudgeSettings = Field(default_factory=NudgeSettings, description="Nudge scheduler.")
    sites: list[SiteSettings] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_sites(self) -> HubConfig:
        _unique([s.id for s in self.sites], "site")
        if self.cluster is not None:
            assigned = [site for sites in self.cluster.instances.values() for site in sites]
            _unique(assigned, "site in cluster.instances: site")
            missing = sorted({s.id for s in self.sites} - set(assigned))
            unknown = sorted(set(assigned) - {s.id for s in self.sites})
            if missing:
                raise ValueError(f"cluster.instances assigns no instance to {', '.join(missing)}")
            if unknown:
                raise ValueError(f"cluster.instances names unknown sites: {', '.join(unknown)}")
        known = {(site.id, room.id) for site in self.sites for room in site.rooms}
        problems = unknown_rooms(self.thirdparty, known)
        site_ids = {site.id for site in self.sites}
        problems += [
            f"channels.sites names unknown site {site_id!r}"
            for site_id in self.channels.sites
            if site_id not in site_ids
        ]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def site(self, site_id: str) -> SiteSettings | None:
        """The site with this id, if any."""
        return next((s for s in self.sites if s.id == site_id), None)
