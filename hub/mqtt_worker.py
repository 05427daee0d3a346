"""The hub's MQTT connection, run in a process of its own (``python -m hub.mqtt_worker``).

paho reads the broker a few bytes at a time, releasing the interpreter lock at every socket read.
In the hub's own process it had to win the lock back from the ingest engine each time, and the
engine's batches made it wait: the hub drained a backlog at a third of the rate of a bare paho
subscriber. Here the connection has an interpreter to itself. It stamps each message as it
arrives, forwards messages to the hub in batches, and acknowledges and publishes on the hub's
behalf; the hub side is :class:`hub.mqtt_link.HubMqtt`.

The two processes talk over the child's stdin and stdout, in frames: a 4-byte big-endian length,
then a :mod:`marshal` body (both ends are the same interpreter; nothing else writes to these
pipes). Hub → worker: the :class:`WorkerSpec` as JSON first, then ``("a", [(mid, qos), …])``
acknowledgements, ``("p", topic, payload, qos, retain)`` publications and ``("s", timeout)``
to stop. Worker → hub: ``("m", [message, …])``, ``("c",)`` connected, ``("d", reason)``
disconnected. Messages are tuples ``(topic, payload, qos, mid, retain, time, monotonic,
verdict)``.

The worker screens BLE windows and sensor readings (:mod:`hub.admission`: authorised by topic,
validated against the wire contract) before forwarding them, and the verdict, a plain tuple,
travels with the message; the hub's engine applies it. It reads the broker in large chunks
(:mod:`vivant.mqtt_read_ahead`), which left it time to spare while the hub's process was the
busy one: screening here moved a fifth of the hub's work to the other core (about +13 % ingest
rate at QoS 0, CHANGELOG). Before read-ahead, screening here had made the worker the slow
process.

Back-pressure is kept: when the hub stops reading (its ingest queue is full), the pipe fills, the
worker's buffer fills, paho stops reading and the broker stops sending once the hub's in-flight
window is used up. Nothing is dropped. If the hub dies, the worker reads the end of its stdin and
exits without a clean disconnect, so the broker publishes the hub's Last Will (``offline``).
"""

from __future__ import annotations

import io
import json
import logging
import marshal
import os
import signal
import struct
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import IO, Any

import paho.mqtt.client as paho
from paho.mqtt.reasoncodes import ReasonCode

from hub.admission import Registry, Verdict
from hub.metrics import LogLimiter
from vivant.mqtt import MqttSettings, new_client
from vivant.wire.payloads import Status

log = logging.getLogger(__name__)

HEADER = struct.Struct("!I")
BUFFER_MESSAGES = 2000  # messages held by the worker while the hub is busy; then paho waits
BUSY_FRAME = 20  # after a frame this large, the next one may wait LINGER_S to fill up
LINGER_S = 0.001
Message = tuple[str, bytes, int, int, bool, float, float, Verdict | None]


@dataclass(frozen=True)
class WorkerSpec:
    """What the worker connects as and subscribes to (sent to it as JSON on start)."""

    settings: dict[str, Any]  # MqttSettings as JSON, password included
    client_id: str
    subscriptions: list[str]  # all at QoS 1
    status_topic: str
    announce: list[tuple[str, str]] = field(default_factory=list)  # retained on connect
    topic_root: str = ""  # of the nodes below
    nodes: list[tuple[str, str, list[str]]] = field(default_factory=list)  # site, node, rooms

    @staticmethod
    def nodes_of(registry: Registry) -> list[tuple[str, str, list[str]]]:
        """The registered nodes, as JSON: (site, node, the rooms it serves)."""
        return [(site, node, sorted(rooms)) for (site, node), rooms in registry.rooms.items()]

    def registry(self) -> Registry | None:
        """The nodes the worker screens messages of; ``None``: it screens nothing."""
        if not self.nodes:
            return None
        return Registry(
            self.topic_root, {(site, node): frozenset(rooms) for site, node, rooms in self.nodes}
        )

    @staticmethod
    def settings_of(settings: MqttSettings) -> dict[str, Any]:
        """The settings as JSON, with the password in clear (it travels over a private pipe)."""
        data = settings.model_dump(mode="json")
        if settings.password is not None:
            data["password"] = settings.password.get_secret_value()
        return data


def write_frame(stream: IO[bytes], frame: tuple[Any, ...]) -> None:
    """Write one frame, whole, to the stream's file descriptor (the caller serialises writers).

    Not through the stream's buffered ``write``: when a signal with a handler interrupts a large
    write to a full pipe, CPython's buffered writer (measured on 3.11) drops the rest of the
    chunk it was writing and goes on with the next one, so the reader takes the next frame's
    bytes for the end of this one and can never find a frame boundary again. Each partial
    ``os.write`` is continued here (an interrupted one with nothing written is retried by
    Python itself, PEP 475).
    """
    body = marshal.dumps(frame)
    data = memoryview(HEADER.pack(len(body)) + body)
    stream.flush()  # nothing buffered may come after the frame
    try:
        fd = stream.fileno()
    except io.UnsupportedOperation:  # an in-memory stream: no system call to interrupt
        stream.write(data)
        return
    while data:
        data = data[os.write(fd, data) :]


def read_frame(stream: IO[bytes]) -> Any:
    """Read one frame; ``None`` at the end of the stream."""
    header = _read_exactly(stream, HEADER.size)
    if header is None:
        return None
    (size,) = HEADER.unpack(header)
    body = _read_exactly(stream, size)
    if body is None:
        return None
    return marshal.loads(body)  # noqa: S302 (written by our own other end, see above)


def _read_exactly(stream: IO[bytes], size: int) -> bytes | None:
    """*size* bytes, or ``None`` at the end of the stream (a read may return fewer bytes)."""
    data = stream.read(size)
    while len(data) < size:
        more = stream.read(size - len(data))
        if not more:
            return None
        data += more
    return data


class Worker:
    """The connection: paho's network thread, a forwarding thread, and the command loop."""

    def __init__(self, spec: WorkerSpec, commands: IO[bytes], events: IO[bytes]) -> None:
        self.spec = spec
        self._commands = commands
        self._events = events
        self._write_lock = threading.Lock()
        self._limiter = LogLimiter(log)
        self._buffer: list[Message] = []
        self._ready = threading.Condition()
        self._stopping = False
        settings = MqttSettings.model_validate(spec.settings)
        self._settings = settings
        self._registry = spec.registry()
        self._client = new_client(settings, spec.client_id, clean_session=False, read_ahead=True)
        self._client.manual_ack_set(True)
        self._client.max_inflight_messages_set(200)
        self._client.reconnect_delay_set(min_delay=1, max_delay=30)
        self._client.will_set(spec.status_topic, Status.OFFLINE.value, qos=1, retain=True)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message

    def run(self) -> int:
        """Connect, forward, obey commands until told to stop (0) or the hub is gone (1)."""
        forwarder = threading.Thread(target=self._forward, name="vivant-mqtt-forward")
        forwarder.start()
        self._client.connect_async(
            self._settings.host, self._settings.port, self._settings.keepalive_s
        )
        self._client.loop_start()
        try:
            while True:
                frame = read_frame(self._commands)
                if frame is None:
                    return 1  # the hub is gone: no clean disconnect, the broker sends the Will
                kind = frame[0]
                if kind == "a":
                    for mid, qos in frame[1]:
                        self._client.ack(mid, qos)
                elif kind == "p":
                    _, topic, payload, qos, retain = frame
                    self._client.publish(topic, payload, qos=qos, retain=retain)
                elif kind == "s":
                    self._stop(float(frame[1]))
                    return 0
        finally:
            with self._ready:
                self._stopping = True
                self._ready.notify_all()

    def _stop(self, timeout: float) -> None:
        """Publish ``offline`` (the broker sends no Will on a clean disconnect), disconnect."""
        with self._ready:
            self._stopping = True
            self._ready.notify_all()
        if self._client.is_connected():
            info = self._client.publish(
                self.spec.status_topic, Status.OFFLINE.value, qos=1, retain=True
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

    def _send(self, frame: tuple[Any, ...]) -> None:
        with self._write_lock:
            write_frame(self._events, frame)

    def _forward(self) -> None:
        """Send what arrived, in one frame per wake-up: batches grow by themselves under load.

        When the last frame was large (the broker is sending a backlog), wait a little before
        the next one so that it fills up: woken for every message, this thread would take the
        interpreter lock back from paho's reads once per message. A lone message (a badge tap)
        is sent at once.
        """
        last = 0
        try:
            while True:
                with self._ready:
                    while not self._buffer and not self._stopping:
                        self._ready.wait()
                if last >= BUSY_FRAME and not self._stopping:
                    time.sleep(LINGER_S)
                with self._ready:
                    if not self._buffer:
                        return
                    batch, self._buffer = self._buffer, []
                    self._ready.notify_all()  # paho may be waiting for room
                self._send(("m", self._screen(batch)))
                last = len(batch)
        except (BrokenPipeError, ValueError, OSError):
            return  # the hub is gone

    def _screen(self, batch: list[Message]) -> list[Message]:
        """The batch with each message's verdict (``None``: not screened, the engine classifies
        it). A screening that fails unexpectedly (a bug) leaves that message unscreened: the
        engine screens it again and, if that fails too, isolates it (hub.ingest)."""
        registry = self._registry
        if registry is None:
            return batch
        screen = registry.screen
        try:
            return [(*m[:7], screen(m[0], m[1])) for m in batch]
        except Exception:  # a bug must not end the forwarder: found again below, message by message
            return [(*m[:7], self._screen_one(screen, m[0], m[1])) for m in batch]

    def _screen_one(
        self, screen: Callable[[str, bytes], Verdict | None], topic: str, payload: bytes
    ) -> Verdict | None:
        try:
            return screen(topic, payload)
        except Exception as error:  # logged; the message goes on unscreened
            self._limiter.warning("screening", "could not screen %s: %r", topic, error)
            return None

    # paho callbacks: run in paho's network thread.
    def _on_connect(
        self, client: paho.Client, _userdata: Any, _flags: Any, reason: ReasonCode, _props: Any
    ) -> None:
        if reason.is_failure:
            log.error("broker refused the hub: %s", reason)
            return
        log.info("hub connected to %s:%s", self._settings.host, self._settings.port)
        client.publish(self.spec.status_topic, Status.ONLINE.value, qos=1, retain=True)
        client.subscribe([(f, 1) for f in self.spec.subscriptions])
        for topic, payload in self.spec.announce:  # e.g. Home Assistant discovery, retained
            client.publish(topic, payload, qos=1, retain=True)
        self._send(("c",))

    def _on_disconnect(
        self, _client: paho.Client, _userdata: Any, _flags: Any, reason: ReasonCode, _props: Any
    ) -> None:
        self._send(("d", str(reason)))

    def _on_message(self, _client: paho.Client, _userdata: Any, message: paho.MQTTMessage) -> None:
        item = (
            message.topic,
            bytes(message.payload),
            message.qos,
            message.mid,
            bool(message.retain),
            time.time(),
            time.monotonic(),
            None,  # the verdict: screened by the forwarder
        )
        with self._ready:
            # Wait while the hub is behind (back-pressure: paho stops reading, the broker stops
            # sending once the in-flight window is used up), unless stopping.
            while len(self._buffer) >= BUFFER_MESSAGES and not self._stopping:
                self._ready.wait(0.5)
            self._buffer.append(item)
            if len(self._buffer) == 1:  # the forwarder waits only for an empty buffer
                self._ready.notify_all()


def spec_to_json(spec: WorkerSpec) -> bytes:
    """The first line the hub writes to a new worker."""
    return json.dumps(asdict(spec)).encode() + b"\n"


def main() -> int:
    """Read the spec from stdin, then serve the hub until told to stop."""
    # The hub stops its worker itself (it publishes ``offline`` first): a Ctrl-C or a SIGTERM
    # sent to the whole process group must not cut the connection under it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(
        level=logging.INFO, format="%(levelname)s:     [mqtt worker] %(name)s: %(message)s"
    )
    commands, events = sys.stdin.buffer, sys.stdout.buffer
    line = commands.readline()
    if not line:
        return 1
    raw = json.loads(line)
    spec = WorkerSpec(
        settings=raw["settings"],
        client_id=raw["client_id"],
        subscriptions=list(raw["subscriptions"]),
        status_topic=raw["status_topic"],
        announce=[(t, p) for t, p in raw["announce"]],
        topic_root=raw["topic_root"],
        nodes=[(site, node, list(rooms)) for site, node, rooms in raw["nodes"]],
    )
    sys.stdout = sys.stderr  # stdout carries frames only
    status = Worker(spec, commands, events).run()
    if status:
        os._exit(status)  # do not wait for paho's thread: the hub is gone
    return status


if __name__ == "__main__":
    sys.exit(main())
