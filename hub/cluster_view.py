"""What a hub process knows of the sites other processes serve (:mod:`hub.cluster`).

The staff pages must show every site, whichever process a browser reached. Room occupancy is
already public within the broker: each serving process publishes every room's estimate retained
on ``<root>/<site>/occupancy/<room>``. A process of a cluster subscribes to those topics on a
connection of its own (clean session: only the retained and live estimates matter) and keeps,
for the sites it does not serve, the latest estimate of each room. It never holds anything about
a member: occupancy is a count.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.reasoncodes import ReasonCode
from pydantic import ValidationError

from hub.occupancy import OccupancyEstimate
from vivant.mqtt import MqttSettings, new_client
from vivant.wire.payloads import MAX_PAYLOAD_BYTES, Occupancy
from vivant.wire.topics import OccupancyTopic, TopicError

log = logging.getLogger(__name__)


class OccupancyWatch:
    """Latest occupancy estimate of each room of the sites served elsewhere."""

    def __init__(
        self, settings: MqttSettings, client_id: str, served: Callable[[], set[str]]
    ) -> None:
        self._topics = settings.topics
        self._served = served
        self._lock = threading.Lock()
        self._estimates: dict[str, dict[str, OccupancyEstimate]] = {}
        watch = settings.model_copy(update={"client_id": client_id})
        self._client = new_client(watch, client_id, clean_session=True)
        self._client.reconnect_delay_set(min_delay=1, max_delay=30)
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._settings = settings
        self.rejected = 0

    def start(self) -> None:
        """Connect in the background (paho reconnects by itself)."""
        self._client.connect_async(self._settings.host, self._settings.port)
        self._client.loop_start()

    def stop(self) -> None:
        """Disconnect."""
        self._client.disconnect()
        self._client.loop_stop()

    def site(self, site_id: str) -> dict[str, OccupancyEstimate]:
        """The rooms of *site_id* with an estimate (empty for a site this process serves)."""
        if site_id in self._served():
            return {}
        with self._lock:
            return dict(self._estimates.get(site_id, {}))

    def _on_connect(
        self, client: paho.Client, _userdata: Any, _flags: Any, reason: ReasonCode, _props: Any
    ) -> None:
        if reason.is_failure:
            log.error("broker refused the occupancy watch: %s", reason)
            return
        client.subscribe(f"{self._topics.root}/+/occupancy/+", qos=1)

    def _on_message(self, _client: paho.Client, _userdata: Any, message: paho.MQTTMessage) -> None:
        try:
            parsed = self._topics.parse(message.topic)
            if not isinstance(parsed, OccupancyTopic) or len(message.payload) > MAX_PAYLOAD_BYTES:
                raise TopicError(message.topic)
            payload = Occupancy.model_validate_json(message.payload) if message.payload else None
        except (TopicError, ValidationError):
            self.rejected += 1
            return
        with self._lock:
            rooms = self._estimates.setdefault(parsed.site, {})
            if payload is None:  # a retained estimate cleared
                rooms.pop(parsed.room, None)
                return
            rooms[parsed.room] = OccupancyEstimate(
                count=payload.count,
                confidence=payload.confidence,
                flags=tuple(sorted(payload.flags)),
                updated_ms=payload.updated,
            )
