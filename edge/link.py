"""The node's MQTT link: availability, ordered at-least-once delivery from the outbox, commands in.

Rules it keeps (zigbee2mqtt / ESPresense hygiene, plus what a durable outbox needs):

* Availability: the Last Will is ``offline`` (retained, QoS 1) on ``<root>/<site>/<node>/status``;
  every successful connect publishes a retained ``online``; a clean stop publishes ``offline``
  itself, because the broker sends the Will only when a connection dies uncleanly.
* Delivery: messages are taken from the :class:`~edge.outbox.Outbox` in sequence order, at most
  *window* of them unacknowledged at a time, and a row is deleted only when its PUBACK arrives.
* Lanes: with *lanes* (topics, most urgent first), the window is filled from each lane in turn,
  each in its own sequence order, then from everything else. The agent puts badges first, then
  sensors, then BLE: after an outage, a tap is sent at once instead of waiting behind hours of
  replayed BLE windows; every topic still arrives in observation order.
* Order across reconnects: paho keeps the QoS 1 messages it has not seen acknowledged and sends
  them again (DUP) after it reconnects. Nothing new is handed to paho until every one of those is
  acknowledged, so the receiver sees ids in order once repeats are dropped.
* Reconnects: exponential backoff with jitter, computed here (:class:`Backoff`) because paho's own
  delays are fixed powers of two, so a fleet of nodes would hammer a restarted broker in step.
* Inbound: the node's ``config`` and ``command`` topics, QoS 1, on a persistent session so a
  command sent while the node is away waits at the broker. Bad payloads are logged and counted,
  never fatal. The node subscribes to nothing it publishes, so it never hears itself.

Threading: one thread owns the paho client and runs its network loop with paho's external-loop
API (``loop_read`` / ``loop_write`` / ``loop_misc`` around our own ``select``, which also watches a
wake-up socket). paho's callbacks and every ``publish`` therefore run in that thread, so there is
no lock between paho's internals and ours; other threads only call :meth:`MqttLink.wake`,
:meth:`MqttLink.publish_state` and :meth:`MqttLink.stop`.
"""

from __future__ import annotations

import contextlib
import logging
import random
import select
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

import paho.mqtt.client as paho
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edge.config import EdgeConfig
from edge.outbox import Outbox, OutboxEntry
from vivant.mqtt import MqttSettings, new_client
from vivant.wire.codec import decode_command, decode_config
from vivant.wire.errors import Rejected
from vivant.wire.payloads import Command, NodeConfig, Status
from vivant.wire.topics import EdgeKind, HubKind

log = logging.getLogger(__name__)

_IDLE_WAIT_S: Final = 1.0  # longest select(); paho's keepalive check runs at least this often
_SHUTDOWN_WAIT_S: Final = 0.05
_OFFLINE_ACK_WAIT_S: Final = 1.0
_DISCONNECT_WAIT_S: Final = 0.5
_ERROR_PAUSE_S: Final = 1.0
# Room for the retained status and state messages besides the outbox window, so paho never
# queues a message itself (its queued state would complicate the resend order after a reconnect).
_PAHO_SPARE_INFLIGHT: Final = 16

_Inbound = TypeVar("_Inbound", NodeConfig, Command)
ConfigHandler = Callable[[NodeConfig], None]
CommandHandler = Callable[[Command], None]
ConnectionHandler = Callable[[bool], None]


class Backoff:
    """Exponential backoff with "equal jitter": the *n*-th delay is uniform in [d/2, d].

    ``d = min(max_s, min_s * 2**n)``. Half of it is kept so a node never hammers a broker that is
    down; the random half spreads the nodes of a site that all lost the broker at once.
    """

    def __init__(self, min_s: float, max_s: float, rng: random.Random | None = None) -> None:
        if not 0 < min_s <= max_s:
            raise ValueError("backoff needs 0 < min_s <= max_s")
        self._min_s = min_s
        self._max_s = max_s
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not security
        self._attempt = 0

    def next(self) -> float:
        """The delay before the next attempt, seconds."""
        ceiling = min(self._max_s, self._min_s * 2 ** min(self._attempt, 32))
        self._attempt += 1
        return self._rng.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        """Start again from ``min_s`` (after a successful connection)."""
        self._attempt = 0


@dataclass
class LinkStats:
    """Counters of one link since it started (read from any thread)."""

    connects: int = 0
    connection_losses: int = 0
    acked: int = 0
    undeliverable: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    """Inbound messages refused, by ``"<kind>:<reason>"`` (``config:invalid_payload``, …)."""
    handler_errors: int = 0


class MqttLink:
    """Connects one node to the broker and drains its outbox in order."""

    def __init__(
        self,
        settings: MqttSettings,
        *,
        site: str,
        node: str,
        outbox: Outbox,
        client_id: str,
        on_config: ConfigHandler | None = None,
        on_command: CommandHandler | None = None,
        on_connection: ConnectionHandler | None = None,
        window: int = 100,
        backoff: Backoff | None = None,
        lanes: Sequence[str] = (),
    ) -> None:
        if window < 1:
            raise ValueError("window must be at least 1")
        topics = settings.topics
        self.status_topic = topics.node(site, node, EdgeKind.STATUS)
        self._config_topic = topics.node(site, node, HubKind.CONFIG)
        self._command_topic = topics.node(site, node, HubKind.COMMAND)
        self._settings = settings
        self._site = site
        self._node = node
        self._outbox = outbox
        self._on_config = on_config
        self._on_command = on_command
        self._on_connection = on_connection
        self._window = window
        self._backoff = backoff or Backoff(1.0, 60.0)
        self.stats = LinkStats()

        client = new_client(settings, client_id, clean_session=False)
        client.max_inflight_messages_set(window + _PAHO_SPARE_INFLIGHT)
        client.will_set(self.status_topic, Status.OFFLINE.value, qos=1, retain=True)
        client.on_connect = self._handle_connect
        client.on_disconnect = self._handle_disconnect
        client.on_publish = self._handle_publish
        client.on_message = self._handle_message
        if log.isEnabledFor(logging.DEBUG):
            # paho reports an ordinary lost connection at ERROR level; our own lines say it
            # once, with the retry delay, so paho's are only wanted when debugging.
            client.enable_logger(logging.getLogger(f"{__name__}.paho"))
        self._client = client

        # Shared with other threads.
        self._lock = threading.Lock()
        self._states: dict[str, bytes] = {}
        self._connected_event = threading.Event()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._thread: threading.Thread | None = None
        self._stop_at: float | None = None
        self._flush_until = 0.0
        self._outbox_dirty = True

        # Owned by the link thread.
        self._connected = False
        self._next_attempt = 0.0
        self._inflight: dict[int, int | None] = {}  # paho mid -> outbox seq (None: not outbox)
        self._data_inflight = 0
        self._early_acks: set[int] = set()
        self._acked: list[int] = []
        self._lanes: tuple[str, ...] = tuple(lanes)
        # Highest seq handed to paho, per lane (None: every topic not in a lane).
        self._cursors: dict[str | None, int] = dict.fromkeys((*self._lanes, None), 0)
        self._hold = False  # a reconnect happened with outbox messages unacknowledged
        self._phase = "running"
        self._phase_deadline = 0.0
        self._offline_mid: int | None = None

    @classmethod
    def from_config(
        cls,
        config: EdgeConfig,
        outbox: Outbox,
        *,
        on_config: ConfigHandler | None = None,
        on_command: CommandHandler | None = None,
        on_connection: ConnectionHandler | None = None,
    ) -> MqttLink:
        """A link for the node an :class:`~edge.config.EdgeConfig` describes."""
        return cls(
            config.mqtt,
            site=config.site,
            node=config.node,
            outbox=outbox,
            client_id=config.client_id,
            on_config=on_config,
            on_command=on_command,
            on_connection=on_connection,
            window=config.inflight_window,
            backoff=Backoff(config.reconnect.min_s, config.reconnect.max_s),
            lanes=[
                config.mqtt.topics.node(config.site, config.node, kind)
                for kind in (EdgeKind.BADGE, EdgeKind.SENSOR, EdgeKind.BLE)
            ],
        )

    # -- API for other threads --------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Whether the broker accepted the connection and it is up."""
        return self._connected_event.is_set()

    @property
    def alive(self) -> bool:
        """Whether the network thread runs (false before :meth:`start` and after a crash)."""
        return self._thread is not None and self._thread.is_alive()

    def wait_connected(self, timeout: float) -> bool:
        """Block until connected or *timeout* seconds passed; returns :attr:`connected`."""
        return self._connected_event.wait(timeout)

    def start(self) -> None:
        """Start the network thread; it connects, and reconnects, on its own."""
        if self._thread is not None:
            raise RuntimeError("the MQTT link was already started")
        self._thread = threading.Thread(
            target=self._run, name=f"vivant-link-{self._node}", daemon=True
        )
        self._thread.start()

    def wake(self) -> None:
        """Tell the link the outbox has new messages (any thread)."""
        self._outbox_dirty = True
        self._poke()

    def publish_state(self, kind: EdgeKind, payload: bytes) -> None:
        """Publish retained QoS 1 state (telemetry) now, or at the next connect; latest wins."""
        topic = self._settings.topics.node(self._site, self._node, kind)
        with self._lock:
            self._states[topic] = payload
        self._poke()

    def stop(self, timeout: float = 5.0, flush_s: float = 3.0) -> None:
        """Send what the outbox holds for up to *flush_s*, publish ``offline``, disconnect.

        Returns within about *timeout* seconds; what was not acknowledged stays in the outbox.
        """
        thread = self._thread
        if thread is None:
            self._close_wake()
            return
        if self._stop_at is None:
            now = time.monotonic()
            self._flush_until = now + min(flush_s, timeout)
            self._stop_at = now + timeout
            self._poke()
        thread.join(timeout + 2 * _DISCONNECT_WAIT_S)
        if thread.is_alive():
            log.error("MQTT link of node %s did not stop in %.1f s", self._node, timeout)

    # -- network thread ----------------------------------------------------------------------

    def _poke(self) -> None:
        # BlockingIOError: already awake; OSError: closed after the link stopped.
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")

    def _close_wake(self) -> None:
        self._wake_r.close()
        self._wake_w.close()

    def _run(self) -> None:
        client = self._client
        try:
            client.connect_async(
                self._settings.host, self._settings.port, self._settings.keepalive_s
            )
            while self._phase != "done":
                try:
                    self._step()
                except Exception:
                    # A bug or a failing disk must not silence the node for good: log, pause,
                    # carry on; the outbox still holds everything not acknowledged.
                    if self._stop_at is not None:
                        raise
                    log.exception("MQTT link of node %s: error, carrying on", self._node)
                    self._pause(_ERROR_PAUSE_S)
        except Exception:
            log.exception("MQTT link of node %s failed", self._node)
        finally:
            if self._connected:
                self._connected = False
                self._notify_connection(False)
            self._connected_event.clear()
            sock = client.socket()
            if sock is not None:
                # Only after a failure or a DISCONNECT that could not be written in time.
                sock.close()
            self._close_wake()

    def _step(self) -> None:
        now = time.monotonic()
        if self._stop_at is not None:
            self._shutdown_step(now)
            if self._phase == "done":
                return
        elif self._client.socket() is None and now >= self._next_attempt:
            self._try_connect()
        if self._connected and self._phase in ("running", "flush"):
            self._publish_states()
            self._pump()
        self._io(self._wait_s(time.monotonic()))
        self._flush_acks()

    def _pause(self, seconds: float) -> None:
        readable, _, _ = select.select([self._wake_r], [], [], seconds)
        if readable:
            self._drain_wake()

    def _drain_wake(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while self._wake_r.recv(4096):
                pass

    def _wait_s(self, now: float) -> float:
        if self._stop_at is not None:
            return _SHUTDOWN_WAIT_S
        if self._client.socket() is None:
            return min(_IDLE_WAIT_S, max(0.0, self._next_attempt - now))
        return _IDLE_WAIT_S

    def _io(self, timeout: float) -> None:
        client = self._client
        sock = client.socket()
        readers: list[Any] = [self._wake_r]
        writers: list[Any] = []
        buffered = False
        if sock is not None:
            readers.append(sock)
            if client.want_write():
                writers.append(sock)
            # TLS may hold decrypted bytes that select() cannot see.
            pending = getattr(sock, "pending", None)
            buffered = bool(pending is not None and pending() > 0)
        readable, writable, _ = select.select(readers, writers, [], 0.0 if buffered else timeout)
        if self._wake_r in readable:
            self._drain_wake()
        if sock is not None and (sock in readable or buffered):
            client.loop_read()
        if sock is not None and client.socket() is sock and sock in writable:
            client.loop_write()
        if client.socket() is not None:
            client.loop_misc()
        elif self._connected:  # closed without a callback: treat as a lost connection
            self._lost("socket closed")

    def _try_connect(self) -> None:
        host, port = self._settings.host, self._settings.port
        try:
            self._client.reconnect()
        except OSError as error:
            delay = self._backoff.next()
            self._next_attempt = time.monotonic() + delay
            log.warning(
                "cannot reach MQTT broker %s:%d (%s); retrying in %.1f s", host, port, error, delay
            )

    def _publish_states(self) -> None:
        with self._lock:
            states, self._states = self._states, {}
        for topic, payload in states.items():
            info = self._client.publish(topic, payload, qos=1, retain=True)
            self._track(info.mid, None)

    def _pump(self) -> None:
        if self._hold or not self._outbox_dirty:
            return
        room = self._window - self._data_inflight
        if room <= 0:
            return
        self._outbox_dirty = False  # before reading, so a put made meanwhile is not missed
        try:
            for lane in self._cursors:
                entries = self._outbox.pending(
                    after_seq=self._cursors[lane],
                    limit=room,
                    topic=lane,
                    exclude=self._lanes if lane is None else (),
                )
                for entry in entries:
                    room -= 1
                    if not self._send(lane, entry):
                        self._hold = True  # lost inside publish(): paho keeps it for the resend
                        return
                if room <= 0:
                    self._outbox_dirty = True  # the window is full, not the outbox empty
                    return
        except BaseException:
            self._outbox_dirty = True
            raise

    def _send(self, lane: str | None, entry: OutboxEntry) -> bool:
        """Hand one outbox message to paho; ``False`` if the connection was lost meanwhile."""
        try:
            info = self._client.publish(
                entry.topic, entry.payload, qos=entry.qos, retain=entry.retain
            )
        except ValueError as error:  # a row paho refuses (bad topic, too large): skip it
            log.error("outbox message %s cannot be sent, dropped: %s", entry.message_id, error)
            self.stats.undeliverable += 1
            self._acked.append(entry.seq)
            self._cursors[lane] = entry.seq
            return True
        self._cursors[lane] = entry.seq
        self._track(info.mid, entry.seq)
        return self._connected

    def _track(self, mid: int, seq: int | None) -> None:
        # A QoS 0 message is "published" inside publish() itself, before we know its mid.
        if mid in self._early_acks:
            self._early_acks.clear()
            if seq is not None:
                self._acked.append(seq)
                self.stats.acked += 1
            return
        self._inflight[mid] = seq
        if seq is not None:
            self._data_inflight += 1

    def _flush_acks(self) -> None:
        if self._acked:
            acked, self._acked = self._acked, []
            self._outbox.ack_many(acked)
            self._outbox_dirty = True
        if self._hold and self._data_inflight == 0:
            log.info("messages in flight before the reconnect acknowledged; sending new ones")
            self._hold = False

    def _shutdown_step(self, now: float) -> None:
        assert self._stop_at is not None
        if self._phase == "running":
            self._phase = "flush"
        if self._phase == "flush":
            drained = self._data_inflight == 0 and self._outbox.depth() == 0
            if self._connected and not drained and now < self._flush_until:
                return
            if not drained:
                log.info("stopping with %d message(s) left in the outbox", self._outbox.depth())
            self._phase = "offline"
        if self._phase == "offline":
            if self._connected:
                info = self._client.publish(
                    self.status_topic, Status.OFFLINE.value, qos=1, retain=True
                )
                self._offline_mid = info.mid
                self._track(info.mid, None)
                self._phase = "offline_ack"
                self._phase_deadline = min(self._stop_at, now + _OFFLINE_ACK_WAIT_S)
            else:
                self._phase = "disconnect"
        if self._phase == "offline_ack":
            acked = self._offline_mid not in self._inflight
            if self._connected and not acked and now < self._phase_deadline:
                return
            self._phase = "disconnect"
        if self._phase == "disconnect":
            if self._client.socket() is None:
                self._phase = "done"
                return
            self._client.disconnect()
            self._phase = "closing"
            self._phase_deadline = now + _DISCONNECT_WAIT_S
        if self._phase == "closing" and (
            self._client.socket() is None or now >= self._phase_deadline
        ):
            self._phase = "done"

    # -- paho callbacks (network thread) ----------------------------------------------------

    def _handle_connect(
        self,
        client: paho.Client,
        userdata: Any,
        flags: paho.ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            log.error("MQTT broker refused node %s: %s", self._node, reason)
            return
        self._connected = True
        self._backoff.reset()
        self.stats.connects += 1
        log.info(
            "node %s connected to %s:%d (session present: %s)",
            self._node,
            self._settings.host,
            self._settings.port,
            flags.session_present,
        )
        # Nothing from the outbox here: paho sends its unacknowledged messages again right
        # after this callback returns, and they must go first.
        info = client.publish(self.status_topic, Status.ONLINE.value, qos=1, retain=True)
        self._track(info.mid, None)
        client.subscribe([(self._config_topic, 1), (self._command_topic, 1)])
        self._outbox_dirty = True
        self._connected_event.set()
        self._notify_connection(True)

    def _handle_disconnect(
        self,
        client: paho.Client,
        userdata: Any,
        flags: paho.DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._lost(str(reason))

    def _notify_connection(self, connected: bool) -> None:
        if self._on_connection is None:
            return
        try:
            self._on_connection(connected)
        except Exception:
            self.stats.handler_errors += 1
            log.exception("node %s: connection handler failed", self._node)

    def _lost(self, reason: str) -> None:
        was_connected = self._connected
        self._connected = False
        self._connected_event.clear()
        if was_connected:
            self._notify_connection(False)
        if self._data_inflight:
            self._hold = True
        if self._stop_at is not None:
            log.info("node %s disconnected from the broker", self._node)
            return
        delay = self._backoff.next()
        self._next_attempt = time.monotonic() + delay
        if was_connected:
            self.stats.connection_losses += 1
            log.warning(
                "node %s lost the broker connection (%s); reconnecting in %.1f s",
                self._node,
                reason,
                delay,
            )
        else:
            log.warning(
                "node %s could not connect (%s); retrying in %.1f s", self._node, reason, delay
            )

    def _handle_publish(
        self,
        client: paho.Client,
        userdata: Any,
        mid: int,
        reason: ReasonCode,
        properties: Properties,
    ) -> None:
        if mid not in self._inflight:
            self._early_acks.add(mid)
            return
        seq = self._inflight.pop(mid)
        if seq is not None:
            self._data_inflight -= 1
            self._acked.append(seq)
            self.stats.acked += 1

    def _handle_message(
        self, client: paho.Client, userdata: Any, message: paho.MQTTMessage
    ) -> None:
        topic, payload = message.topic, bytes(message.payload)
        if topic == self._config_topic:
            self._deliver("config", payload, decode_config, self._on_config)
        elif topic == self._command_topic:
            self._deliver("command", payload, decode_command, self._on_command)
        else:
            log.warning("node %s ignored a message on unexpected topic %s", self._node, topic)

    def _deliver(
        self,
        kind: str,
        payload: bytes,
        decode: Callable[[bytes], _Inbound],
        handler: Callable[[_Inbound], None] | None,
    ) -> None:
        if not payload:
            log.info("node %s: retained %s cleared by the hub", self._node, kind)
            return
        try:
            decoded = decode(payload)
        except Rejected as error:
            self.stats.rejected[f"{kind}:{error.reason}"] += 1
            log.warning("node %s rejected a %s message: %s", self._node, kind, error)
            return
        if handler is None:
            return
        try:
            handler(decoded)
        except Exception:
            self.stats.handler_errors += 1
            log.exception("node %s: handling a %s message failed", self._node, kind)
