"""The edge agent: turns what a node's readers and sensors see into wire messages, durably.

For every card presented to a reader: drop repeats (:class:`~edge.sources.badge.Debouncer`) and
hand the read to the :class:`~edge.recorder.Recorder`, which turns the UID into the site's keyed
credential, builds the ``badge`` payload stamped with the time of the tap and commits it to the
outbox; the :class:`~edge.link.MqttLink` sends it when it can. The other sources (BLE scanner,
GPIO sensors, environment sensors: :mod:`edge.sources`) report to the same recorder. The raw UID
exists only in memory between the reader and :func:`~vivant.wire.credential_for`: it is never
written to the outbox, a payload or a log line.

Alongside:

* a retained ``telemetry`` message every ``telemetry_interval_s`` (sent directly, latest value
  wins: it is state, not an event);
* the hub's retained ``config`` applied live to every source (enrolled tags, BLE window, sensor
  interval), no restart;
* the hub's ``command`` s: ``feedback`` lights the reader's LEDs and buzzer
  (:class:`~edge.feedback.GpioFeedback`) if it answers a tap this reader made in the last
  :data:`FEEDBACK_WINDOW` (a beep minutes after the tap, for a command that waited at the broker
  while the node was away, helps nobody); ``enrol`` blinks the enrolment LED;
* systemd's watchdog (:mod:`edge.watchdog`) pinged while the event loop and the MQTT thread live.

A source that fails (a pin already in use, a sensor unplugged, a BlueZ error) is restarted with
backoff; the agent itself never stops for a source.

The agent is asyncio; the MQTT link runs in its own thread and calls back through
``call_soon_threadsafe``. Several agents can run in one process (the demo does), each with its
own outbox file and sources: ``task = asyncio.create_task(agent.run())``, then ``agent.stop()``
and ``await task``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, TypeVar

import vivant
from edge.clock import Clock, epoch_ms, utc_now
from edge.config import BadgeReaderSettings, EdgeConfig
from edge.health import HostProbes
from edge.link import MqttLink
from edge.outbox import Outbox
from edge.recorder import Recorder
from edge.sources.badge import BadgeRead, BadgeReader, Debouncer, open_badge_reader
from edge.sources.base import Source
from edge.sources.environment import EnvironmentSensor
from edge.watchdog import SystemdNotifier
from vivant.wire.codec import encode
from vivant.wire.payloads import (
    MAX_TS_MS,
    MIN_TS_MS,
    Command,
    EnrolModeCommand,
    FeedbackCommand,
    NodeConfig,
    Telemetry,
)
from vivant.wire.topics import EdgeKind

if TYPE_CHECKING:
    from bleak.backends.scanner import BaseBleakScanner
    from gpiozero.pins import Factory

    from edge.feedback import GpioFeedback

log = logging.getLogger(__name__)

# A feedback command is shown only for a tap of the same reader this recent (PROTOCOL.md 4.6).
FEEDBACK_WINDOW: Final = 10.0
_RECENT_TAPS: Final = 256
_SOURCE_RETRY_MAX_S: Final = 60.0
_READER_RETRY_MAX_S: Final = 30.0
_STOP_MARGIN_S: Final = 2.0
_DRAIN_S: Final = 5.0
_T = TypeVar("_T")


@dataclass
class AgentStats:
    """What the agent did with the reads, since it started (the recorder counts the rest)."""

    taps: int = 0
    """Reads stored as badge messages (see also :attr:`edge.recorder.Recorder.stats`)."""
    debounced: int = 0
    """Reads dropped as repeats of the same card on the same reader."""
    reader_failures: int = 0
    source_failures: int = 0
    commands: int = 0
    feedback_shown: int = 0
    feedback_ignored: int = 0
    """Feedback for a tap that is not recent (or not of that reader): not shown."""
    failures_by_source: dict[str, int] = field(default_factory=dict)


@dataclass
class Hardware:
    """Replacements for the hardware a configuration describes (tests, demos, benchmarks).

    ``readers``: badge readers by id. ``ble_backend``: a bleak scanner backend
    (:meth:`edge.sources.ble_fake.BleReplay.backend`). ``pin_factory``: a gpiozero pin factory
    (``MockFactory()``). ``environment``: environment sensors by id.
    """

    readers: Mapping[str, BadgeReader] = field(default_factory=dict)
    ble_backend: type[BaseBleakScanner] | None = None
    pin_factory: Factory | None = None
    environment: Mapping[str, EnvironmentSensor] = field(default_factory=dict)


class EdgeAgent:
    """One node: its readers and sensors, its outbox, its MQTT link."""

    def __init__(
        self,
        config: EdgeConfig,
        readers: Mapping[str, BadgeReader] | None = None,
        clock: Clock = utc_now,
        *,
        hardware: Hardware | None = None,
        probes: HostProbes | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        notifier: SystemdNotifier | None = None,
    ) -> None:
        """Prepare the agent; *readers* (by reader id) and *hardware* replace configured devices.

        Nothing is opened here; :meth:`run` opens the outbox, the link and the devices, and
        closes them all when it ends.
        """
        self.config = config
        self._clock = clock
        self._probes = probes or HostProbes()
        self._monotonic = monotonic
        self._hardware = hardware or Hardware()
        self._notifier = notifier or SystemdNotifier()
        given = {**self._hardware.readers, **(readers or {})}
        configured = {reader.id for reader in config.badge_readers}
        for reader_id, reader in given.items():
            if reader_id not in configured:
                raise ValueError(f"reader {reader_id!r} is not in the configuration")
            if reader.id != reader_id:
                raise ValueError(f"reader registered as {reader_id!r} has id {reader.id!r}")
        sensor_ids = {sensor.id for sensor in config.environment.sensors}
        for sensor_id in self._hardware.environment:
            if sensor_id not in sensor_ids:
                raise ValueError(f"sensor {sensor_id!r} is not in the configuration")
        self.readers: dict[str, BadgeReader] = {
            settings.id: given.get(settings.id) or open_badge_reader(settings, clock=clock)
            for settings in config.badge_readers
        }
        self._debouncers = {s.id: Debouncer(s.debounce_s) for s in config.badge_readers}
        self.stats = AgentStats()
        self.node_config: NodeConfig | None = None
        """The latest configuration the hub sent, if any."""
        self.sources: list[Source] = []
        """The running sources (BLE, GPIO, environment), while :meth:`run` runs."""
        self.feedback: dict[str, GpioFeedback] = {}
        """GPIO feedback devices by reader id, while :meth:`run` runs."""
        self._recent_taps: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._pin_factory: Factory | None = None
        self._outbox: Outbox | None = None
        self._link: MqttLink | None = None
        self._recorder: Recorder | None = None
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

    @property
    def recorder(self) -> Recorder:
        """The recorder (only while :meth:`run` runs)."""
        if self._recorder is None:
            raise RuntimeError("the agent is not running")
        return self._recorder

    @property
    def pin_factory(self) -> Factory | None:
        """The gpiozero pin factory in use, if the node uses GPIO (while :meth:`run` runs)."""
        return self._pin_factory

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

    def healthy(self) -> bool:
        """Whether the agent can do its job: the MQTT thread runs (the loop answers, since this
        runs on it)."""
        return self._link is not None and self._link.alive

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
        recorder = Recorder(
            outbox,
            config.mqtt.topics,
            site=config.site,
            node=config.node,
            credential_key=config.credential_key.get_secret_value(),
            wake=link.wake,
            on_badge=self._tap_recorded,
        )
        self._outbox, self._link, self._recorder = outbox, link, recorder
        writer = asyncio.create_task(recorder.run(), name="recorder")
        tasks: list[asyncio.Task[None]] = []
        try:
            self._open_devices()
            log.info(
                "edge agent %s/%s starting: %d reader(s), %d source(s), broker %s:%d",
                config.site,
                config.node,
                len(self.readers),
                len(self.sources),
                config.mqtt.host,
                config.mqtt.port,
            )
            link.start()
            for reader in self.readers.values():
                settings = config.reader(reader.id)
                tasks.append(asyncio.create_task(self._read_loop(reader, settings)))
            for source in self.sources:
                tasks.append(asyncio.create_task(self._source_loop(source), name=source.name))
            tasks.append(asyncio.create_task(self._telemetry_loop()))
            tasks.append(asyncio.create_task(self._watchdog_loop()))
            self._notifier.ready()
            await self._stop_event.wait()
        finally:
            self._notifier.stopping()
            await self._shutdown(tasks, writer, link, outbox)

    # -- devices -------------------------------------------------------------------------------

    def _needs_gpio(self) -> bool:
        gpio = self.config.gpio
        feedback = any(r.feedback is not None for r in self.config.badge_readers)
        return feedback or bool(gpio.motion or gpio.doors or gpio.people_counters)

    def _open_devices(self) -> None:
        """Build the sources and feedback devices (pins are claimed here)."""
        config, hardware = self.config, self._hardware
        if self._needs_gpio():
            from edge.sources.gpio import open_pin_factory

            try:
                self._pin_factory = hardware.pin_factory or open_pin_factory(
                    config.gpio.pin_factory
                )
            except Exception:
                # Not a reason to stop reading badges and BLE: say it, loudly, and go on.
                log.exception("GPIO is unavailable: motion, doors, people counters, LEDs are off")
        factory = self._pin_factory
        if factory is not None:
            from edge.feedback import GpioFeedback
            from edge.sources.gpio import DoorSource, MotionSource, PeopleCounterSource

            for reader in config.badge_readers:
                if reader.feedback is not None:
                    try:
                        self.feedback[reader.id] = GpioFeedback(reader.feedback, factory)
                    except Exception:
                        log.exception("reader %s: its LEDs / buzzer cannot be used", reader.id)
            gpio = config.gpio
            self.sources += [MotionSource(m, factory, self._clock) for m in gpio.motion]
            self.sources += [DoorSource(d, factory, self._clock) for d in gpio.doors]
            self.sources += [
                PeopleCounterSource(p, factory, self._clock, self._monotonic)
                for p in gpio.people_counters
            ]
        if config.ble is not None:
            from edge.sources.ble import BleScanner

            self.sources.append(
                BleScanner(
                    config.ble,
                    backend=hardware.ble_backend,
                    clock=self._clock,
                    monotonic=self._monotonic,
                )
            )
        if config.environment.sensors:
            from edge.sources.environment import EnvironmentSource, open_sensor

            sensors = {
                s.id: hardware.environment.get(s.id) or open_sensor(s)
                for s in config.environment.sensors
            }
            self.sources.append(
                EnvironmentSource(sensors, config.environment.interval_s, clock=self._clock)
            )

    async def _close_devices(self, recorder: Recorder) -> None:
        for source in self.sources:
            try:
                await source.aclose(recorder)
            except Exception:
                log.exception("closing source %s failed", source.name)
        for reader in self.readers.values():
            try:
                await reader.close()
            except Exception:
                log.exception("closing badge reader %s failed", reader.id)
        for feedback in self.feedback.values():
            feedback.close()

    # -- internals -------------------------------------------------------------------------

    async def _shutdown(
        self,
        tasks: list[asyncio.Task[None]],
        writer: asyncio.Task[None],
        link: MqttLink,
        outbox: Outbox,
    ) -> None:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        recorder = self.recorder
        await self._close_devices(recorder)
        try:
            async with asyncio.timeout(_DRAIN_S):
                await recorder.drain()
        except TimeoutError:
            log.error("stopping with %d observation(s) not stored", recorder.pending)
        writer.cancel()
        await asyncio.gather(writer, return_exceptions=True)
        flush_s = self.config.shutdown_flush_s
        await asyncio.to_thread(link.stop, flush_s + _STOP_MARGIN_S, flush_s)
        await asyncio.to_thread(outbox.close)
        self._notifier.close()
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
                        self._record(read, settings)
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

    def _record(self, read: BadgeRead, settings: BadgeReaderSettings) -> None:
        self.recorder.badge(read, settings.room)

    def _tap_recorded(self, message_id: str, reader_id: str) -> None:
        self.stats.taps += 1
        self._recent_taps[message_id] = (reader_id, self._monotonic())
        while len(self._recent_taps) > _RECENT_TAPS:
            self._recent_taps.popitem(last=False)

    async def _source_loop(self, source: Source) -> None:
        failures = 0
        while True:
            started = self._monotonic()
            try:
                await source.run(self.recorder)
                return
            except Exception:
                if self._monotonic() - started > _SOURCE_RETRY_MAX_S:
                    failures = 0  # it ran a good while: not a failure loop
                failures += 1
                self.stats.source_failures += 1
                by_source = self.stats.failures_by_source
                by_source[source.name] = by_source.get(source.name, 0) + 1
                delay = min(_SOURCE_RETRY_MAX_S, 2.0**failures)
                log.exception("source %s failed; restarting it in %.0f s", source.name, delay)
                with contextlib.suppress(Exception):
                    await source.aclose(self.recorder)
                await asyncio.sleep(delay)

    async def _telemetry_loop(self) -> None:
        while True:
            try:
                self._publish_telemetry()
            except Exception:
                log.exception("telemetry of node %s failed", self.config.node)
            await asyncio.sleep(self.config.telemetry_interval_s)

    def _update_status(self) -> None:
        """The line ``systemctl status vivant-edge`` shows."""
        outbox, link = self._outbox, self._link
        if outbox is None or link is None or outbox.closed:
            return
        self._notifier.status(
            f"{'connected' if link.connected else 'broker unreachable'}; "
            f"outbox {outbox.depth()}, dropped {outbox.dropped_since_open}"
        )

    def _publish_telemetry(self) -> None:
        outbox = self.outbox
        depth, dropped = outbox.depth(), outbox.dropped_since_open
        self._update_status()
        ts = epoch_ms(self._clock())
        if not MIN_TS_MS <= ts <= MAX_TS_MS:
            log.debug("telemetry skipped: the clock is not set")
            return
        telemetry = Telemetry(
            ts=ts,
            version=vivant.__version__,
            uptime_s=int(self._monotonic() - self._started_at),
            outbox_depth=depth,
            dropped=dropped,
            cpu_temp_c=self._probes.cpu_temp_c(),
            undervoltage=self._probes.undervoltage(),
            clock_synced=self._probes.clock_synced(),
        )
        self.link.publish_state(EdgeKind.TELEMETRY, encode(telemetry))

    async def _watchdog_loop(self) -> None:
        period = self._notifier.watchdog_s
        if period is None:
            return
        warned = False
        while True:
            if self.healthy():
                self._notifier.ping()
                warned = False
            elif not warned:
                warned = True
                log.error("MQTT thread is dead: no watchdog ping, systemd will restart the agent")
            await asyncio.sleep(period / 3)

    def _connection_changed(self, connected: bool) -> None:
        if connected:
            self._connected.set()
        else:
            self._connected.clear()
        self._update_status()

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
        for source in self.sources:
            try:
                source.configure(node_config)
            except Exception:
                log.exception("source %s could not apply the hub's configuration", source.name)

    def _apply_command(self, command: Command) -> None:
        self.stats.commands += 1
        reader = self.readers.get(command.reader)
        if reader is None:
            log.warning("node %s: command for unknown reader %s", self.config.node, command.reader)
            return
        feedback = self.feedback.get(reader.id)
        if isinstance(command, FeedbackCommand):
            tap = self._recent_taps.get(command.badge_id)
            recent = (
                tap is not None
                and tap[0] == reader.id
                and self._monotonic() - tap[1] <= FEEDBACK_WINDOW
            )
            if not recent:
                self.stats.feedback_ignored += 1
                log.info("reader %s: feedback %s is not for a recent tap", reader.id, command.id)
                return
            self.stats.feedback_shown += 1
            if feedback is not None:
                feedback.show(command.result)
            reader.feedback(command.result)
        elif isinstance(command, EnrolModeCommand):
            seconds = (command.until_ts - epoch_ms(self._clock())) / 1000
            if seconds <= 0:
                log.info("reader %s: enrolment mode %s already over", reader.id, command.id)
                return
            log.info("reader %s: enrolment mode for %.0f s", reader.id, seconds)
            if feedback is not None:
                feedback.enrol_mode(seconds)


async def _aclose(stream: AsyncIterator[BadgeRead]) -> None:
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        await aclose()
