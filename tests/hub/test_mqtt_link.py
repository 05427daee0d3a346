"""The hub's side of the MQTT link: what the reader thread puts in the inbox."""

from __future__ import annotations

import json
import time

import pytest

from hub.admission import Registry, Verdict
from hub.inbox import Inbox
from hub.mqtt_link import HubMqtt
from hub.mqtt_worker import Message
from vivant.mqtt import MqttSettings

ROOT = "vivant/v1"
REGISTRY = Registry(ROOT, {("ekilibre", "pi-accueil"): frozenset({"accueil"})})


def frame(*topics: str) -> list[Message]:
    body = {"id": "w1", "ts": int(time.time() * 1000), "room": "accueil", "window_s": 5}
    payload = json.dumps({**body, "anonymous": 1}).encode()
    return [(t, payload, 1, i, False, time.time(), time.monotonic()) for i, t in enumerate(topics)]


def test_ble_windows_are_screened_on_arrival_and_the_rest_left_to_the_engine() -> None:
    inbox = Inbox(10)
    link = HubMqtt(MqttSettings(), inbox, screen=REGISTRY.screen)
    link._enqueue(frame(f"{ROOT}/ekilibre/pi-accueil/ble", f"{ROOT}/ekilibre/pi-accueil/badge"), 1)
    window, badge = inbox.take(10)
    assert window.verdict is not None
    assert window.verdict[:4] == ("ble", "ekilibre", "pi-accueil", "w1")
    assert badge.verdict is None  # badges are classified by the engine
    assert (window.worker, badge.mid) == (1, 1)


def test_a_failing_screen_lets_the_message_through_unscreened(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(_topic: str, _payload: bytes) -> Verdict | None:
        raise RuntimeError("a bug")

    inbox = Inbox(10)
    link = HubMqtt(MqttSettings(), inbox, screen=broken)
    link._enqueue(frame(f"{ROOT}/ekilibre/pi-accueil/ble"), 1)
    (message,) = inbox.take(10)
    assert message.verdict is None  # the engine screens it again, and isolates it if it fails
    assert "could not screen" in caplog.text
