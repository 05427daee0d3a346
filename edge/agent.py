"""The edge agent: turns what a node's readers see into wire messages, durably.

For every card presented to a reader: drop repeats (:class:`~edge.sources.badge.Debouncer`), turn
the UID into the site's keyed credential, build the ``badge`` payload stamped with the time of
the tap, and commit it to the outbox; the :class:`~edge.link.MqttLink` sends it when it can. The
raw UID exists only in memory between the reader and :func:`~vivant.wire.credential_for`: it is
never written to the outbox, a payload or a log line.

Alongside, a retained ``telemetry`` message reports the node's health every
``telemetry_interval_s`` (sent directly, latest value wins: it is state, not an event), and
commands from the hub are handed to the readers (``feedback`` lights an LED, one day).

The agent is asyncio; the MQTT link runs in its own thread and calls back through
``call_soon_threadsafe``. Several agents can run in one process (the demo does), each with its
own outbox file and readers: ``task = asyncio.create_task(agent.run())``, then ``agent.stop()``
and ``await task``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Final, TypeVar

import vivant
from edge.clock import Clock, epoch_ms, utc_now
from edge.config import BadgeReaderSettings, EdgeConfig
from edge.health import HostProbes
from edge.link import MqttLink
from edge.outbox import Outbox
from edge.sources.badge import BadgeRead, BadgeReader, Debouncer, open_badge_reader
from vivant.wire.codec import encode
from vivant.wire.credential import credential_for
from vivant.wire.payloads import (
    MAX_TS_MS,
    MIN_TS_MS,
    Badge,
    Command,
    EnrolModeCommand,
    FeedbackCommand,
    NodeConfig,
    Telemetry,
)
from vivant.wire.topics import EdgeKind

log = logging.getLogger(__name__)

# An LED answer to a tap is only meaningful while the person is still at the reader; a feedback
# command that waited at the broker while the node was offline is dropped.
FEEDBACK_MAX_AGE: Final = timedelta(seconds=30)
_READER_RETRY_MAX_S: Final = 30.0
_STOP_MARGIN_S: Final = 2.0
_T = TypeVar("_T")


@dataclass
class AgentStats:
    """What the agent did with the reads, since it started."""

    taps: int = 0
    """Reads turned into badge messages in the outbox."""
    debounced: int = 0
    """Reads dropped as repeats of the same card on the same reader."""
    unrecorded: int = 0
    """Reads lost: clock not set, or the outbox failed."""
    reader_failures: int = 0
    commands: int = 0


class EdgeAgent:
    """One node: its readers, its outbox, its MQTT link."""

    def __init__(
        self,
        config: EdgeConfig,
        readers: Mapping[str, BadgeReader] | None = None,
        clock: Clock = utc_now,
        *,
        probes: HostProbes | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """Prepare the agent; *readers* (by reader id) replace the configured backends.

        Nothing is opened here; :meth:`run` opens the outbox and the link, and closes them and
        every reader when it ends.
        """
        self.config = config
        self._clock = clock
        self._probes = probes or HostProbes()
        self._monotonic = monotonic
        given = dict(readers or {})
        configured = {reader.id for reader in config.badge_readers}
        for reader_id, reader in given.items():
            if reader_id not in configured:
                raise ValueError(f"reader {reader_id!r} is not in the configuration")
            if reader.id != reader_id:
                raise ValueError(f"reader registered as {reader_id!r} has id {reader.id!r}")
        self.readers: dict[str, BadgeReader] = {
            settings.id: given.get(settings.id) or open_badge_reader(settings, clock=clock)
            for settings in config.badge_readers
        }
        self._debouncers = {s.id: Debouncer(s.debounce_s) for s in config.badge_readers}
        self._key = config.credential_key.get_secret_value()
        self._badge_topic = config.mqtt.topics.node(config.site, config.node, EdgeKind.BADGE)
        self.stats = AgentStats()
        self.node_config: NodeConfig | None = None
        """The latest configuration the hub sent, if any."""
        self._outbox: Outbox | None = None
        self._link: MqttLink | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._stop_requested = False
        self._connected = asyncio.Event()
        self._started_at = monotonic()

    # -- embedding API -----------------------------------------------------------------------

    @property
    def outbox(self) -> Outbox:
        """The open outbox (only while :meth:`run` runs)."""
        if self._outbox is None:
            raise RuntimeError("the agent is not running")
        return self._outbox

    @property
    def link(self) -> MqttLink:
        """The MQTT link (only while :meth:`run` runs)."""
        if self._link is None:
            raise RuntimeError("the agent is not running")
        return self._link

    async def wait_connected(self) -> None:
        """Wait until the broker accepted the connection (bound it with ``asyncio.timeout``)."""
        await self._connected.wait()

    def stop(self) -> None:
        """Ask :meth:`run` to finish cleanly; safe from any thread and before :meth:`run`."""
        self._stop_requested = True
        loop, event = self._loop, self._stop_event
        if loop is None or event is None:
            return
        try:
            current = asyncio.get_running_loop()
        except RuntimeError:
            current = None
        if current is loop:
            event.set()
        elif not loop.is_closed():
            loop.call_soon_threadsafe(event.set)

    async def run(self) -> None:
        """Read, record and send until :meth:`stop`; then flush briefly and close everything."""
        if self._loop is not None:
            raise RuntimeError("an EdgeAgent runs once")
        self._loop = asyncio.get_running_loop()
        self._started_at = self._monotonic()
        self._stop_event = asyncio.Event()
        if self._stop_requested:
            self._stop_event.set()
        config = self.config
        outbox = await asyncio.to_thread(
            Outbox,
            config.outbox.path,
            max_messages=config.outbox.max_messages,
            max_age_h=config.outbox.max_age_h,
        )
        try:
            link = MqttLink.from_config(
                config,
                outbox,
                on_config=self._from_link(self._apply_config),
                on_command=self._from_link(self._apply_command),
                on_connection=self._from_link(self._connection_changed),
            )
        except BaseException:  # e.g. a TLS file that cannot be read
            outbox.close()
            raise
        self._outbox, self._link = outbox, link
        tasks: list[asyncio.Task[None]] = []
        log.info(
            "edge agent %s/%s starting: %d reader(s), broker %s:%d",
            config.site,
            config.node,
            len(self.readers),
            config.mqtt.host,
            config.mqtt.port,
        )
        try:
            link.start()
            for reader in self.readers.values():
                settings = config.reader(reader.id)
                tasks.append(asyncio.create_task(self._read_loop(reader, settings)))
            tasks.append(asyncio.create_task(self._telemetry_loop()))
            await self._stop_event.wait()
        finally:
            await self._shutdown(tasks, link, outbox)

    # -- internals -------------------------------------------------------------------------

    async def _shutdown(
        self, tasks: list[asyncio.Task[None]], link: MqttLink, outbox: Outbox
    ) -> None:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for reader in self.readers.values():
            try:
                await reader.close()
            except Exception:
                log.exception("closing badge reader %s failed", reader.id)
        flush_s = self.config.shutdown_flush_s
        await asyncio.to_thread(link.stop, flush_s + _STOP_MARGIN_S, flush_s)
        await asyncio.to_thread(outbox.close)
        log.info("edge agent %s/%s stopped", self.config.site, self.config.node)

    def _from_link(self, handler: Callable[[_T], None]) -> Callable[[_T], None]:
        """Wrap *handler* so the link thread runs it on the agent's event loop."""

        def deliver(item: _T) -> None:
            loop = self._loop
            if loop is not None and not loop.is_closed():
                loop.call_soon_threadsafe(handler, item)

        return deliver

    async def _read_loop(self, reader: BadgeReader, settings: BadgeReaderSettings) -> None:
        debouncer = self._debouncers[reader.id]
        failures = 0
        while True:
            stream = reader.reads()
            try:
                async for read in stream:
                    failures = 0
                    if debouncer.accept(read):
                        await self._record(read, settings)
                    else:
                        self.stats.debounced += 1
                return  # the reader was closed
            except Exception:
                failures += 1
                self.stats.reader_failures += 1
                delay = min(_READER_RETRY_MAX_S, 2.0**failures)
                log.exception("badge reader %s failed; retrying in %.0f s", reader.id, delay)
                await asyncio.sleep(delay)
            finally:
                await _aclose(stream)

    async def _record(self, read: BadgeRead, settings: BadgeReaderSettings) -> None:
        ts = epoch_ms(read.at)
        if not MIN_TS_MS <= ts <= MAX_TS_MS:
            self.stats.unrecorded += 1
            log.warning(
                "reader %s: tap not recorded, the clock is not set (%s)", settings.id, read.at
            )
            return
        credential = credential_for(self._key, read.uid)

        def build(message_id: str) -> bytes:
            badge = Badge(
                id=message_id,
                ts=ts,
                room=settings.room,
                reader=settings.id,
                credential=credential,
            )
            return encode(badge)

        try:
            entry = await asyncio.to_thread(self.outbox.put, self._badge_topic, build)
        except Exception:
            self.stats.unrecorded += 1
            log.exception("reader %s: tap could not be stored in the outbox", settings.id)
            return
        self.stats.taps += 1
        self.link.wake()
        log.debug("reader %s: tap recorded as %s", settings.id, entry.message_id)

    async def _telemetry_loop(self) -> None:
        while True:
            try:
                self._publish_telemetry()
            except Exception:
                log.exception("telemetry of node %s failed", self.config.node)
            await asyncio.sleep(self.config.telemetry_interval_s)

    def _publish_telemetry(self) -> None:
        ts = epoch_ms(self._clock())
        if not MIN_TS_MS <= ts <= MAX_TS_MS:
            log.debug("telemetry skipped: the clock is not set")
            return
        outbox = self.outbox
        telemetry = Telemetry(
            ts=ts,
            version=vivant.__version__,
            uptime_s=int(self._monotonic() - self._started_at),
            outbox_depth=outbox.depth(),
            dropped=outbox.dropped_since_open,
            cpu_temp_c=self._probes.cpu_temp_c(),
            undervoltage=self._probes.undervoltage(),
            clock_synced=self._probes.clock_synced(),
        )
        self.link.publish_state(EdgeKind.TELEMETRY, encode(telemetry))

    def _connection_changed(self, connected: bool) -> None:
        if connected:
            self._connected.set()
        else:
            self._connected.clear()

    def _apply_config(self, node_config: NodeConfig) -> None:
        if node_config == self.node_config:
            return  # the retained config again, after a reconnect
        self.node_config = node_config
        log.info("node %s: configuration from the hub (ts %d)", self.config.node, node_config.ts)
        if set(node_config.rooms) != set(self.config.rooms):
            log.warning(
                "node %s: the hub says it serves %s, its local configuration says %s",
                self.config.node,
                ", ".join(node_config.rooms),
                ", ".join(self.config.rooms),
            )

    def _apply_command(self, command: Command) -> None:
        self.stats.commands += 1
        reader = self.readers.get(command.reader)
        if reader is None:
            log.warning("node %s: command for unknown reader %s", self.config.node, command.reader)
            return
        if isinstance(command, FeedbackCommand):
            age = epoch_ms(self._clock()) - command.ts
            if age > FEEDBACK_MAX_AGE // timedelta(milliseconds=1):
                log.info("reader %s: feedback %s is %d ms old, ignored", reader.id, command.id, age)
                return
            reader.feedback(command.result)
        elif isinstance(command, EnrolModeCommand):
            log.info(
                "reader %s: enrolment mode until %d; the hub enrols the next tap",
                reader.id,
                command.until_ts,
            )


async def _aclose(stream: AsyncIterator[BadgeRead]) -> None:
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        await aclose()
