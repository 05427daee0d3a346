"""The hub's side of the MQTT link: what the reader thread puts in the inbox."""

from __future__ import annotations

import json
import time

from hub.admission import Registry
from hub.inbox import Inbox
from hub.mqtt_link import HubMqtt
from hub.mqtt_worker import Message
from vivant.mqtt import MqttSettings

ROOT = "vivant/v1"
REGISTRY = Registry(ROOT, {("ekilibre", "pi-accueil"): frozenset({"accueil"})})


def frame(*topics: str) -> list[Message]:
    """Messages as the worker forwards them, screened by the same registry."""
    body = {"id": "w1", "ts": int(time.time() * 1000), "room": "accueil", "window_s": 5}
    payload = json.dumps({**body, "anonymous": 1}).encode()
    return [
        (t, payload, 1, i, False, time.time(), time.monotonic(), REGISTRY.screen(t, payload))
        for i, t in enumerate(topics)
    ]


def test_the_workers_verdicts_reach_the_inbox_with_their_messages() -> None:
    inbox = Inbox(10)
    link = HubMqtt(MqttSettings(), inbox, registry=REGISTRY)
    link._enqueue(frame(f"{ROOT}/ekilibre/pi-accueil/ble", f"{ROOT}/ekilibre/pi-accueil/badge"), 1)
    window, badge = inbox.take(10)
    assert window.verdict is not None
    assert window.verdict[:4] == ("ble", "ekilibre", "pi-accueil", "w1")
    assert badge.verdict is None  # badges are classified by the engine
    assert (window.worker, badge.mid) == (1, 1)


def test_the_worker_is_given_the_registered_nodes() -> None:
    registry = Registry(
        ROOT,
        {
            ("ekilibre", "pi-accueil"): frozenset({"accueil", "cuisine"}),
            ("rooftop", "pi-terrasse"): frozenset({"terrasse"}),
        },
    )
    spec = HubMqtt(MqttSettings(), Inbox(10), registry=registry)._spec
    rebuilt = spec.registry()
    assert rebuilt is not None
    assert (rebuilt.root, rebuilt.rooms) == (ROOT, registry.rooms)
    assert HubMqtt(MqttSettings(), Inbox(10))._spec.registry() is None  # screens nothing
