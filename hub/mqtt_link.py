"""The hub's MQTT connection: status and Last Will, subscription, manual acknowledgements.

The connection itself runs in a worker process (:mod:`hub.mqtt_worker`), so that paho's network
loop does not compete with the ingest engine for the interpreter lock; this module is the hub's
side of it. The worker screens BLE windows and sensor readings (:mod:`hub.admission`) against the
registry it is given; a reader thread turns its batches, verdicts included, into
:class:`Inbound` messages on the bounded ingest queue (:mod:`hub.inbox`); it never touches the
database.

Acknowledgements are manual (``manual_ack_set``): a QoS 1 message is acknowledged to the broker
only after the batch that holds it is committed, so a hub killed at any moment loses nothing it
had acknowledged: the broker redelivers the rest, and deduplication by (node, id) drops what had
been applied but not yet acknowledged.

When the queue is full the reader waits, the pipe and then the worker's buffer fill up, and the
broker stops sending once its in-flight window for the hub is used up. That is the
back-pressure; nothing is dropped. If the worker dies, it is started again: the broker redelivers
what was not acknowledged (acknowledgements meant for the dead worker are not sent to the new
one, whose message ids are its own).
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
import sys
import threading
import time
from typing import IO, Any

from hub.admission import Registry
from hub.inbox import Inbound, Inbox
from hub.mqtt_worker import Message, WorkerSpec, read_frame, spec_to_json, write_frame
from vivant.mqtt import MqttSettings, new_client

log = logging.getLogger(__name__)


class HubMqtt:
    """Connects the hub to the broker and feeds the (thread-safe, bounded) ingest queue."""

    def __init__(
        self,
        settings: MqttSettings,
        inbox: Inbox,
        *,
        client_id: str = "vivant-hub",
        extra_subscriptions: list[str] | None = None,
        on_connect_publish: list[tuple[str, bytes]] | None = None,
        subscriptions: list[str] | None = None,
        link: str = "",
        status_topic: str | None = None,
        registry: Registry | None = None,
    ) -> None:
        """*registry*: the nodes whose BLE windows and sensor readings the worker screens
        (``None``: none, the engine classifies every message itself)."""
        self.settings = settings
        self.topics = settings.topics
        self.link = link
        self._queue = inbox
        self._stopping = threading.Event()
        self.connected = threading.Event()
        if link:  # one persistent session per group of sites (see hub.cluster)
            client_id = f"{settings.client_id or client_id}-{link}"
            settings = settings.model_copy(update={"client_id": client_id})
        new_client(settings, client_id)  # fails here, in the hub, on unusable TLS files
        self._spec = WorkerSpec(
            settings=WorkerSpec.settings_of(settings),
            client_id=client_id,
            subscriptions=[
                *(subscriptions or [self.topics.everything]),
                *(extra_subscriptions or []),
            ],
            status_topic=status_topic or self.topics.hub_status,
            announce=[(t, p.decode("utf-8")) for t, p in on_connect_publish or []],
            topic_root=registry.root if registry else "",
            nodes=WorkerSpec.nodes_of(registry) if registry else [],
        )
        self._write_lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._worker = 0  # the current worker process, counted from 1
        self._reader: threading.Thread | None = None

    def start(self) -> None:
        """Start the worker process; it connects in the background and reconnects by itself."""
        self._spawn()

    def _spawn(self) -> None:
        self._worker += 1
        process = subprocess.Popen(
            [sys.executable, "-m", "hub.mqtt_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert process.stdin is not None
        process.stdin.write(spec_to_json(self._spec))
        process.stdin.flush()
        self._process = process
        self._reader = threading.Thread(
            target=self._read,
            args=(process, self._worker),
            name=f"vivant-mqtt-reader{'-' + self.link if self.link else ''}",
            daemon=True,
        )
        self._reader.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Have the worker publish ``offline`` (no Will on a clean disconnect) and disconnect."""
        self._stopping.set()
        process = self._process
        if process is None:
            return
        with contextlib.suppress(OSError):  # already gone
            self._command(("s", timeout))
        try:
            process.wait(timeout + 5)
        except subprocess.TimeoutExpired:
            log.warning("MQTT worker did not stop; killing it")
            process.kill()
            process.wait()
        if self._reader is not None:
            self._reader.join(timeout)
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                stream.close()
        self.connected.clear()

    def publish(
        self, topic: str, payload: bytes | str, *, qos: int = 1, retain: bool = False
    ) -> None:
        """Publish from any thread (queued by the worker while it is disconnected)."""
        body = payload.encode("utf-8") if isinstance(payload, str) else payload
        try:
            self._command(("p", topic, body, qos, retain))
        except OSError:
            log.warning("MQTT worker unavailable; not published on %s", topic)

    def publish_retained_or_not(self, topic: str, payload: bytes, retain: bool) -> None:
        """Publish at QoS 1, retained or not (the ingest engine's output)."""
        self.publish(topic, payload, qos=1, retain=retain)

    def ack(self, messages: list[Inbound]) -> None:
        """Acknowledge QoS 1 messages once they are committed (to the worker that got them)."""
        pending = [(m.mid, m.qos) for m in messages if m.qos > 0 and m.worker == self._worker]
        if not pending:
            return
        with contextlib.suppress(OSError):  # the worker died: the broker redelivers them
            self._command(("a", pending))

    def _command(self, frame: tuple[Any, ...]) -> None:
        process = self._process
        if process is None or process.stdin is None:
            raise OSError("MQTT worker not started")
        with self._write_lock:
            write_frame(process.stdin, frame)

    def _read(self, process: subprocess.Popen[bytes], worker: int) -> None:
        """Reader thread: the worker's frames onto the ingest queue, until it ends."""
        stream: IO[bytes] | None = process.stdout
        assert stream is not None
        try:
            while (frame := read_frame(stream)) is not None:
                kind = frame[0]
                if kind == "m":
                    self._enqueue(frame[1], worker)
                elif kind == "c":
                    self.connected.set()
                elif kind == "d":
                    self.connected.clear()
                    if not self._stopping.is_set():
                        log.warning("hub lost the broker (%s); reconnecting", frame[1])
        except (OSError, ValueError, EOFError):
            if not self._stopping.is_set():  # else: closed while stopping
                # The worker would wait forever for us to read: end it, a new one takes over.
                log.exception("unreadable frame from the MQTT worker; ending it")
                process.kill()
        self.connected.clear()
        if self._stopping.is_set():
            return
        code = process.wait()
        log.error("MQTT worker exited (status %s); starting it again", code)
        time.sleep(1.0)  # a worker failing at start must not spin
        if not self._stopping.is_set():
            self._spawn()

    def _enqueue(self, batch: list[Message], worker: int) -> None:
        link = self.link
        items = [
            Inbound(
                topic, payload, qos, mid, retain, received_at, received_mono, link, worker, verdict
            )
            for topic, payload, qos, mid, retain, received_at, received_mono, verdict in batch
        ]
        # Waits while the inbox is full (back-pressure, see the module docstring), unless the hub
        # is stopping.
        self._queue.put_many(items, self._stopping)
