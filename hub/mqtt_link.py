"""The hub's MQTT connection: status and Last Will, subscription, manual acknowledgements.

The paho network thread only hands each message to the ingest queue; it never touches the
database. Acknowledgements are manual (``manual_ack_set``): a QoS 1 message is acknowledged to the
broker only after the batch that holds it is committed, so a hub killed at any moment loses
nothing it had acknowledged: the broker redelivers the rest, and deduplication by (node, id)
drops what had been applied but not yet acknowledged.

When the queue is full the network thread waits: the broker stops sending once its in-flight
window for the hub is used up. That is the back-pressure; nothing is dropped.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.reasoncodes import ReasonCode

from vivant.mqtt import MqttSettings, new_client
from vivant.wire.payloads import Status

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Inbound:
    """One message as received, before any validation."""

    topic: str
    payload: bytes
    qos: int
    mid: int
    retain: bool
    received_at: float  # time.time()
    received_mono: float  # time.monotonic(), for latency
    link: str = ""  # which connection it came by (its mid is that connection's)


class HubMqtt:
    """Connects the hub to the broker and feeds the (thread-safe, bounded) ingest queue."""

    def __init__(
        self,
        settings: MqttSettings,
        inbox: queue.Queue[Inbound],
        *,
        client_id: str = "vivant-hub",
        on_received: Callable[[], None] | None = None,
        extra_subscriptions: list[str] | None = None,
        on_connect_publish: list[tuple[str, bytes]] | None = None,
        subscriptions: list[str] | None = None,
        link: str = "",
        status_topic: str | None = None,
    ) -> None:
        self.settings = settings
        self.topics = settings.topics
        self.link = link
        self._subscriptions = subscriptions or [self.topics.everything]
        self._status_topic = status_topic or self.topics.hub_status
        self._queue = inbox
        self._on_received = on_received
        self._extra = list(extra_subscriptions or [])
        self._announce = list(on_connect_publish or [])
        self._stopping = threading.Event()
        self.connected = threading.Event()
        if link:  # one persistent session per group of sites (see hub.cluster)
            client_id = f"{settings.client_id or client_id}-{link}"
            settings = settings.model_copy(update={"client_id": client_id})
        self._client = new_client(settings, client_id, clean_session=False)
        self._client.manual_ack_set(True)
        self._client.max_inflight_messages_set(200)
        self._client.reconnect_delay_set(min_delay=1, max_delay=30)
        self._client.will_set(self._status_topic, Status.OFFLINE.value, qos=1, retain=True)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message

    def start(self) -> None:
        """Connect in the background; paho reconnects by itself after a drop."""
        self._client.connect_async(
            self.settings.host, self.settings.port, self.settings.keepalive_s
        )
        self._client.loop_start()

    def stop(self, timeout: float = 5.0) -> None:
        """Publish ``offline`` (the broker sends no Will on a clean disconnect) and disconnect."""
        self._stopping.set()
        if self._client.is_connected():
            info = self._client.publish(
                self._status_topic, Status.OFFLINE.value, qos=1, retain=True
            )
            deadline = time.monotonic() + timeout
            while (
                not info.is_published()
                and time.monotonic() < deadline
                and self._client.is_connected()
            ):
                time.sleep(0.01)
        self._client.disconnect()
        self._client.loop_stop()

    def publish(
        self, topic: str, payload: bytes | str, *, qos: int = 1, retain: bool = False
    ) -> None:
        """Publish from any thread (paho queues it while disconnected)."""
        self._client.publish(topic, payload, qos=qos, retain=retain)

    def publish_retained_or_not(self, topic: str, payload: bytes, retain: bool) -> None:
        """Publish at QoS 1, retained or not (the ingest engine's output)."""
        self.publish(topic, payload, qos=1, retain=retain)

    def ack(self, messages: list[Inbound]) -> None:
        """Acknowledge QoS 1 messages once they are committed."""
        for message in messages:
            if message.qos > 0:
                self._client.ack(message.mid, message.qos)

    # paho callbacks: run in paho's network thread.
    def _on_connect(
        self, client: paho.Client, _userdata: Any, _flags: Any, reason: ReasonCode, _props: Any
    ) -> None:
        if reason.is_failure:
            log.error("broker refused the hub: %s", reason)
            return
        log.info("hub connected to %s:%s", self.settings.host, self.settings.port)
        client.publish(self._status_topic, Status.ONLINE.value, qos=1, retain=True)
        client.subscribe([*((f, 1) for f in self._subscriptions), *((f, 1) for f in self._extra)])
        for topic, payload in self._announce:  # e.g. Home Assistant discovery, retained
            client.publish(topic, payload, qos=1, retain=True)
        self.connected.set()

    def _on_disconnect(
        self, _client: paho.Client, _userdata: Any, _flags: Any, reason: ReasonCode, _props: Any
    ) -> None:
        self.connected.clear()
        if not self._stopping.is_set():
            log.warning("hub lost the broker (%s); reconnecting", reason)

    def _on_message(self, _client: paho.Client, _userdata: Any, message: paho.MQTTMessage) -> None:
        item = Inbound(
            topic=message.topic,
            payload=bytes(message.payload),
            qos=message.qos,
            mid=message.mid,
            retain=bool(message.retain),
            received_at=time.time(),
            received_mono=time.monotonic(),
            link=self.link,
        )
        if self._on_received is not None:
            self._on_received()
        # Wait while the queue is full (back-pressure: the broker stops sending once the hub's
        # in-flight window is used up), unless the hub is stopping.
        while not self._stopping.is_set():
            try:
                self._queue.put(item, timeout=0.5)
                return
            except queue.Full:
                continue
