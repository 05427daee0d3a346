"""The MQTT link against a real Mosquitto: availability, ordered delivery, inbound messages."""

from __future__ import annotations

import contextlib
import json
import random
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.publish as publish
import pytest

from edge.link import Backoff, MqttLink
from edge.outbox import Outbox, OutboxEntry
from tests.edge.conftest import NODE, SITE, Received, subscribed
from tests.support.mosquitto import PrivateBroker
from vivant.mqtt import MqttSettings
from vivant.wire.payloads import Command, FeedbackCommand, NodeConfig
from vivant.wire.topics import EdgeKind, HubKind, Topics

pytestmark = pytest.mark.mosquitto

TS = 1_741_944_600_000


def test_backoff_grows_with_jitter_and_resets() -> None:
    backoff = Backoff(1.0, 8.0, random.Random(1))
    delays = [backoff.next() for _ in range(6)]
    ceilings = [1, 2, 4, 8, 8, 8]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    other = Backoff(1.0, 8.0, random.Random(2))
    assert delays != [other.next() for _ in range(6)], "jittered"
    backoff.reset()
    assert 0.5 <= backoff.next() <= 1.0
    with pytest.raises(ValueError, match="min_s"):
        Backoff(2.0, 1.0)


def publish_to(url: str, topic: str, payload: bytes, retain: bool = False) -> None:
    parts = urlsplit(url)
    publish.single(
        topic, payload, qos=1, retain=retain, hostname=parts.hostname or "", port=parts.port or 0
    )


class Harness:
    """An outbox and a link to the private broker, plus what the link handed to the node."""

    def __init__(
        self, broker: PrivateBroker, topic_root: str, path: Path, window: int, lanes: bool = False
    ) -> None:
        self.settings = MqttSettings(url=broker.url, topic_root=topic_root, keepalive_s=5)
        self.topics = Topics(topic_root)
        self.outbox = Outbox(path)
        self.configs: list[NodeConfig] = []
        self.commands: list[Command] = []
        self.fail_next_command = threading.Event()
        self.link = MqttLink(
            self.settings,
            site=SITE,
            node=NODE,
            outbox=self.outbox,
            client_id=f"link-test-{NODE}",
            on_config=self.configs.append,
            on_command=self._command,
            window=window,
            backoff=Backoff(0.05, 0.3),
            lanes=[self.topic(EdgeKind.BADGE), self.topic(EdgeKind.SENSOR)] if lanes else (),
        )

    def _command(self, command: Command) -> None:
        if self.fail_next_command.is_set():
            self.fail_next_command.clear()
            raise RuntimeError("handler bug")
        self.commands.append(command)

    def topic(self, kind: EdgeKind | HubKind) -> str:
        return self.topics.node(SITE, NODE, kind)

    def put_badges(self, count: int) -> None:
        self.put(EdgeKind.BADGE, count)

    def put(self, kind: EdgeKind, count: int) -> None:
        for _ in range(count):
            self.outbox.put(self.topic(kind), lambda mid: mid.encode())
        self.link.wake()


@pytest.fixture
def harness_factory(
    broker: PrivateBroker, topic_root: str, tmp_path: Path
) -> Iterator[Callable[..., Harness]]:
    made: list[Harness] = []

    def make(window: int = 100, lanes: bool = False) -> Harness:
        path = tmp_path / f"outbox{len(made)}.sqlite3"
        harness = Harness(broker, topic_root, path, window, lanes)
        made.append(harness)
        return harness

    yield make
    for harness in made:
        harness.link.stop(timeout=2, flush_s=0)
        harness.outbox.close()


def wait(predicate: Callable[[], bool], within_s: float = 5.0) -> None:
    deadline = time.monotonic() + within_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def first_seen(messages: list[Received]) -> list[bytes]:
    """Payloads in arrival order with repeats (QoS 1 redeliveries) removed."""
    seen: dict[bytes, None] = {}
    for message in messages:
        seen.setdefault(message.payload, None)
    return list(seen)


def seq_of(message_id: bytes) -> int:
    return int(message_id.split(b".")[0], 16)


def test_online_on_connect_offline_on_clean_stop(
    broker: PrivateBroker, harness_factory: Callable[..., Harness]
) -> None:
    harness = harness_factory(100)
    status = harness.topic(EdgeKind.STATUS)
    with subscribed(broker.url, status) as live:
        harness.link.start()
        live.wait_for("/status", lambda m: len(m) == 1)
    with subscribed(broker.url, status) as late:  # joins after the fact: sees the retained value
        got = late.wait_for("/status", lambda m: len(m) == 1)
        assert got == [Received(status, b"online", retain=True)]
        harness.link.stop()
        late.wait_for("/status", lambda m: len(m) == 2)
        assert late.messages()[1].payload == b"offline"
    assert not harness.link.connected
    with subscribed(broker.url, status) as after:
        assert after.wait_for("/status", lambda m: len(m) == 1)[0].payload == b"offline"


def test_outbox_drains_in_order_through_a_small_window(
    broker: PrivateBroker, harness_factory: Callable[..., Harness]
) -> None:
    harness = harness_factory(8)
    harness.put_badges(300)  # queued before the link even starts
    with subscribed(broker.url, harness.topic(EdgeKind.BADGE)) as sub:
        harness.link.start()
        got = sub.wait_for("/badge", lambda m: len(m) >= 300)
        wait(lambda: harness.outbox.depth() == 0)
    ids = [m.payload for m in got]
    assert [seq_of(i) for i in ids] == list(range(1, 301))
    assert harness.link.stats.acked == 300


def test_order_survives_a_broker_restart_mid_stream(
    broker: PrivateBroker, harness_factory: Callable[..., Harness]
) -> None:
    harness = harness_factory(50)
    harness.link.start()
    assert harness.link.wait_connected(5)
    total = 3000
    with subscribed(
        broker.url, harness.topic(EdgeKind.BADGE), client_id="order-sub", clean_session=False
    ) as sub:
        harness.put_badges(total // 2)
        wait(lambda: harness.link.stats.acked > 100)  # messages are in flight now
        broker.stop()
        harness.put_badges(total // 2)
        broker.start()
        got = sub.wait_for("/badge", lambda m: len(first_seen(m)) >= total, within_s=15)
    ids = first_seen(got)
    assert [seq_of(i) for i in ids] == list(range(1, total + 1))
    wait(lambda: harness.outbox.depth() == 0)
    assert harness.link.stats.connection_losses == 1


def test_config_and_commands_reach_their_handlers(
    broker: PrivateBroker, harness_factory: Callable[..., Harness]
) -> None:
    harness = harness_factory(100)
    config_topic, command_topic = harness.topic(HubKind.CONFIG), harness.topic(HubKind.COMMAND)
    config = {"ts": TS, "rooms": ["lobby"], "ble_window_s": 10}
    publish_to(broker.url, config_topic, json.dumps(config).encode(), retain=True)
    harness.link.start()
    wait(lambda: len(harness.configs) == 1)
    assert harness.configs[0].rooms == ["lobby"]
    assert harness.configs[0].ble_window_s == 10

    command = {
        "action": "feedback",
        "id": "c1",
        "ts": TS,
        "reader": "entrance",
        "badge_id": "1.abc",
        "result": "accepted",
    }
    publish_to(broker.url, command_topic, b"{not json")
    publish_to(broker.url, command_topic, json.dumps({**command, "action": "dance"}).encode())
    publish_to(broker.url, config_topic, b'{"ts": 1}')
    harness.fail_next_command.set()
    publish_to(broker.url, command_topic, json.dumps({**command, "id": "boom"}).encode())
    publish_to(broker.url, command_topic, json.dumps(command).encode())
    wait(lambda: len(harness.commands) == 1)
    assert harness.commands == [FeedbackCommand.model_validate_json(json.dumps(command))]
    stats = harness.link.stats
    assert stats.rejected == {
        "command:malformed_json": 1,
        "command:invalid_payload": 1,
        "config:invalid_payload": 1,
    }
    assert stats.handler_errors == 1
    assert harness.link.connected, "bad input never breaks the link"
    publish_to(broker.url, config_topic, b"", retain=True)  # the hub clears it: not an error
    time.sleep(0.2)
    assert sum(stats.rejected.values()) == 3


def test_state_is_retained_and_latest_wins(
    broker: PrivateBroker, harness_factory: Callable[..., Harness]
) -> None:
    harness = harness_factory(100)
    topic = harness.topic(EdgeKind.TELEMETRY)
    harness.link.publish_state(EdgeKind.TELEMETRY, b'{"n":1}')
    harness.link.publish_state(EdgeKind.TELEMETRY, b'{"n":2}')  # before connecting: replaces 1
    with subscribed(broker.url, topic) as live:
        harness.link.start()
        live.wait_for("/telemetry", lambda m: len(m) == 1)
        time.sleep(0.1)
        assert live.payloads("/telemetry") == [b'{"n":2}'], "only the latest was sent"
    with subscribed(broker.url, topic) as late:
        got = late.wait_for("/telemetry", lambda m: len(m) == 1)
    assert got == [Received(topic, b'{"n":2}', retain=True)]


def test_connects_once_the_broker_appears(
    broker: PrivateBroker, harness_factory: Callable[..., Harness]
) -> None:
    broker.stop()
    harness = harness_factory(100)
    harness.put_badges(3)
    harness.link.start()
    time.sleep(0.5)
    assert not harness.link.connected
    broker.start()
    assert harness.link.wait_connected(5)
    wait(lambda: harness.outbox.depth() == 0)


def test_stop_without_a_broker_is_quick(
    broker: PrivateBroker, harness_factory: Callable[..., Harness]
) -> None:
    broker.stop()
    harness = harness_factory(100)
    harness.put_badges(2)
    harness.link.start()
    started = time.monotonic()
    harness.link.stop(timeout=10, flush_s=8)
    # Without a broker there is nothing to flush: stop does not wait out flush_s (nor timeout).
    assert time.monotonic() - started < 4.0
    assert harness.outbox.depth() == 2, "kept for the next run"
    with contextlib.suppress(RuntimeError):
        broker.start()


def test_an_error_in_the_link_is_survived(
    broker: PrivateBroker, harness_factory: Callable[..., Harness]
) -> None:
    harness = harness_factory(100)
    real_pending = harness.outbox.pending
    calls = []

    def flaky(after_seq: int = 0, limit: int = 100, **lane: Any) -> list[OutboxEntry]:
        calls.append(after_seq)
        if len(calls) == 1:
            raise OSError("disk I/O error")
        return real_pending(after_seq, limit, **lane)

    harness.outbox.pending = flaky  # type: ignore[method-assign]
    harness.put_badges(5)
    harness.link.start()
    wait(lambda: harness.outbox.depth() == 0)
    assert harness.link.stats.acked == 5


def test_a_tap_is_not_stuck_behind_a_replayed_backlog(
    broker: PrivateBroker, harness_factory: Callable[..., Harness]
) -> None:
    harness = harness_factory(8, lanes=True)
    harness.put(EdgeKind.BLE, 2000)  # an outage's worth of BLE windows
    harness.put(EdgeKind.SENSOR, 20)
    harness.put(EdgeKind.BADGE, 1)  # a tap made while they wait
    with subscribed(broker.url, f"{harness.topics.root}/#") as sub:
        harness.link.start()
        got = sub.wait_for("", lambda m: len([x for x in m if "/status" not in x.topic]) >= 2021)
    order = [m.topic.rsplit("/", 1)[1] for m in got if not m.topic.endswith("/status")]
    assert order[0] == "badge", "the tap goes first"
    assert order[1:21] == ["sensor"] * 20
    for kind in ("ble", "sensor"):
        seqs = [seq_of(m.payload) for m in got if m.topic.endswith(kind)]
        assert seqs == sorted(seqs), f"{kind} keeps its own order"
