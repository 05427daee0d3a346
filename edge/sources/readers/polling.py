"""Readers whose library blocks (pyserial, pyscard, the PN532 driver): a thread polls the device.

:class:`PollingBadgeReader` runs the blocking open / poll / release cycle of a subclass in a
worker thread and hands each UID to the event loop, so a slow or hung device never blocks the
agent. An error in the thread ends :meth:`~PollingBadgeReader.reads` with that error; the agent
then retries with backoff, and the next :meth:`~PollingBadgeReader.reads` opens the device again
(a USB reader unplugged and plugged back in recovers by itself).

:class:`PresenceTracker` turns "the card is on the reader" polls into taps: contactless readers
see a card at every poll while it rests on them, but only its arrival is a tap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from abc import abstractmethod
from collections.abc import AsyncIterator
from typing import Final

from edge.clock import Clock, utc_now
from edge.sources.badge import BadgeRead, BadgeReader
from vivant.wire.credential import normalise_uid

log = logging.getLogger(__name__)

_JOIN_S: Final = 5.0
_Item = BadgeRead | BaseException | None


class PresenceTracker:
    """Reports a card when it arrives on the reader, not while it rests there."""

    def __init__(self, absent_polls: int = 2) -> None:
        if absent_polls < 1:
            raise ValueError("absent_polls must be at least 1")
        self._absent_polls = absent_polls
        self._present: bytes | None = None
        self._missing = 0

    def seen(self, uid: bytes | None) -> bytes | None:
        """Feed one poll (``None``: no card); returns the UID if this is a new tap."""
        if uid is None:
            self._missing += 1
            if self._missing >= self._absent_polls:  # one missed poll is RF noise, not absence
                self._present = None
            return None
        self._missing = 0
        if uid == self._present:
            return None
        self._present = uid
        return uid


class PollingBadgeReader(BadgeReader):
    """A reader served by a worker thread; subclasses implement the blocking device calls."""

    def __init__(self, reader_id: str, *, clock: Clock = utc_now) -> None:
        super().__init__(reader_id)
        self._clock = clock
        self._lock = threading.Lock()
        self._closed = False
        self._reading = False
        self._halt: threading.Event | None = None

    @abstractmethod
    def _open(self) -> None:
        """Open the device (blocking); raise if it is not there."""

    @abstractmethod
    def _poll(self) -> list[str | bytes]:
        """Wait a little (at most about a second) and return the UIDs of new taps."""

    @abstractmethod
    def _release(self) -> None:
        """Close the device (blocking); called after every :meth:`_open`, even a failed poll."""

    async def reads(self) -> AsyncIterator[BadgeRead]:
        """Yield taps from the worker thread until :meth:`close`."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[_Item] = asyncio.Queue()
        halt = threading.Event()
        with self._lock:
            if self._reading:
                raise RuntimeError(f"reads() of badge reader {self.id} is already running")
            if self._closed:
                return
            self._reading, self._halt = True, halt
        thread = threading.Thread(
            target=self._work, args=(loop, queue, halt), name=f"reader-{self.id}", daemon=True
        )
        thread.start()
        try:
            while True:
                item = await queue.get()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            halt.set()
            await asyncio.to_thread(thread.join, _JOIN_S)
            if thread.is_alive():
                log.error("reader %s: its thread did not stop (device hung?)", self.id)
            with self._lock:
                self._reading, self._halt = False, None

    def _work(
        self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[_Item], halt: threading.Event
    ) -> None:
        def hand(item: _Item) -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(queue.put_nowait, item)

        opened = False
        try:
            self._open()
            opened = True
            log.info("badge reader %s ready", self.id)
            while not halt.is_set():
                for uid in self._poll():
                    try:
                        read = BadgeRead(uid=normalise_uid(uid), reader=self.id, at=self._clock())
                    except ValueError:
                        log.warning("reader %s: unreadable card id ignored", self.id)
                        continue
                    hand(read)
            hand(None)
        except Exception as error:
            hand(error)
        finally:
            if opened:
                try:
                    self._release()
                except Exception:
                    log.debug("reader %s: release failed", self.id, exc_info=True)

    async def close(self) -> None:
        """Stop polling; a running :meth:`reads` ends after the current poll."""
        with self._lock:
            self._closed = True
            halt = self._halt
        if halt is not None:
            halt.set()
