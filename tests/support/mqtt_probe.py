"""A plain paho client that logs in as someone (password, TLS) and says what the broker answered.

For broker security tests: the CONNACK of a login, the SUBACK codes of a subscription, the PUBACK
of a publication, and every message received. No Vivant code inside, so it tests the broker and
the generated files only.
"""

from __future__ import annotations

import secrets
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

SUBACK_FAILURE = 0x80


@dataclass(frozen=True)
class Message:
    """One message received."""

    topic: str
    payload: bytes
    retain: bool


class Probe:
    """One MQTT 3.1.1 client on 127.0.0.1:*port*, driven step by step from a test."""

    def __init__(
        self,
        port: int,
        *,
        username: str | None = None,
        password: str | None = None,
        client_id: str | None = None,
        clean_session: bool = True,
        tls: ssl.SSLContext | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.host, self.port = host, port
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"probe-{secrets.token_hex(4)}",
            clean_session=clean_session,
            protocol=paho.MQTTv311,
        )
        if username is not None:
            self.client.username_pw_set(username, password)
        if tls is not None:
            self.client.tls_set_context(tls)
        self.client.reconnect_delay_set(1, 1)
        self._lock = threading.Lock()
        self._messages: list[Message] = []
        self._connack = threading.Event()
        self.connect_reason: ReasonCode | None = None
        self._subacks: dict[int, list[ReasonCode]] = {}
        self._suback = threading.Condition()
        self.disconnects = 0
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message

    def _on_connect(self, _c: Any, _u: Any, _f: Any, reason: ReasonCode, _p: Any) -> None:
        self.connect_reason = reason
        self._connack.set()

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, _reason: ReasonCode, _p: Any) -> None:
        self.disconnects += 1

    def _on_subscribe(self, _c: Any, _u: Any, mid: int, reasons: list[ReasonCode], _p: Any) -> None:
        with self._suback:
            self._subacks[mid] = list(reasons)
            self._suback.notify_all()

    def _on_message(self, _c: Any, _u: Any, message: paho.MQTTMessage) -> None:
        with self._lock:
            self._messages.append(Message(message.topic, bytes(message.payload), message.retain))

    def connect(self, timeout: float = 5.0) -> ReasonCode:
        """Connect and return the CONNACK's reason (success or why the broker refused)."""
        self.client.connect(self.host, self.port, keepalive=5)
        self.client.loop_start()
        assert self._connack.wait(timeout), "no CONNACK"
        assert self.connect_reason is not None
        if self.connect_reason.is_failure:
            self.close()  # paho would keep retrying a refused login
        return self.connect_reason

    def subscribe(self, topic_filter: str, timeout: float = 5.0) -> int:
        """Subscribe at QoS 1; the SUBACK's code (1 granted, 0x80 refused)."""
        result, mid = self.client.subscribe(topic_filter, qos=1)
        assert result == paho.MQTT_ERR_SUCCESS, f"subscribe failed locally: {result}"
        assert mid is not None
        with self._suback:
            assert self._suback.wait_for(lambda: mid in self._subacks, timeout), "no SUBACK"
            return self._subacks[mid][0].value

    def publish(self, topic: str, payload: bytes | str, *, retain: bool = False) -> None:
        """Publish at QoS 1 and wait for the PUBACK (the broker acknowledges refused ones too)."""
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(timeout=5)
        assert info.is_published(), f"no PUBACK for {topic}"

    def messages(self, topic: str | None = None) -> list[Message]:
        """Messages received so far (on *topic* only, if given)."""
        with self._lock:
            return [m for m in self._messages if topic is None or m.topic == topic]

    def wait_for(self, topic: str, count: int = 1, within: float = 5.0) -> list[Message]:
        """Wait until *count* messages arrived on *topic*; fail after *within* seconds."""
        deadline = time.monotonic() + within
        while len(got := self.messages(topic)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(got)}/{count} message(s) on {topic} in {within} s")
            time.sleep(0.02)
        return got

    def close(self) -> None:
        """Disconnect and stop the network thread."""
        self.client.disconnect()
        self.client.loop_stop()


@contextmanager
def logged_in(port: int, **options: Any) -> Iterator[Probe]:
    """A connected :class:`Probe`; fails the test if the broker refuses the login."""
    probe = Probe(port, **options)
    reason = probe.connect()
    assert not reason.is_failure, f"login refused: {reason}"
    try:
        yield probe
    finally:
        probe.close()
