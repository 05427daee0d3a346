"""Turning observations into wire messages, committed to the outbox one at a time, in order.

Badge reads, sensor readings and BLE windows arrive from many coroutines (and, through the event
loop, from gpiozero's threads); they are queued here and a single writer builds each payload and
commits it to the :class:`~edge.outbox.Outbox` in a worker thread (one fsync each), then wakes
the MQTT link. One writer keeps the outbox's sequence in observation order and never lets two
fsyncs compete for the SD card.

What is checked on the way, since a message the hub would reject is better dropped here, counted
and logged once, than stored and sent for nothing:

* the clock: a Raspberry Pi has no real-time clock and starts in 1970 until NTP answers; such an
  observation cannot be dated, so it is not recorded (``unrecorded``);
* the sensor kind: a kind the wire contract does not know yet (a newer sensor's) is left out
  (``unsupported``), with one log line per kind;
* the value: out of the contract's range for its kind (a sensor glitch) is left out
  (``invalid``).

A badge's raw UID lives only in the queued :class:`~edge.sources.badge.BadgeRead`; the writer
turns it into the site's keyed credential before anything is built, stored or logged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from pydantic import ValidationError

from edge.clock import epoch_ms
from edge.outbox import Outbox
from edge.sources.badge import BadgeRead
from edge.sources.base import BleReport, SensorReading
from vivant.wire.codec import encode
from vivant.wire.credential import credential_for
from vivant.wire.payloads import (
    MAX_TS_MS,
    MIN_TS_MS,
    Badge,
    BleWindow,
    Sensor,
    SensorKind,
    TagReading,
)
from vivant.wire.topics import EdgeKind, Topics

log = logging.getLogger(__name__)

QUEUE_LIMIT: Final = 10_000
_KNOWN_KINDS: Final = frozenset(kind.value for kind in SensorKind)


@dataclass(frozen=True, slots=True)
class _BadgeJob:
    read: BadgeRead
    room: str


_Job = _BadgeJob | SensorReading | BleReport


@dataclass
class RecorderStats:
    """What became of the observations, since start."""

    taps: int = 0
    """Badge reads stored as badge messages."""
    sensor_readings: int = 0
    ble_windows: int = 0
    unrecorded: int = 0
    """Observations lost: clock not set, queue full, or the outbox failed."""
    unsupported: dict[str, int] = field(default_factory=dict)
    """Readings of kinds the wire contract does not have, by kind."""
    invalid: int = 0
    """Readings out of their kind's range."""


class Recorder:
    """Queue of observations and the writer that stores them (one per agent)."""

    def __init__(
        self,
        outbox: Outbox,
        topics: Topics,
        *,
        site: str,
        node: str,
        credential_key: str,
        wake: Callable[[], None],
        on_badge: Callable[[str, str], None] | None = None,
    ) -> None:
        """*wake* tells the link there is something to send; *on_badge(message_id, reader)*."""
        self._outbox = outbox
        self._key = credential_key
        self._wake = wake
        self._on_badge = on_badge
        self._topics = {
            kind: topics.node(site, node, kind)
            for kind in (EdgeKind.BADGE, EdgeKind.SENSOR, EdgeKind.BLE)
        }
        self._queue: asyncio.Queue[_Job] = asyncio.Queue(QUEUE_LIMIT)
        self.stats = RecorderStats()

    # -- the sink ------------------------------------------------------------------------------

    def badge(self, read: BadgeRead, room: str) -> None:
        """Queue a badge read (already debounced) for a reader in *room*."""
        self._enqueue(_BadgeJob(read, room))

    def sensor(self, reading: SensorReading) -> None:
        """Queue a sensor reading."""
        self._enqueue(reading)

    def ble(self, report: BleReport) -> None:
        """Queue a BLE window."""
        self._enqueue(report)

    def _enqueue(self, job: _Job) -> None:
        try:
            self._queue.put_nowait(job)
        except asyncio.QueueFull:
            self.stats.unrecorded += 1
            log.error("recorder queue full (is the disk stuck?): an observation was lost")

    @property
    def pending(self) -> int:
        """Observations queued and not yet stored."""
        return self._queue.qsize()

    async def drain(self) -> None:
        """Wait until everything queued so far is stored (or given up)."""
        await self._queue.join()

    # -- the writer ----------------------------------------------------------------------------

    async def run(self) -> None:
        """Store queued observations until cancelled."""
        while True:
            job = await self._queue.get()
            try:
                await self._store(job)
            except Exception:
                self.stats.unrecorded += 1
                log.exception("an observation could not be stored in the outbox")
            finally:
                self._queue.task_done()

    async def _store(self, job: _Job) -> None:
        if isinstance(job, _BadgeJob):
            await self._store_badge(job)
        elif isinstance(job, SensorReading):
            await self._store_sensor(job)
        else:
            await self._store_ble(job)

    def _dated(self, at: datetime, what: str) -> int | None:
        ts = epoch_ms(at)
        if MIN_TS_MS <= ts <= MAX_TS_MS:
            return ts
        self.stats.unrecorded += 1
        log.warning("%s not recorded: the clock is not set (%s)", what, at)
        return None

    async def _put(self, kind: EdgeKind, build: Callable[[str], bytes]) -> str:
        entry = await asyncio.to_thread(self._outbox.put, self._topics[kind], build)
        self._wake()
        return entry.message_id

    async def _store_badge(self, job: _BadgeJob) -> None:
        read = job.read
        ts = self._dated(read.at, f"reader {read.reader}: tap")
        if ts is None:
            return
        credential = credential_for(self._key, read.uid)

        def build(message_id: str) -> bytes:
            return encode(
                Badge(
                    id=message_id, ts=ts, room=job.room, reader=read.reader, credential=credential
                )
            )

        message_id = await self._put(EdgeKind.BADGE, build)
        self.stats.taps += 1
        log.debug("reader %s: tap recorded as %s", read.reader, message_id)
        if self._on_badge is not None:
            self._on_badge(message_id, read.reader)

    async def _store_sensor(self, reading: SensorReading) -> None:
        if reading.kind not in _KNOWN_KINDS:
            seen = self.stats.unsupported.get(reading.kind, 0)
            self.stats.unsupported[reading.kind] = seen + 1
            if not seen:
                log.info(
                    "sensor %s: %s is not a sensor kind of the wire contract yet; not sent",
                    reading.source,
                    reading.kind,
                )
            return
        ts = self._dated(reading.at, f"sensor {reading.source}: {reading.kind}")
        if ts is None:
            return
        try:
            Sensor(
                id="check",
                ts=ts,
                room=reading.room,
                kind=SensorKind(reading.kind),
                value=float(reading.value),
            )
        except ValidationError:
            self.stats.invalid += 1
            log.warning(
                "sensor %s: %s reading %r is out of range, dropped",
                reading.source,
                reading.kind,
                reading.value,
            )
            return

        def build(message_id: str) -> bytes:
            return encode(
                Sensor(
                    id=message_id,
                    ts=ts,
                    room=reading.room,
                    kind=SensorKind(reading.kind),
                    value=float(reading.value),
                )
            )

        await self._put(EdgeKind.SENSOR, build)
        self.stats.sensor_readings += 1

    async def _store_ble(self, report: BleReport) -> None:
        ts = self._dated(report.at, "BLE window")
        if ts is None:
            return
        tags = [TagReading(tag=t.tag, rssi=t.rssi, n=t.n) for t in report.tags]

        def build(message_id: str) -> bytes:
            return encode(
                BleWindow(
                    id=message_id,
                    ts=ts,
                    room=report.room,
                    window_s=report.window_s,
                    tags=tags,
                    anonymous=report.anonymous,
                )
            )

        await self._put(EdgeKind.BLE, build)
        self.stats.ble_windows += 1
