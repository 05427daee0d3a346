"""Fan-out of live events to the lobby screens of a site (one queue per connected screen).

A screen that stops reading (a frozen browser, a dead TV) must not hold the hub back: each client
has a bounded queue and, when it is full, its oldest event is dropped and counted. Events may be
published from any thread (an announcement from a worker thread): they are handed to the event
loop that serves the screens.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ScreenEvent:
    """An event for the screens of one site; *data* is rendered per screen (language)."""

    name: str
    data: object


CLOSE = ScreenEvent("close", None)  # the stream ends here


class Broadcaster:
    """Per-site fan-out; clients subscribe on the event loop, events come from any thread."""

    def __init__(self, client_queue_size: int = 100) -> None:
        self._clients: dict[str, set[asyncio.Queue[ScreenEvent]]] = defaultdict(set)
        self._size = client_queue_size
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self.dropped = 0

    def clients(self, site_id: str | None = None) -> int:
        """Number of connected clients (of one site, or of all)."""
        if site_id is not None:
            return len(self._clients.get(site_id, ()))
        return sum(len(c) for c in self._clients.values())

    @asynccontextmanager
    async def subscribe(self, site_id: str) -> AsyncIterator[asyncio.Queue[ScreenEvent]]:
        """Register a client for the site's events while the context is open."""
        self._loop = asyncio.get_running_loop()
        queue: asyncio.Queue[ScreenEvent] = asyncio.Queue(self._size)
        if self._closed:
            queue.put_nowait(CLOSE)
        self._clients[site_id].add(queue)
        try:
            yield queue
        finally:
            self._clients[site_id].discard(queue)

    def publish(self, site_id: str, event: ScreenEvent) -> None:
        """Send *event* to every client of the site, never blocking."""
        loop = self._loop
        if loop is not None and not _running_in(loop):
            with contextlib.suppress(RuntimeError):  # the loop closed: nobody is listening
                loop.call_soon_threadsafe(self._deliver, site_id, event)
            return
        self._deliver(site_id, event)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called (the server is stopping)."""
        return self._closed

    def close(self) -> None:
        """End every stream (the server is stopping: it waits for open responses to finish).

        Streams end when they read :data:`CLOSE`; screens reconnect to the next hub by themselves.
        """
        self._closed = True
        for site_id in list(self._clients):
            self.publish(site_id, CLOSE)

    def _deliver(self, site_id: str, event: ScreenEvent) -> None:
        for queue in self._clients.get(site_id, ()):
            if queue.full():
                queue.get_nowait()
                self.dropped += 1
                log.warning("a screen of %s is not reading; dropped its oldest event", site_id)
            queue.put_nowait(event)


def _running_in(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False
