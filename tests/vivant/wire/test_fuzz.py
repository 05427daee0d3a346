"""Fuzzing the wire contract's decoders: whatever arrives on a topic, the hub (or a node) gets a
payload model or a :class:`Rejected` with a reason from the closed set and a log-safe detail;
never another exception, never the input echoed in the message.

Sizes: see :mod:`tests.support.fuzzing` (a sample here; ``./run fuzz`` for the long run).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from tests.support.fuzzing import (
    CANARY,
    attempt,
    deep_nesting,
    fuzz,
    junk,
    leaks,
    mutated,
    wrong_json,
)
from vivant.wire.codec import decode_command, decode_config, decode_edge, decode_status, encode
from vivant.wire.errors import Rejected, RejectReason
from vivant.wire.payloads import (
    MAX_PAYLOAD_BYTES,
    Badge,
    BleWindow,
    EnrolModeCommand,
    FeedbackCommand,
    NodeConfig,
    Sensor,
    Status,
    Telemetry,
)
from vivant.wire.topics import EdgeKind, TopicError, Topics

TS = 1_767_225_600_000
CREDENTIAL = "ab" * 16

SEEDS: dict[str, list[dict[str, Any]]] = {
    "badge": [
        {"id": "17.000142", "ts": TS, "room": "accueil", "reader": "porte",
         "credential": CREDENTIAL},
    ],
    "ble": [
        {"id": "18.000142", "ts": TS, "room": "cuisine", "window_s": 5, "anonymous": 4,
         "tags": [{"tag": "iBeacon:e5ca1ade-f007-ba11-0000-000000000000-100-1", "rssi": -67.5,
                   "n": 3}, {"tag": "irk:camille-phone", "rssi": -80, "n": 1}]},
    ],
    "sensor": [
        {"id": "19.000142", "ts": TS, "room": "cuisine", "kind": "door", "value": 1},
        {"id": "1a.000142", "ts": TS, "room": "cuisine", "kind": "temperature", "value": 21.5},
        {"id": "1b.000142", "ts": TS, "room": "cuisine", "kind": "co2", "value": 640},
    ],
    "telemetry": [
        {"ts": TS, "version": "esp32-badge-1.2.0", "uptime_s": 3600, "outbox_depth": 0,
         "dropped": 0},
    ],
    "config": [
        {"ts": TS, "rooms": ["accueil", "cuisine"], "enrolled_tags": ["irk:camille-phone"],
         "ble_window_s": 5, "sensors": {"interval_s": 60}},
    ],
    "command": [
        {"action": "feedback", "id": "fb1", "ts": TS, "reader": "porte", "badge_id": "17.000142",
         "result": "accepted"},
        {"action": "enrol", "id": "en1", "ts": TS, "reader": "porte", "until_ts": TS + 60_000},
    ],
}  # fmt: skip
MODELS: dict[str, type[BaseModel] | tuple[type[BaseModel], ...]] = {
    "badge": Badge,
    "ble": BleWindow,
    "sensor": Sensor,
    "telemetry": Telemetry,
    "config": NodeConfig,
    "command": (FeedbackCommand, EnrolModeCommand),
}


def _edge(kind: EdgeKind) -> Callable[[bytes], BaseModel]:
    return lambda raw: decode_edge(kind, raw)


DECODERS: dict[str, Callable[[bytes], object]] = {
    **{kind.value: _edge(kind) for kind in EdgeKind if kind is not EdgeKind.STATUS},
    "config": decode_config,
    "command": decode_command,
}


def seed_bytes(name: str) -> list[bytes]:
    return [json.dumps(s, separators=(",", ":")).encode() for s in SEEDS[name]]


def check(name: str, raw: bytes) -> None:
    """The property: a model of the right type, or a clean :class:`Rejected`."""
    decoded = attempt(lambda: DECODERS[name](raw), Rejected)
    if isinstance(decoded, Rejected):
        assert isinstance(decoded.reason, RejectReason)
        assert decoded.detail.strip(), "a rejection says why"
        assert not leaks(str(decoded), raw), "the message repeats the input"
        if len(raw) > MAX_PAYLOAD_BYTES:
            assert decoded.reason is RejectReason.TOO_LARGE
        return
    assert isinstance(decoded, MODELS[name])
    assert len(raw) <= MAX_PAYLOAD_BYTES
    assert isinstance(decoded, BaseModel)
    encode(decoded)  # what was accepted can be sent on


KINDS = sorted(DECODERS)


def test_the_seeds_are_valid() -> None:
    for name in KINDS:
        for raw in seed_bytes(name):
            assert isinstance(DECODERS[name](raw), MODELS[name])


@pytest.mark.parametrize("name", KINDS)
@fuzz
@given(raw=junk())
def test_generated_bytes(name: str, raw: bytes) -> None:
    check(name, raw)


@pytest.mark.parametrize("name", KINDS)
@fuzz
@given(data=st.data())
def test_mutated_valid_payloads(name: str, data: st.DataObject) -> None:
    check(name, data.draw(mutated(seed_bytes(name))))


@pytest.mark.parametrize("name", KINDS)
@fuzz
@given(data=st.data())
def test_structured_but_wrong_json(name: str, data: st.DataObject) -> None:
    check(name, data.draw(wrong_json(SEEDS[name])))


@pytest.mark.parametrize("name", KINDS)
@fuzz
@given(raw=deep_nesting())
def test_deep_nesting_and_oversize(name: str, raw: bytes) -> None:
    check(name, raw)
    check(name, raw + b" " * MAX_PAYLOAD_BYTES)


@fuzz
@given(raw=st.one_of(junk(), st.sampled_from([b"online", b"offline", b" online\n"]), mutated(
    [b"online", b"offline"])))  # fmt: skip
def test_status(raw: bytes) -> None:
    status = attempt(lambda: decode_status(raw), Rejected)
    if isinstance(status, Rejected):
        assert status.reason is RejectReason.INVALID_PAYLOAD
        assert status.detail
        assert not leaks(str(status), raw)
        return
    assert status in set(Status)


SEGMENT = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-", min_size=1, max_size=8)


@fuzz
@given(
    topic=st.one_of(
        st.text(max_size=120),
        st.lists(st.one_of(SEGMENT, st.sampled_from(["+", "#", "", "hub", "occupancy", "A"])),
                 max_size=7).map(lambda parts: "/".join(["vivant", "v1", *parts])),
    )
)  # fmt: skip
def test_topics(topic: str) -> None:
    """Topics come from the broker too: parsed, or refused with :class:`TopicError`."""
    parsed = attempt(lambda: Topics("vivant/v1").parse(topic), TopicError)
    if isinstance(parsed, TopicError):
        assert str(parsed)


def test_an_unknown_command_action_is_not_echoed() -> None:
    """Found by the long run: pydantic quoted the discriminator's value in its message."""
    raw = json.dumps({**SEEDS["command"][0], "action": CANARY}).encode()
    with pytest.raises(Rejected, match="'action' must be one of 'feedback', 'enrol'") as caught:
        decode_command(raw)
    assert CANARY not in str(caught.value)
