"""Badge readers: one small interface, fakes shipped in the package, hardware loaded lazily.

Shaped like gpiozero's pin factories and bleak's backends: the agent only knows
:class:`BadgeReader` (an async stream of :class:`BadgeRead`), and :func:`open_badge_reader` picks
the backend from the configured *kind*. The two backends that need no hardware ship here, so
``vivant edge --simulate``, the demo and the tests run on any laptop:

* :class:`FakeBadgeReader`: taps injected by code (``reader.tap("04A1B2C3")``) from any thread or
  coroutine; it fails loudly on anything it does not implement.
* :class:`SimulatedBadgeReader`: random taps among a few demo UIDs, exponential inter-arrival,
  reproducible with a seed.

Hardware backends (evdev keyboard wedges, PC/SC, serial, PN532) live in
:mod:`edge.sources.readers` and are listed in :data:`HARDWARE_BACKENDS`; they are imported only
when a reader of that kind is opened, so a machine without their libraries never imports them.
Constructing a reader never touches the device: a backend opens it inside
:meth:`BadgeReader.reads`, and reopens it there after an error.

A raw UID is personal data that must never leave the process: :class:`BadgeRead` keeps it out of
its ``repr`` so a stray log line or traceback cannot print it.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import random
import threading
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, NoReturn

from edge.clock import Clock, utc_now
from edge.config import BadgeReaderSettings
from vivant.wire.credential import normalise_uid
from vivant.wire.payloads import Feedback
from vivant.wire.topics import check_segment

log = logging.getLogger(__name__)

DEMO_UIDS: tuple[str, ...] = (
    "04A1B2C3D4E5F6",
    "04B2C3D4E5F607",
    "04C3D4E5F60718",
    "04D4E5F6071829",
    "04E5F60718293A",
    "04F60718293A4B",
)
"""Made-up 7-byte NFC UIDs a simulated reader uses when none are configured."""

HARDWARE_BACKENDS: dict[str, str] = {
    "evdev": "edge.sources.readers.evdev:EvdevBadgeReader",
    "pcsc": "edge.sources.readers.pcsc:PcscBadgeReader",
    "serial": "edge.sources.readers.serial:SerialBadgeReader",
    "pn532": "edge.sources.readers.pn532:Pn532BadgeReader",
}
"""Hardware reader kinds, as ``kind -> "module:Class"``; imported on first use only."""


@dataclass(frozen=True, slots=True)
class BadgeRead:
    """A card presented to a reader.

    ``uid``: the card's UID, normalised to uppercase hex without separators (never in ``repr``).
    ``reader``: id of the reader that saw it. ``at``: when, as an aware UTC datetime.
    """

    uid: str = field(repr=False)
    reader: str
    at: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "uid", normalise_uid(self.uid))
        if self.at.tzinfo is None:
            raise ValueError("BadgeRead.at must be timezone-aware")
        object.__setattr__(self, "at", self.at.astimezone(UTC))


class BadgeReader(ABC):
    """A source of badge reads; one instance per physical (or simulated) reader."""

    def __init__(self, reader_id: str) -> None:
        self._id = check_segment(reader_id, "reader id")

    @property
    def id(self) -> str:
        """Reader id, as configured and as sent in badge messages."""
        return self._id

    @classmethod
    @abstractmethod
    def from_settings(cls, settings: BadgeReaderSettings, clock: Clock) -> BadgeReader:
        """Build the reader described by a configuration entry (without opening the device)."""

    @abstractmethod
    def reads(self) -> AsyncIterator[BadgeRead]:
        """Yield reads as cards are presented, until :meth:`close`; iterate it once at a time."""

    @abstractmethod
    async def close(self) -> None:
        """Release the device; a running :meth:`reads` ends."""

    def feedback(self, result: Feedback) -> None:
        """Show the hub's verdict on a tap (LED, buzzer); a reader without outputs logs it."""
        log.debug("reader %s: feedback %s (no LED or buzzer on this reader)", self.id, result)


class Debouncer:
    """Drops a card seen again on the same reader within a window.

    The window slides: every read of the card restarts it, so a card resting on a reader that
    repeats its UID every half second counts as one tap until it is taken away for the window.
    A read dated before the previous one (the clock was stepped back) is accepted.
    """

    _PRUNE_AT = 1024

    def __init__(self, window_s: float) -> None:
        if window_s < 0:
            raise ValueError("debounce window must not be negative")
        self._window_s = window_s
        self._last: dict[tuple[str, str], datetime] = {}

    def accept(self, read: BadgeRead) -> bool:
        """Whether *read* is a new tap (``True``) or a repeat to drop (``False``)."""
        key = (read.reader, read.uid)
        last = self._last.get(key)
        self._last[key] = read.at
        if len(self._last) > self._PRUNE_AT:
            self._prune(read.at)
        if last is None:
            return True
        elapsed = (read.at - last).total_seconds()
        return not 0 <= elapsed < self._window_s

    def _prune(self, now: datetime) -> None:
        self._last = {
            key: at for key, at in self._last.items() if (now - at).total_seconds() < self._window_s
        }


class FakeBadgeReader(BadgeReader):
    """A reader driven by code: ``reader.tap("04A1B2C3")`` from a test, a demo or any thread.

    Taps made before :meth:`reads` starts are kept and delivered in order. Feedback sent to the
    reader is recorded in :attr:`feedback_log`. Anything else fails loudly: tapping a closed
    reader, iterating :meth:`reads` twice at once, or calling a method the fake does not have.
    """

    def __init__(self, reader_id: str, *, clock: Clock = utc_now) -> None:
        super().__init__(reader_id)
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: deque[BadgeRead] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wakeup: asyncio.Event | None = None
        self._reading = False
        self._closed = False
        self.feedback_log: list[Feedback] = []
        """Every feedback received, in order."""

    @classmethod
    def from_settings(cls, settings: BadgeReaderSettings, clock: Clock) -> FakeBadgeReader:
        """A fake reader with the configured id."""
        return cls(settings.id, clock=clock)

    def tap(self, uid: str | bytes, at: datetime | None = None) -> BadgeRead:
        """Present a card now (or at *at*); safe from any thread or coroutine."""
        read = BadgeRead(uid=normalise_uid(uid), reader=self.id, at=at or self._clock())
        with self._lock:
            if self._closed:
                raise RuntimeError(f"badge reader {self.id} is closed")
            self._pending.append(read)
            loop, wakeup = self._loop, self._wakeup
        if loop is not None and wakeup is not None:
            loop.call_soon_threadsafe(wakeup.set)
        return read

    async def reads(self) -> AsyncIterator[BadgeRead]:
        """Yield the taps in the order they were made, until :meth:`close`."""
        wakeup = asyncio.Event()
        with self._lock:
            if self._reading:
                raise RuntimeError(f"reads() of badge reader {self.id} is already running")
            self._reading = True
            self._loop, self._wakeup = asyncio.get_running_loop(), wakeup
        try:
            while True:
                with self._lock:
                    if self._closed:
                        return
                    read = self._pending.popleft() if self._pending else None
                    if read is None:
                        wakeup.clear()
                if read is None:
                    await wakeup.wait()
                else:
                    yield read
        finally:
            with self._lock:
                self._reading = False
                self._loop = self._wakeup = None

    async def close(self) -> None:
        """Stop :meth:`reads`; later taps raise."""
        with self._lock:
            self._closed = True
            loop, wakeup = self._loop, self._wakeup
        if loop is not None and wakeup is not None:
            loop.call_soon_threadsafe(wakeup.set)

    def feedback(self, result: Feedback) -> None:
        """Record *result* in :attr:`feedback_log`."""
        self.feedback_log.append(result)

    if not TYPE_CHECKING:  # hidden from mypy, which would otherwise accept any attribute

        def __getattr__(self, name: str) -> NoReturn:
            raise AttributeError(
                f"FakeBadgeReader does not implement {name!r}: add it to the fake in "
                "edge/sources/badge.py along with the real backends"
            )


class SimulatedBadgeReader(BadgeReader):
    """Random taps among a few UIDs, with exponential inter-arrival times (a Poisson stream).

    With a *seed*, the sequence of (delay, card) is the same on every run, so a demo can be
    replayed; :meth:`next_tap` exposes it without waiting.
    """

    def __init__(
        self,
        reader_id: str,
        uids: Sequence[str | bytes] = DEMO_UIDS,
        mean_interval_s: float = 30.0,
        *,
        seed: int | None = None,
        clock: Clock = utc_now,
    ) -> None:
        super().__init__(reader_id)
        if not uids:
            raise ValueError("a simulated reader needs at least one UID")
        if mean_interval_s <= 0:
            raise ValueError("mean_interval_s must be positive")
        self._uids = [normalise_uid(uid) for uid in uids]
        self._mean_interval_s = mean_interval_s
        self._rng = random.Random(seed)  # noqa: S311 - a simulation, not security
        self._clock = clock
        self._closed = asyncio.Event()

    @classmethod
    def from_settings(cls, settings: BadgeReaderSettings, clock: Clock) -> SimulatedBadgeReader:
        """A simulated reader with the configured UIDs (demo UIDs if none), rate and seed."""
        return cls(
            settings.id,
            settings.uids or DEMO_UIDS,
            settings.mean_interval_s,
            seed=settings.seed,
            clock=clock,
        )

    def next_tap(self) -> tuple[float, str]:
        """Draw the delay (seconds) before the next tap and the UID tapped."""
        delay = self._rng.expovariate(1.0 / self._mean_interval_s)
        return delay, self._rng.choice(self._uids)

    async def reads(self) -> AsyncIterator[BadgeRead]:
        """Yield a simulated tap after each drawn delay, until :meth:`close`."""
        while not self._closed.is_set():
            delay, uid = self.next_tap()
            try:
                await asyncio.wait_for(self._closed.wait(), timeout=delay)
            except TimeoutError:
                yield BadgeRead(uid=uid, reader=self.id, at=self._clock())

    async def close(self) -> None:
        """End :meth:`reads`."""
        self._closed.set()


_BUILTIN: dict[str, type[BadgeReader]] = {
    "fake": FakeBadgeReader,
    "simulated": SimulatedBadgeReader,
}


def reader_class(kind: str) -> type[BadgeReader]:
    """The backend class of a reader *kind*, importing a hardware backend on first use."""
    builtin = _BUILTIN.get(kind)
    if builtin is not None:
        return builtin
    target = HARDWARE_BACKENDS.get(kind)
    if target is None:
        raise ValueError(f"unknown badge reader kind {kind!r}")
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise RuntimeError(
            f"badge reader kind {kind!r} needs {module_name}, which cannot be imported: {error}"
        ) from error
    backend = getattr(module, class_name)
    if not (isinstance(backend, type) and issubclass(backend, BadgeReader)):
        raise TypeError(f"{target} is not a BadgeReader")
    return backend


def open_badge_reader(settings: BadgeReaderSettings, *, clock: Clock = utc_now) -> BadgeReader:
    """The reader a configuration entry describes, chosen by its ``kind``."""
    return reader_class(settings.kind).from_settings(settings, clock)
