"""Screening of BLE windows and sensor readings: the same verdicts as the wire contract's."""

from __future__ import annotations

import io
import json

import pytest

from hub.admission import BleFacts, Registry, SensorFacts, TagSeen, admit
from hub.mqtt_worker import read_frame, write_frame
from vivant.wire.codec import decode_edge
from vivant.wire.errors import Rejected, RejectReason
from vivant.wire.payloads import BleWindow, Sensor, SensorKind
from vivant.wire.topics import EdgeKind, NodeTopic

ROOT = "vivant/v1"
TS = 1_780_000_000_000
TAG = "iBeacon:2f234454-cf6d-4a0f-adf2-f4911ba9ffa6-1-7"
REGISTRY = Registry(ROOT, {("ekilibre", "pi-hall"): frozenset({"accueil", "cuisine"})})


def ble(**overrides: object) -> bytes:
    body: dict[str, object] = {
        "id": "w1",
        "ts": TS,
        "room": "cuisine",
        "window_s": 5,
        "tags": [{"tag": TAG, "rssi": -61.5, "n": 3}],
        "anonymous": 2,
    }
    body.update(overrides)
    return json.dumps(body).encode()


def sensor(**overrides: object) -> bytes:
    body: dict[str, object] = {"id": "s1", "ts": TS, "room": "accueil", "kind": "co2", "value": 612}
    body.update(overrides)
    return json.dumps(body).encode()


def screened(suffix: str, payload: bytes) -> tuple[NodeTopic, BleFacts | SensorFacts]:
    verdict = REGISTRY.screen(f"{ROOT}/{suffix}", payload)
    assert verdict is not None
    pipe = io.BytesIO()  # plain data: it could cross a pipe between processes
    write_frame(pipe, ("m", [verdict]))
    pipe.seek(0)
    assert read_frame(pipe) == ("m", [verdict])
    return admit(verdict)


def test_a_valid_window_becomes_the_facts_of_the_wire_model() -> None:
    topic, facts = screened("ekilibre/pi-hall/ble", ble())
    model = decode_edge(EdgeKind.BLE, ble())
    assert isinstance(model, BleWindow)
    assert topic == NodeTopic("ekilibre", "pi-hall", EdgeKind.BLE)
    assert facts == BleFacts("w1", TS, "cuisine", 5.0, 2, (TagSeen(TAG, -61.5, 3),))
    assert (facts.id, facts.ts, facts.room, facts.window_s, facts.anonymous) == (
        model.id, model.ts, model.room, model.window_s, model.anonymous,
    )  # fmt: skip
    assert [(t.tag, t.rssi, t.n) for t in facts.tags] == [(t.tag, t.rssi, t.n) for t in model.tags]


def test_a_valid_reading_becomes_the_facts_of_the_wire_model() -> None:
    topic, facts = screened("ekilibre/pi-hall/sensor", sensor())
    model = decode_edge(EdgeKind.SENSOR, sensor())
    assert isinstance(model, Sensor)
    assert topic.kind is EdgeKind.SENSOR
    assert facts == SensorFacts("s1", TS, "accueil", SensorKind.CO2, 612)
    assert facts.kind is model.kind
    assert facts.value == model.value


@pytest.mark.parametrize(
    ("suffix", "payload", "reason"),
    [
        ("ekilibre/pi-hall/ble", b"{not json", RejectReason.MALFORMED_JSON),
        ("ekilibre/pi-hall/ble", ble(ts="yesterday"), RejectReason.INVALID_PAYLOAD),
        ("ekilibre/pi-hall/ble", ble(ts=1_000), RejectReason.INVALID_PAYLOAD),
        ("ekilibre/pi-hall/ble", ble(tags=[{"tag": "x", "rssi": -60, "n": 1}]), "invalid_payload"),
        ("ekilibre/pi-hall/ble", ble(pad="z" * 17_000), RejectReason.TOO_LARGE),
        ("ekilibre/pi-hall/sensor", sensor(kind="motion", value=0.5), "invalid_payload"),
        ("ekilibre/pi-hall/sensor", sensor(value="612"), RejectReason.INVALID_PAYLOAD),
        ("ekilibre/intrus/ble", ble(), RejectReason.UNKNOWN_NODE),
        ("autre-site/pi-hall/sensor", sensor(), RejectReason.UNKNOWN_NODE),
        ("ekilibre/pi-hall/ble", ble(room="open-space"), RejectReason.ROOM_MISMATCH),
        ("ekilibre/Pi-Hall/ble", ble(), RejectReason.UNKNOWN_TOPIC),
        ("hub/pi-hall/ble", ble(), RejectReason.UNKNOWN_TOPIC),
    ],
)
def test_bad_input_is_rejected_with_the_reason_the_hub_counts(
    suffix: str, payload: bytes, reason: str
) -> None:
    with pytest.raises(Rejected) as raised:
        screened(suffix, payload)
    assert raised.value.reason == reason


@pytest.mark.parametrize(
    "topic",
    [
        f"{ROOT}/ekilibre/pi-hall/badge",
        f"{ROOT}/ekilibre/pi-hall/telemetry",
        f"{ROOT}/ekilibre/pi-hall/status",
        f"{ROOT}/ekilibre/occupancy/ble",  # the hub's own occupancy of a room called "ble"
        "espresense/devices/phone/cuisine",
        "autre/racine/ekilibre/pi-hall/ble",
    ],
)
def test_other_messages_are_left_to_the_engine(topic: str) -> None:
    assert REGISTRY.screen(topic, ble()) is None
