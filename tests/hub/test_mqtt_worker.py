"""The hub's MQTT worker process: what it forwards, screened, and what it does with a bug."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from hub.admission import Registry
from hub.inbox import Inbound, Inbox
from hub.mqtt_link import HubMqtt
from hub.mqtt_worker import Message, Worker, WorkerSpec, read_frame
from tests.support.waiting import wait_until
from vivant.mqtt import MqttSettings
from vivant.wire.errors import RejectReason


def window(room: str, msg_id: str) -> bytes:
    body = {"id": msg_id, "ts": int(time.time() * 1000), "room": room, "window_s": 5}
    return json.dumps({**body, "anonymous": 2, "tags": []}).encode()


def reading(room: str, msg_id: str) -> bytes:
    body = {"id": msg_id, "ts": int(time.time() * 1000), "room": room}
    return json.dumps({**body, "kind": "co2", "value": 600}).encode()


@pytest.mark.mosquitto
def test_the_worker_screens_ble_windows_and_sensor_readings_before_forwarding(
    system_broker_url: str, topic_root: str
) -> None:
    site = f"s{uuid.uuid4().hex[:8]}"
    registry = Registry(topic_root, {(site, "pi-accueil"): frozenset({"accueil"})})
    settings = MqttSettings(url=system_broker_url, topic_root=topic_root)
    inbox = Inbox(100)
    link = HubMqtt(
        settings,
        inbox,
        client_id=f"worker-{site}",
        subscriptions=[f"{topic_root}/{site}/#"],
        status_topic=f"{topic_root}/hub/{site}",
        registry=registry,
    )
    base = f"{topic_root}/{site}"
    sent = [
        (f"{base}/pi-accueil/ble", window("accueil", "w1")),
        (f"{base}/pi-accueil/sensor", reading("cuisine", "s1")),
        (f"{base}/pi-inconnu/ble", window("accueil", "w2")),
        (f"{base}/pi-accueil/ble", b'{"id": "w3"}'),
        (f"{base}/pi-accueil/badge", b'{"id": "b1"}'),
    ]  # fmt: skip
    link.start()
    got: list[Inbound] = []
    try:
        wait_until(link.connected.is_set, within=10, what="the worker connected")
        publisher = paho.Client(CallbackAPIVersion.VERSION2, clean_session=True)
        publisher.connect(settings.host, settings.port)
        publisher.loop_start()
        for topic, payload in sent:
            publisher.publish(topic, payload, qos=1).wait_for_publish(5)
        publisher.disconnect()
        publisher.loop_stop()

        def all_in() -> bool:
            got.extend(inbox.take(100))
            return len(got) >= len(sent)

        wait_until(all_in, within=10, what="every message forwarded")
        link.ack(got)
    finally:
        link.stop()
    verdicts = {m.payload: m.verdict for m in got}
    accepted = verdicts[sent[0][1]]
    assert accepted is not None
    assert accepted[:6] == ("ble", site, "pi-accueil", "w1", accepted[4], "accueil")
    assert verdicts[sent[1][1]] == (
        "rejected", RejectReason.ROOM_MISMATCH.value,
        "node 'pi-accueil' does not serve room 'cuisine'",
    )  # fmt: skip
    unknown, invalid = verdicts[sent[2][1]], verdicts[sent[3][1]]
    assert unknown is not None
    assert unknown[:2] == ("rejected", RejectReason.UNKNOWN_NODE.value)
    assert invalid is not None
    assert invalid[:2] == ("rejected", RejectReason.INVALID_PAYLOAD.value)
    assert verdicts[sent[4][1]] is None  # a badge: the engine classifies it


def test_a_screening_bug_leaves_that_message_unscreened_and_the_rest_screened(
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry = Registry("vivant/v1", {("ekilibre", "pi-accueil"): frozenset({"accueil"})})
    spec = WorkerSpec(
        settings=WorkerSpec.settings_of(MqttSettings()),
        client_id="worker-bug",
        subscriptions=["vivant/v1/#"],
        status_topic="vivant/v1/hub/status",
        topic_root=registry.root,
        nodes=WorkerSpec.nodes_of(registry),
    )
    worker = Worker(spec, commands=None, events=None)  # type: ignore[arg-type]  # never started
    screen = worker._registry.screen  # type: ignore[union-attr]

    def buggy(topic: str, payload: bytes) -> tuple[object, ...] | None:
        if payload == b"bug":
            raise RuntimeError("a bug")
        return screen(topic, payload)

    worker._registry.screen = buggy  # type: ignore[method-assign, union-attr]
    topic = "vivant/v1/ekilibre/pi-accueil/ble"
    batch: list[Message] = [
        (topic, payload, 1, mid, False, 0.0, 0.0, None)
        for mid, payload in enumerate([window("accueil", "w1"), b"bug", window("accueil", "w2")])
    ]
    first, broken, last = worker._screen(batch)
    assert first[7] is not None
    assert first[7][3] == "w1"
    assert broken[7] is None  # the engine screens it again, and isolates it if that fails too
    assert last[7] is not None
    assert last[7][3] == "w2"
    assert "could not screen" in caplog.text


# A child that writes large frames to its stdout while a 0.5 ms interval timer interrupts it: a
# frame of 256 kB fills the pipe (64 kB) several times, so writes block and signals cut them.
_INTERRUPTED_WRITER = """
import signal, sys
from hub.mqtt_worker import write_frame
signal.signal(signal.SIGALRM, lambda *_: None)
signal.setitimer(signal.ITIMER_REAL, 0.0005, 0.0005)
for index in range(int(sys.argv[1])):
    write_frame(sys.stdout.buffer, ("m", index, b"x" * 262_144))
"""


def test_frames_survive_signals_interrupting_their_writes_to_a_full_pipe() -> None:
    # Written through the buffered stream, a frame lost its tail once in a few hundred here
    # (CPython 3.11), and the reader took the next frame's bytes for it: "bad marshal data".
    frames = 300
    child = subprocess.Popen(
        [sys.executable, "-c", _INTERRUPTED_WRITER, str(frames)], stdout=subprocess.PIPE
    )
    assert child.stdout is not None
    read: list[int] = []
    try:
        while (frame := read_frame(child.stdout)) is not None:
            assert frame == ("m", len(read), b"x" * 262_144)
            read.append(frame[1])
            time.sleep(0.001)  # a reader slower than the writer: the pipe stays full
    finally:
        child.kill()
        child.wait()
        child.stdout.close()
    assert len(read) == frames
