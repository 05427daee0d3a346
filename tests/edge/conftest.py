"""Edge test helpers: configs pointing at a test broker, a plain paho subscriber, agent runners."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge.agent import EdgeAgent
from edge.config import EdgeConfig
from tests.support.mosquitto import PrivateBroker

KEY = "test-site-credential-key"
SITE = "viry"
NODE = "entrance-pi"

ConfigFactory = Callable[..., EdgeConfig]


def edge_config_data(broker_url: str, topic_root: str, outbox: Path) -> dict[str, Any]:
    """A valid edge configuration, as the YAML file would hold it; tests adjust it."""
    return {
        "site": SITE,
        "node": NODE,
        "rooms": ["lobby", "kitchen"],
        "mqtt": {"url": broker_url, "topic_root": topic_root, "keepalive_s": 5},
        "credential_key": KEY,
        "outbox": {"path": str(outbox)},
        "telemetry_interval_s": 60,
        "reconnect": {"min_s": 0.05, "max_s": 0.3},
        "shutdown_flush_s": 2.0,
        "badge_readers": [
            {"id": "entrance", "room": "lobby", "kind": "fake"},
            {"id": "coffee", "room": "kitchen", "kind": "fake", "debounce_s": 0},
        ],
    }


@pytest.fixture
def make_config(tmp_path: Path, broker: PrivateBroker, topic_root: str) -> ConfigFactory:
    """Build an :class:`EdgeConfig` for the private broker; keyword arguments override keys."""

    def make(**overrides: Any) -> EdgeConfig:
        data = edge_config_data(broker.url, topic_root, tmp_path / "outbox.sqlite3")
        data.update(overrides)
        return EdgeConfig.model_validate(data)

    return make


@dataclass(frozen=True)
class Received:
    """One message a :class:`Subscriber` got."""

    topic: str
    payload: bytes
    retain: bool


class Subscriber:
    """A plain paho client recording what arrives on one topic filter (no Vivant code)."""

    def __init__(
        self,
        url: str,
        topic_filter: str,
        *,
        client_id: str | None = None,
        clean_session: bool = True,
    ) -> None:
        parts = urlsplit(url)
        self._host, self._port = parts.hostname or "127.0.0.1", parts.port or 1883
        self._filter = topic_filter
        self._lock = threading.Lock()
        self._messages: list[Received] = []
        self._subscribed = threading.Event()
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"test-sub-{secrets.token_hex(4)}",
            clean_session=clean_session,
            protocol=paho.MQTTv311,
        )
        self.client.reconnect_delay_set(1, 1)
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *_: self._subscribed.set()

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        with self._lock:
            self._messages.append(Received(message.topic, bytes(message.payload), message.retain))

    def start(self) -> Subscriber:
        """Connect, subscribe at QoS 1, and wait for the broker's SUBACK."""
        self.client.connect(self._host, self._port, keepalive=5)
        self.client.loop_start()
        self.client.subscribe(self._filter, qos=1)
        assert self._subscribed.wait(5), "no SUBACK"
        return self

    def close(self) -> None:
        """Disconnect and stop the network thread."""
        self.client.disconnect()
        self.client.loop_stop()

    def messages(self, suffix: str = "") -> list[Received]:
        """Messages received so far whose topic ends with *suffix*."""
        with self._lock:
            return [m for m in self._messages if m.topic.endswith(suffix)]

    def payloads(self, suffix: str) -> list[bytes]:
        """Payloads received on topics ending with *suffix*."""
        return [m.payload for m in self.messages(suffix)]

    def wait_for(
        self, suffix: str, predicate: Callable[[list[Received]], bool], within_s: float = 5.0
    ) -> list[Received]:
        """Poll until *predicate* holds for the messages on *suffix*; fail after *within_s*."""
        deadline = time.monotonic() + within_s
        while True:
            got = self.messages(suffix)
            if predicate(got):
                return got
            if time.monotonic() > deadline:
                tail = [m.payload for m in got[-3:]]
                raise AssertionError(f"timed out on {suffix!r}: {len(got)} message(s), last {tail}")
            time.sleep(0.02)


@contextlib.contextmanager
def subscribed(url: str, topic_filter: str, **kwargs: Any) -> Iterator[Subscriber]:
    """A started :class:`Subscriber`, closed on exit."""
    subscriber = Subscriber(url, topic_filter, **kwargs).start()
    try:
        yield subscriber
    finally:
        subscriber.close()


@contextlib.asynccontextmanager
async def running(agent: EdgeAgent, connect_timeout: float = 5.0) -> AsyncIterator[EdgeAgent]:
    """Run *agent* in a task until the block ends; waits for its first connection."""
    task = asyncio.create_task(agent.run())
    try:
        async with asyncio.timeout(connect_timeout):
            await agent.wait_connected()
        yield agent
    finally:
        agent.stop()
        await task


async def wait_until(predicate: Callable[[], bool], within_s: float = 5.0) -> None:
    """Poll *predicate* from a coroutine until it holds; fail after *within_s* seconds."""
    deadline = time.monotonic() + within_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)
