"""Fan-out of live events to the lobby screens of a site (one queue per connected screen).

A screen that stops reading (a frozen browser, a dead TV) must not hold the hub back: each client
has a bounded queue and, when it is full, its oldest event is dropped and counted.
"""

from __future__ import annotations

import asyncio
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


class Broadcaster:
    """Per-site fan-out; must be used from the event loop's thread."""

    def __init__(self, client_queue_size: int = 100) -> None:
        self._clients: dict[str, set[asyncio.Queue[ScreenEvent]]] = defaultdict(set)
        self._size = client_queue_size
        self.dropped = 0

    def clients(self, site_id: str | None = None) -> int:
        """Number of connected clients (of one site, or of all)."""
        if site_id is not None:
            return len(self._clients.get(site_id, ()))
        return sum(len(c) for c in self._clients.values())

    @asynccontextmanager
    async def subscribe(self, site_id: str) -> AsyncIterator[asyncio.Queue[ScreenEvent]]:
        """Register a client for the site's events while the context is open."""
        queue: asyncio.Queue[ScreenEvent] = asyncio.Queue(self._size)
        self._clients[site_id].add(queue)
        try:
            yield queue
        finally:
            self._clients[site_id].discard(queue)

    def publish(self, site_id: str, event: ScreenEvent) -> None:
        """Send *event* to every client of the site, never blocking."""
        for queue in self._clients.get(site_id, ()):
            if queue.full():
                queue.get_nowait()
                self.dropped += 1
                log.warning("a screen of %s is not reading; dropped its oldest event", site_id)
            queue.put_nowait(event)
