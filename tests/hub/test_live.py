"""Live state: BLE windows and sensor readings become presence, dwell and occupancy."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub.config import HubConfig
from hub.db.models import (
    Consent,
    Credential,
    CredentialKind,
    OccupancyRollup,
    PresenceSession,
    PresenceSource,
    RoomDwell,
)
from hub.live import LiveState
from hub.location import LocationSettings
from hub.members import add_member
from hub.presence import arrive
from hub.timeseries import TimeSeriesSettings
from vivant.wire.payloads import BleWindow, Sensor, SensorKind, TagReading
from vivant.wire.topics import EdgeKind, NodeTopic

SITE = "ekilibre"
T0 = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
TAG = "iBeacon:2f234454-cf6d-4a0f-adf2-f4911ba9ffa6-1-7"


def with_nodes(config: HubConfig) -> HubConfig:
    """The test site with a BLE node in the kitchen and one in the open space."""
    data = config.model_dump(mode="json")
    data["sites"][0]["nodes"] += [
        {"id": "pi-cuisine", "rooms": ["cuisine"]},
        {"id": "pi-open", "rooms": ["open-space"]},
    ]
    data["mqtt"].pop("password", None)
    return HubConfig.model_validate(data)


def window(node: str, room: str, at: datetime, rssi: float | None, anonymous: int = 0) -> BleWindow:
    tags = [TagReading(tag=TAG, rssi=rssi, n=5)] if rssi is not None else []
    return BleWindow(
        id=f"{node}-{at.timestamp()}",
        ts=int(at.timestamp() * 1000),
        room=room,
        window_s=5,
        tags=tags,
        anonymous=anonymous,
    )


def enrol(sessions: sessionmaker[Session], *consents: Consent) -> int:
    with sessions.begin() as session:
        member = add_member(session, "Hugo", consents=consents)
        member.credentials.append(
            Credential(kind=CredentialKind.BLE_TAG.value, value=TAG, created_at=T0)
        )
        session.flush()
        return member.id


def feed(
    sessions: sessionmaker[Session], live: LiveState, start: datetime, minutes: float, room: str
) -> datetime:
    """Windows every 5 s for *minutes*, the tag loud in *room* and faint in the other."""
    other = "open-space" if room == "cuisine" else "cuisine"
    at = start
    with sessions.begin() as session:
        while at < start + timedelta(minutes=minutes):
            for node_room, rssi in ((room, -60.0), (other, -85.0)):
                node = "pi-cuisine" if node_room == "cuisine" else "pi-open"
                topic = NodeTopic(SITE, node, EdgeKind.BLE)
                live.observe(session, topic, window(node, node_room, at, rssi), None)
            at += timedelta(seconds=5)
    return at


def test_ble_arrival_room_changes_and_absence(
    sessions: sessionmaker[Session], site_config: HubConfig
) -> None:
    config = with_nodes(site_config)
    member_id = enrol(sessions, Consent.ROOM_LOCATION)
    live = LiveState(config, LocationSettings(absence_s=60))
    at = feed(sessions, live, T0, 10, "open-space")
    at = feed(sessions, live, at, 10, "cuisine")
    with sessions.begin() as session:
        live.tick(session, at + timedelta(seconds=30))  # still within the absence timeout
        live.tick(session, at + timedelta(seconds=90))  # unseen for 90 s > 60 s: gone
    with sessions() as session:
        visit = session.scalars(select(PresenceSession)).one()
        dwells = session.scalars(select(RoomDwell).order_by(RoomDwell.entered_at)).all()
    assert visit.member_id == member_id
    assert (visit.arrival_source, visit.departure_source) == ("ble", "ble")
    assert T0 <= visit.arrived_at < T0 + timedelta(seconds=30)
    assert at - timedelta(seconds=10) <= visit.departed_at <= at  # type: ignore[operator]
    assert [d.room_id for d in dwells] == ["open-space", "cuisine"]
    switch = dwells[1].entered_at - (T0 + timedelta(minutes=10))
    assert timedelta(0) <= switch < timedelta(seconds=60)


def test_no_sensor_point_is_built_without_a_time_series_server(
    sessions: sessionmaker[Session], site_config: HubConfig
) -> None:
    live = LiveState(with_nodes(site_config))  # no `timeseries` in the configuration
    topic = NodeTopic(SITE, "pi-cuisine", EdgeKind.SENSOR)
    ms = int(datetime.now(UTC).timestamp() * 1000)
    with sessions.begin() as session:
        live.observe(session, topic, Sensor(id="s1", ts=ms, room="cuisine",
                     kind=SensorKind.PEOPLE_IN, value=2), None)  # fmt: skip
        result = live.tick(session, datetime.now(UTC))
    assert "sensor" not in {p.measurement for p in result.points}
    assert live.sites[SITE].rooms["cuisine"].estimate(ms).count == 2  # the reading still counts


def test_no_dwell_is_stored_without_room_location_consent(
    sessions: sessionmaker[Session], site_config: HubConfig
) -> None:
    enrol(sessions)  # no consent beyond being enrolled
    live = LiveState(with_nodes(site_config), LocationSettings(absence_s=60))
    feed(sessions, live, T0, 5, "cuisine")
    with sessions() as session:
        assert session.scalars(select(RoomDwell)).all() == []
        assert len(session.scalars(select(PresenceSession)).all()) == 1
    assert live.sites[SITE].identified()["cuisine"] == 1  # counted, not stored


def test_sensor_readings_make_occupancy_published_once_per_change(
    sessions: sessionmaker[Session], site_config: HubConfig
) -> None:
    live = LiveState(
        with_nodes(site_config).model_copy(update={"timeseries": TimeSeriesSettings()})
    )
    topic = NodeTopic(SITE, "pi-cuisine", EdgeKind.SENSOR)
    now = datetime.now(UTC).replace(microsecond=0)
    ms = int(now.timestamp() * 1000)
    with sessions.begin() as session:
        for index, (kind, value) in enumerate(
            [(SensorKind.MOTION, 1), (SensorKind.PEOPLE_IN, 3), (SensorKind.PEOPLE_OUT, 1)]
        ):
            reading = Sensor(id=f"s{index}", ts=ms + index, room="cuisine", kind=kind, value=value)
            live.observe(session, topic, reading, None)
        first = live.tick(session, now + timedelta(seconds=1))
        second = live.tick(session, now + timedelta(seconds=2))
    kitchen = [(t, json.loads(p)) for t, p in first.publishes if t.endswith("/occupancy/cuisine")]
    assert len(kitchen) == 1
    assert kitchen[0][0] == "vivant/v1/ekilibre/occupancy/cuisine"
    assert kitchen[0][1]["count"] == 2
    assert not [t for t, _ in second.publishes if t.endswith("/occupancy/cuisine")]
    assert {p.measurement for p in first.points} >= {"sensor", "occupancy"}
    live_kitchen = live.sites[SITE].buckets["cuisine"]
    assert live_kitchen.count_max == 2
    with sessions.begin() as session:
        live.flush_rollups(session)
    with sessions() as session:
        rollup = session.get(OccupancyRollup, (SITE, "cuisine", live_kitchen.start))
    assert rollup is not None
    assert (rollup.samples, rollup.count_max) == (2, 2)


def test_anonymous_devices_are_not_added_across_receivers(
    sessions: sessionmaker[Session], site_config: HubConfig
) -> None:
    data = with_nodes(site_config).model_dump(mode="json")
    data["sites"][0]["nodes"].append({"id": "pi-cuisine-2", "rooms": ["cuisine"]})
    data["mqtt"].pop("password", None)
    live = LiveState(HubConfig.model_validate(data))
    with sessions.begin() as session:
        for node in ("pi-cuisine", "pi-cuisine-2"):
            topic = NodeTopic(SITE, node, EdgeKind.BLE)
            live.observe(session, topic, window(node, "cuisine", T0, None, anonymous=4), None)
    anonymous = live.sites[SITE].anonymous
    assert anonymous == {
        ("pi-cuisine", "cuisine"): (4, int(T0.timestamp() * 1000)),
        ("pi-cuisine-2", "cuisine"): (4, int(T0.timestamp() * 1000)),
    }


def test_snapshot_restores_rooms_after_restart(
    sessions: sessionmaker[Session], site_config: HubConfig
) -> None:
    config = with_nodes(site_config)
    enrol(sessions, Consent.ROOM_LOCATION)
    live = LiveState(config, LocationSettings(absence_s=60))
    at = feed(sessions, live, T0, 5, "cuisine")
    with sessions.begin() as session:
        live.save(session, at)
    restarted = LiveState(config, LocationSettings(absence_s=60))
    with sessions() as session:
        restarted.restore(session)
    assert restarted.sites[SITE].locator.room_of(TAG) == "cuisine"
    assert restarted.sites[SITE].owners == live.sites[SITE].owners


def test_hub_publishes_retained_node_configs_when_enrolled_tags_change(
    sessions: sessionmaker[Session], site_config: HubConfig
) -> None:
    from hub.broadcast import Broadcaster
    from hub.inbox import Inbox
    from hub.ingest import Ingestor
    from hub.metrics import HubMetrics

    config = with_nodes(site_config)
    live = LiveState(config)
    sent: list[tuple[str, bytes, bool]] = []
    ingestor = Ingestor(
        config, sessions, Inbox(100), Broadcaster(), HubMetrics(),
        ack=lambda _batch: None, publish=lambda *message: sent.append(message), live=live,
    )  # fmt: skip
    ingestor._emit(ingestor.tick())
    enrol(sessions)
    live.tags.forget()
    ingestor._emit(ingestor.tick())
    ingestor._emit(ingestor.tick())  # nothing changed: nothing sent
    configs = [(t, json.loads(p), r) for t, p, r in sent if t.endswith("/config")]
    assert len(configs) == 2 * len(config.sites[0].nodes)
    topic, body, retained = configs[-1]
    assert retained
    assert topic == "vivant/v1/ekilibre/pi-open/config"
    assert body["rooms"] == ["open-space"]
    assert body["enrolled_tags"] == [TAG]
    assert body["ble_window_s"] == 5


def test_a_session_closed_the_next_morning_leaves_the_morning_unmuted(
    sessions: sessionmaker[Session], site_config: HubConfig
) -> None:
    """The hub was down at the cut-off: it closes yesterday's session at its first tick the next
    morning. The member left at the cut-off, so the quiet period after a departure is long over:
    her tag, heard that morning, is placed at once (it was ignored for two minutes)."""
    config = with_nodes(site_config)
    member_id = enrol(sessions, Consent.ROOM_LOCATION)
    live = LiveState(config, LocationSettings(leave_quiet_s=600))
    with sessions.begin() as session:
        arrive(session, member_id, SITE, T0, PresenceSource.BADGE)  # badged in, 09:00 Paris
    morning = T0 + timedelta(days=1)
    at = feed(sessions, live, morning, 0.1, "cuisine")  # her tag heard: the hub knows its owner
    with sessions.begin() as session:
        live.tick(session, at)  # the first cut-off check since yesterday
    with sessions() as session:
        yesterday = session.scalars(select(PresenceSession)).one()
    assert yesterday.departure_source == "cutoff"
    feed(sessions, live, at, 2, "cuisine")
    assert live.sites[SITE].locator.room_of(TAG) == "cuisine"
