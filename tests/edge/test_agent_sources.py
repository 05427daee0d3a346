"""The agent with every kind of source, on fakes, against a real Mosquitto."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.publish as publish
import pytest
from gpiozero.pins.mock import MockFactory, MockPin

from edge.agent import EdgeAgent, Hardware
from edge.clock import epoch_ms, utc_now
from edge.config import EdgeConfig
from edge.source_settings import EnvironmentSensorSettings
from edge.sources.badge import FakeBadgeReader
from edge.sources.ble_fake import Advertisement, BleReplay, load_recording
from edge.sources.environment import FakeEnvironmentSensor
from tests.edge.conftest import (
    NODE,
    SITE,
    Received,
    edge_config_data,
    running,
    subscribed,
    wait_until,
)
from tests.support.mosquitto import PrivateBroker
from vivant.wire.codec import decode_edge
from vivant.wire.payloads import Badge, BleWindow, Sensor
from vivant.wire.topics import EdgeKind, HubKind, Topics

pytestmark = pytest.mark.mosquitto

DATA = Path(__file__).resolve().parent / "data" / "advertisements.jsonl"
IBEACON = "iBeacon:e5ca1ade-f007-ba11-0000-000000000000-100-1"
EDDYSTONE = "eddystone:edd1ebeac04e5defa017-0123456789ab"
FIXED = "mac:c2a1b2c3d4e5"
PHONE = "irk:camille-phone"
GREEN, RED, BUZZER = 5, 6, 13
PIR, DOOR, OUTER, INNER = 4, 17, 23, 24


def full_config_data(broker_url: str, topic_root: str, outbox: Path) -> dict[str, Any]:
    """The test node with a BLE scanner, GPIO sensors, an air sensor and reader feedback."""
    data = edge_config_data(broker_url, topic_root, outbox)
    data["badge_readers"][0]["feedback"] = {"green_led": GREEN, "red_led": RED, "buzzer": BUZZER}
    data["ble"] = {
        "room": "kitchen",
        "window_s": 0.2,
        "enrolled_tags": [IBEACON, EDDYSTONE, FIXED, PHONE],
        "irks": [{"id": "camille-phone", "key": "ec0234a357c8ad05341010a60a397d9b"}],
    }
    data["gpio"] = {
        "motion": [{"id": "pir", "room": "kitchen", "pin": PIR, "hold_s": 0.2}],
        "doors": [{"id": "door", "room": "lobby", "pin": DOOR}],
        "people_counters": [
            {
                "id": "beams",
                "room": "lobby",
                "outer_pin": OUTER,
                "inner_pin": INNER,
                "report_s": 0.2,
            }
        ],
    }
    data["environment"] = {
        "interval_s": 1,
        "sensors": [{"id": "air", "room": "kitchen", "kind": "fake"}],
    }
    return data


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    made = MockFactory()
    yield made
    made.reset()


@pytest.fixture
def config(broker: PrivateBroker, topic_root: str, tmp_path: Path) -> EdgeConfig:
    data = full_config_data(broker.url, topic_root, tmp_path / "outbox.sqlite3")
    return EdgeConfig.model_validate(data)


def air_sensor() -> FakeEnvironmentSensor:
    sensor = FakeEnvironmentSensor(EnvironmentSensorSettings(id="air", room="kitchen", kind="fake"))
    sensor.set(co2=812, temperature=21.4, humidity=45, pressure=1006.5)
    return sensor


def pin(factory: MockFactory, number: int) -> MockPin:
    made: Any = factory.pin(number)
    return made


def sensors(messages: list[Received]) -> list[Sensor]:
    decoded = [decode_edge(EdgeKind.SENSOR, m.payload) for m in messages]
    return [s for s in decoded if isinstance(s, Sensor)]


def windows(messages: list[Received]) -> list[BleWindow]:
    decoded = [decode_edge(EdgeKind.BLE, m.payload) for m in messages]
    return [w for w in decoded if isinstance(w, BleWindow)]


def send(broker: PrivateBroker, topic: str, body: dict[str, Any], retain: bool = False) -> None:
    publish.single(
        topic, json.dumps(body), qos=1, retain=retain, hostname="127.0.0.1", port=broker.port
    )


async def test_every_source_reaches_the_hub_topics(
    broker: PrivateBroker, config: EdgeConfig, factory: MockFactory, topic_root: str
) -> None:
    replay = BleReplay()
    hardware = Hardware(
        ble_backend=replay.backend(), pin_factory=factory, environment={"air": air_sensor()}
    )
    agent = EdgeAgent(config, hardware=hardware)
    with subscribed(broker.url, f"{topic_root}/#") as sub:
        async with running(agent):
            await wait_until(lambda: replay.running == 1)
            for advertisement in load_recording(DATA):
                replay.advertise(advertisement)
            pin(factory, PIR).drive_high()
            pin(factory, DOOR).drive_low()  # the door closes
            outer, inner = pin(factory, OUTER), pin(factory, INNER)
            for beam, level in ((outer, 0), (inner, 0), (outer, 1), (inner, 1)):
                beam.drive_low() if level == 0 else beam.drive_high()
            await asyncio.to_thread(
                sub.wait_for,
                "/sensor",
                lambda m: {"people_in", "co2", "motion"} <= {s.kind.value for s in sensors(m)},
            )
            got_ble = await asyncio.to_thread(
                sub.wait_for, "/ble", lambda m: any(w.tags for w in windows(m))
            )
            await wait_until(lambda: agent.outbox.depth() == 0)
        readings = sensors(sub.messages("/sensor"))
    by_kind = {(s.kind.value, s.value) for s in readings}
    assert {("door", 1), ("door", 0), ("motion", 1), ("people_in", 1)} <= by_kind
    assert {("co2", 812), ("temperature", 21.4), ("humidity", 45)} <= by_kind
    assert ("pressure", 1006.5) in by_kind
    assert {s.room for s in readings if s.kind.value in ("door", "people_in")} == {"lobby"}
    window = next(w for w in windows(got_ble) if w.tags)
    assert [t.tag for t in window.tags] == [IBEACON, PHONE, EDDYSTONE, FIXED]
    assert window.anonymous == 4
    assert window.room == "kitchen"


async def test_leds_answer_the_hubs_verdict_on_a_tap(
    broker: PrivateBroker, config: EdgeConfig, factory: MockFactory, topic_root: str
) -> None:
    agent = EdgeAgent(
        config, hardware=Hardware(pin_factory=factory, ble_backend=BleReplay().backend())
    )
    command_topic = Topics(topic_root).node(SITE, NODE, HubKind.COMMAND)
    green, red, buzzer = pin(factory, GREEN), pin(factory, RED), pin(factory, BUZZER)

    async def tap_and_answer(uid: str, result: str) -> None:
        before = len(sub.messages("/badge"))
        reader = agent.readers["entrance"]
        assert isinstance(reader, FakeBadgeReader)
        reader.tap(uid)
        got = await asyncio.to_thread(sub.wait_for, "/badge", lambda m: len(m) > before)
        badge = decode_edge(EdgeKind.BADGE, got[-1].payload)
        assert isinstance(badge, Badge)
        command = {
            "action": "feedback",
            "id": f"fb-{badge.id.replace('.', '-')}",
            "ts": epoch_ms(utc_now()),
            "reader": "entrance",
            "badge_id": badge.id,
            "result": result,
        }
        await asyncio.to_thread(send, broker, command_topic, command)

    with subscribed(broker.url, f"{topic_root}/+/+/badge") as sub:
        async with running(agent):
            await tap_and_answer("04A1B2C3D4E5F6", "accepted")
            await wait_until(lambda: bool(green.state), within_s=5)
            assert not red.state
            await wait_until(lambda: not buzzer.state, within_s=1)  # the beep is short
            await tap_and_answer("04B2C3D4E5F607", "unknown")
            await wait_until(lambda: bool(red.state), within_s=1)
            assert not green.state, "the new verdict replaced the old one"
            await wait_until(lambda: [s.state for s in buzzer.states].count(True) == 3)
    green.assert_states([False, True, False])
    beeps = [s.state for s in buzzer.states]
    assert beeps.count(True) == 3, "one beep for accepted, two for unknown"
    assert not green.state, "all off once the agent stopped"
    assert not red.state


async def test_the_hubs_config_is_applied_without_a_restart(
    broker: PrivateBroker, config: EdgeConfig, factory: MockFactory, topic_root: str
) -> None:
    replay = BleReplay()
    hardware = Hardware(
        ble_backend=replay.backend(), pin_factory=factory, environment={"air": air_sensor()}
    )
    agent = EdgeAgent(config, hardware=hardware)
    config_topic = Topics(topic_root).node(SITE, NODE, HubKind.CONFIG)
    with subscribed(broker.url, f"{topic_root}/+/+/ble") as sub:
        async with running(agent):
            await wait_until(lambda: replay.running == 1)
            body = {
                "ts": epoch_ms(utc_now()),
                "rooms": ["lobby", "kitchen"],
                "enrolled_tags": [FIXED],
                "ble_window_s": 0.3,
                "sensors": {"interval_s": 5},
            }
            await asyncio.to_thread(send, broker, config_topic, body, True)
            await wait_until(lambda: agent.node_config is not None)
            before = len(sub.messages())
            replay.advertise(Advertisement("70:81:94:0D:FB:AA", -60, "random"))  # the phone
            replay.advertise(Advertisement("C2:A1:B2:C3:D4:E5", -70, "random"))
            got = await asyncio.to_thread(
                sub.wait_for, "/ble", lambda m: any(w.tags for w in windows(m[before:]))
            )
    window = next(w for w in windows(got[before:]) if w.tags)
    assert [t.tag for t in window.tags] == [FIXED]
    assert window.anonymous == 1, "the phone is no longer enrolled: only counted"
    assert window.window_s == pytest.approx(0.3, abs=0.15)
    environment = next(s for s in agent.sources if s.name == "environment")
    assert getattr(environment, "interval_s", None) == 5
