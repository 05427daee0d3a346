"""A minimal Server-Sent Events reader over a real HTTP connection (httpx)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class Event:
    """One SSE event."""

    name: str
    data: str

    def json(self) -> Any:
        """The data, parsed as JSON."""
        return json.loads(self.data)


class SseClient:
    """Collects the events of one stream in a background task."""

    def __init__(self, url: str, headers: dict[str, str] | None = None) -> None:
        self.url = url
        self.headers = headers or {}  # e.g. the session cookie of a staff dashboard
        self.events: asyncio.Queue[Event] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()
        self.hello: dict[str, Any] = {}

    async def _read(self) -> None:
        async with (
            httpx.AsyncClient(
                timeout=httpx.Timeout(5.0, read=None), headers=self.headers
            ) as client,
            client.stream("GET", self.url) as response,
        ):
            response.raise_for_status()
            self.connected.set()
            name, data = "message", list[str]()
            async for line in response.aiter_lines():
                if line == "":
                    if data:
                        await self.events.put(Event(name, "\n".join(data)))
                    name, data = "message", []
                elif line.startswith("event:"):
                    name = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].removeprefix(" "))

    async def next(self, name: str, within: float = 5.0) -> Event:
        """The next event called *name* (others are skipped)."""
        async with asyncio.timeout(within):
            while True:
                event = await self.events.get()
                if event.name == name:
                    return event

    @contextlib.asynccontextmanager
    async def open(self) -> AsyncIterator[SseClient]:
        """Connect, wait for the ``hello`` event, yield, disconnect."""
        self._task = asyncio.create_task(self._read())
        try:
            self.hello = (await self.next("hello", within=10)).json()
            yield self
        finally:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
                await self._task
