"""GPIO sensors through gpiozero: PIR motion, door contacts, a break-beam people counter.

gpiozero calls back from its own threads (the pin factory's edge-detection thread; the caller's
thread with ``MockFactory``); every callback here only notes the time of the edge and hands it to
the event loop with ``call_soon_threadsafe``, where the state machines run. So the logic is
single-threaded, and a test drives it with ``MockFactory`` pins (``pin.drive_low()``) exactly as
a sensor would.

* **Motion** (:class:`MotionSource`): a PIR output goes high on motion and re-triggers every few
  seconds while people move. ``motion 1`` is sent at the first edge, ``motion 0`` only after
  ``hold_s`` without any motion (dated when the hold expired), so a busy room sends two
  messages, not one every few seconds. The state at start is sent if there is motion.
* **Door** (:class:`DoorSource`): ``door 1`` open / ``0`` closed on every change, and the state
  at start; contact bounce is filtered by gpiozero's ``bounce_time``.
* **People counter** (:class:`PeopleCounterSource`): two beams a few centimetres apart across a
  doorway. A crossing is counted when both beams are clear again, if both were broken, if the
  beam broken first is not the one cleared last (someone who steps in and backs out is not
  counted), and within ``max_transit_s``. Outer beam first: ``people_in``; inner first:
  ``people_out``. Counts are sent every ``report_s`` when non-zero, as the contract's "since the
  previous message", and what is pending is sent when the agent stops.
"""

from __future__ import annotations

import asyncio
import logging
import time
from abc import abstractmethod
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from edge.clock import Clock, utc_now
from edge.source_settings import DoorSettings, MotionSettings, PeopleCounterSettings
from edge.sources.base import SensorReading, Sink, Source

if TYPE_CHECKING:
    from gpiozero import DigitalInputDevice
    from gpiozero.pins import Factory

log = logging.getLogger(__name__)


def open_pin_factory(name: str | None) -> Factory:
    """The gpiozero pin factory called *name*, or gpiozero's own choice when ``None``."""
    from gpiozero import Device

    if name is None:
        return Device._default_pin_factory()
    if name == "mock":
        from gpiozero.pins.mock import MockFactory

        return MockFactory()
    from importlib.metadata import entry_points

    for entry in entry_points(group="gpiozero_pin_factories"):
        if entry.name == name:
            factory: Factory = entry.load()()
            return factory
    raise ValueError(f"gpiozero has no pin factory {name!r}")


class _InputSource(Source):
    """A source fed by gpiozero edge callbacks, handled on the event loop."""

    def __init__(
        self, factory: Factory, clock: Clock, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._factory = factory
        self._clock = clock
        self._monotonic = monotonic
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sink: Sink | None = None
        self._devices: list[DigitalInputDevice] = []

    def _on_edge(
        self, handler: Callable[[bool, datetime, float], None], active: bool
    ) -> Callable[[], None]:
        def callback() -> None:
            # Both clocks are read here, at the edge, not when the loop gets to it.
            at, mono = self._clock(), self._monotonic()
            loop = self._loop
            if loop is not None and not loop.is_closed():
                loop.call_soon_threadsafe(handler, active, at, mono)

        return callback

    async def _serve(self, sink: Sink) -> None:
        self._loop = asyncio.get_running_loop()
        self._sink = sink
        self._start()
        await asyncio.Event().wait()  # callbacks do the work until cancelled

    @abstractmethod
    def _start(self) -> None:
        """Claim the pins and register the edge callbacks (on the event loop)."""

    def _emit(self, room: str, kind: str, value: float, at: datetime, source: str) -> None:
        if self._sink is not None:
            self._sink.sensor(
                SensorReading(room=room, kind=kind, value=value, at=at, source=source)
            )

    async def aclose(self, sink: Sink) -> None:
        """Release the pins."""
        for device in self._devices:
            device.close()
        self._devices.clear()
        self._loop = None


def _level_input(
    factory: Factory,
    pin: int,
    *,
    pull_up: bool,
    interesting_when_high: bool,
    bounce_s: float | None,
) -> tuple[DigitalInputDevice, bool]:
    """A digital input, and what its ``is_active`` means for the interesting state.

    gpiozero ties ``is_active`` to the pull resistor (pull-up: LOW is active) and refuses an
    explicit ``active_state`` alongside one, so the mapping to "open", "broken" or "motion" is
    done here: the second value is the interesting state when the device is active.
    """
    from gpiozero import DigitalInputDevice

    device = DigitalInputDevice(
        pin, pull_up=pull_up, bounce_time=bounce_s or None, pin_factory=factory
    )
    return device, interesting_when_high != pull_up


class MotionSource(_InputSource):
    """A PIR sensor with a hold time."""

    def __init__(self, settings: MotionSettings, factory: Factory, clock: Clock = utc_now) -> None:
        super().__init__(factory, clock)
        self.settings = settings
        self.name = f"motion:{settings.id}"
        self.motion = False
        """Motion as last reported."""
        self._off_timer: asyncio.TimerHandle | None = None

    async def run(self, sink: Sink) -> None:
        """Report motion changes until cancelled."""
        await self._serve(sink)

    def _start(self) -> None:
        s = self.settings
        device, active_means = _level_input(
            self._factory,
            s.pin,
            pull_up=not s.active_high,
            interesting_when_high=s.active_high,
            bounce_s=None,
        )
        self._devices.append(device)
        device.when_activated = self._on_edge(self._edge, active_means)
        device.when_deactivated = self._on_edge(self._edge, not active_means)
        if bool(device.is_active) == active_means:
            self._edge(True, self._clock(), self._monotonic())

    def _edge(self, moving: bool, at: datetime, mono: float) -> None:
        s = self.settings
        if moving:
            if self._off_timer is not None:
                self._off_timer.cancel()
                self._off_timer = None
            if not self.motion:
                self.motion = True
                self._emit(s.room, "motion", 1, at, s.id)
            return
        if not self.motion or self._off_timer is not None:
            return
        assert self._loop is not None
        self._off_timer = self._loop.call_later(s.hold_s, self._hold_expired, at)

    def _hold_expired(self, since: datetime) -> None:
        self._off_timer = None
        if self.motion:
            self.motion = False
            s = self.settings
            self._emit(s.room, "motion", 0, since + timedelta(seconds=s.hold_s), s.id)

    async def aclose(self, sink: Sink) -> None:
        """Release the pin (a pending "no motion" is not sent: the hub times motion out)."""
        if self._off_timer is not None:
            self._off_timer.cancel()
        await super().aclose(sink)


class DoorSource(_InputSource):
    """A door contact."""

    def __init__(self, settings: DoorSettings, factory: Factory, clock: Clock = utc_now) -> None:
        super().__init__(factory, clock)
        self.settings = settings
        self.name = f"door:{settings.id}"
        self.open: bool | None = None
        """Door state as last reported."""

    async def run(self, sink: Sink) -> None:
        """Report door changes until cancelled."""
        await self._serve(sink)

    def _start(self) -> None:
        s = self.settings
        device, active_means = _level_input(
            self._factory,
            s.pin,
            pull_up=s.pull_up,
            interesting_when_high=s.open_when == "high",
            bounce_s=s.bounce_s,
        )
        self._devices.append(device)
        device.when_activated = self._on_edge(self._changed, active_means)
        device.when_deactivated = self._on_edge(self._changed, not active_means)
        self._changed(bool(device.is_active) == active_means, self._clock(), self._monotonic())

    def _changed(self, is_open: bool, at: datetime, mono: float) -> None:
        if is_open == self.open:
            return
        self.open = is_open
        s = self.settings
        self._emit(s.room, "door", 1 if is_open else 0, at, s.id)


class PeopleCounterSource(_InputSource):
    """Two break-beam sensors counting people in and out."""

    def __init__(
        self,
        settings: PeopleCounterSettings,
        factory: Factory,
        clock: Clock = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(factory, clock, monotonic)
        self.settings = settings
        self.name = f"people:{settings.id}"
        self._broken = {"outer": False, "inner": False}
        self._first: str | None = None
        self._both_broken = False
        self._started_at = 0.0
        self.pending_in = 0
        self.pending_out = 0
        self.crossings_in = 0
        self.crossings_out = 0
        self.ignored = 0
        """Beam sequences that were not a crossing (backed out, too slow)."""

    async def run(self, sink: Sink) -> None:
        """Count crossings and report them every ``report_s`` until cancelled."""
        self._loop = asyncio.get_running_loop()
        self._sink = sink
        self._start()
        while True:
            await asyncio.sleep(self.settings.report_s)
            self._report(self._clock())

    def _start(self) -> None:
        s = self.settings
        for beam, pin in (("outer", s.outer_pin), ("inner", s.inner_pin)):
            device, active_means = _level_input(
                self._factory,
                pin,
                pull_up=s.pull_up,
                interesting_when_high=s.broken_when == "high",
                bounce_s=None,
            )
            self._devices.append(device)
            device.when_activated = self._on_edge(self._beam_handler(beam), active_means)
            device.when_deactivated = self._on_edge(self._beam_handler(beam), not active_means)
            self._broken[beam] = bool(device.is_active) == active_means

    def _beam_handler(self, beam: str) -> Callable[[bool, datetime, float], None]:
        def handle(broken: bool, at: datetime, mono: float) -> None:
            self._beam(beam, broken, mono)

        return handle

    def _beam(self, beam: str, broken: bool, now: float) -> None:
        if self._broken[beam] == broken:
            return
        self._broken[beam] = broken
        if broken:
            if self._first is None or now - self._started_at > self.settings.max_transit_s:
                if self._first is not None:
                    self.ignored += 1
                self._first, self._started_at, self._both_broken = beam, now, False
            if all(self._broken.values()):
                self._both_broken = True
            return
        if any(self._broken.values()) or self._first is None:
            return
        # Both beams clear again: was it a crossing?
        first, self._first = self._first, None
        in_time = now - self._started_at <= self.settings.max_transit_s
        if self._both_broken and in_time and beam != first:
            if first == "outer":
                self.pending_in += 1
                self.crossings_in += 1
            else:
                self.pending_out += 1
                self.crossings_out += 1
        else:
            self.ignored += 1

    def _report(self, at: datetime) -> None:
        s = self.settings
        if self.pending_in:
            count, self.pending_in = self.pending_in, 0
            self._emit(s.room, "people_in", count, at, s.id)
        if self.pending_out:
            count, self.pending_out = self.pending_out, 0
            self._emit(s.room, "people_out", count, at, s.id)

    async def aclose(self, sink: Sink) -> None:
        """Send the counts not yet reported, then release the pins."""
        self._sink = sink
        self._report(self._clock())
        await super().aclose(sink)
