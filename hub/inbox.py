"""The ingest queue: messages as received, bounded, handed over in batches.

The MQTT reader threads (:mod:`hub.mqtt_link`) put what a worker process forwarded, a frame of
messages at a time; the ingest engine (:mod:`hub.ingest`) takes up to a batch at a time. Both
sides pay the lock and the wake-up once per batch, not once per message as with a
:class:`queue.Queue` (tens of thousands of times a second under a backlog). The bound is in
messages: when the inbox is full, a reader waits (back-pressure, see :mod:`hub.mqtt_link`) and
nothing is dropped.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import NamedTuple

from hub.admission import Verdict


class Inbound(NamedTuple):
    """One message as received, before any validation (a tuple: thousands are made a second)."""

    topic: str
    payload: bytes
    qos: int
    mid: int
    retain: bool
    received_at: float  # time.time()
    received_mono: float  # time.monotonic(), for latency
    link: str = ""  # which connection it came by (its mid is that connection's)
    worker: int = 0  # which worker process of that connection (acknowledged only by it)
    verdict: Verdict | None = None  # screened on arrival (hub.admission), else None


class Inbox:
    """A bounded, thread-safe queue of :class:`Inbound` messages, filled and emptied in batches."""

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError("an inbox holds at least one message")
        self.maxsize = maxsize
        self._items: deque[Inbound] = deque()
        self._lock = threading.Lock()
        self._not_empty = threading.Condition(self._lock)
        self._not_full = threading.Condition(self._lock)

    def put_many(self, items: Sequence[Inbound], stopping: threading.Event | None = None) -> int:
        """Add *items* in order, waiting for room while the inbox is full.

        Returns how many were added: all of them, unless *stopping* was set while waiting.
        """
        added = 0
        with self._lock:
            while added < len(items):
                room = self.maxsize - len(self._items)
                if room <= 0:
                    if stopping is not None and stopping.is_set():
                        break
                    self._not_full.wait(0.5)
                    continue
                self._items.extend(items[added : added + room])
                added += min(room, len(items) - added)
                self._not_empty.notify()
        return added

    def put(self, item: Inbound) -> None:
        """Add one message (waiting for room)."""
        self.put_many([item])

    def take(self, limit: int, wait: float = 0.0) -> list[Inbound]:
        """Up to *limit* messages, oldest first; waits up to *wait* s while there are none."""
        with self._lock:
            if not self._items and wait > 0:
                deadline = time.monotonic() + wait
                while not self._items:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._not_empty.wait(left)
            items = self._items
            count = min(limit, len(items))
            if count == 0:
                return []
            batch = [items.popleft() for _ in range(count)]
            self._not_full.notify_all()
            return batch

    def qsize(self) -> int:
        """Messages waiting (a snapshot)."""
        return len(self._items)
