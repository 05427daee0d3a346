"""Lobby screens: ``/screens/<site>/<screen>``, its state and its live event stream.

The stream is Server-Sent Events: the browser's EventSource reconnects by itself, and every
(re)connection starts with a ``hello`` carrying the hub's boot id, so the page reloads its state
after a hub restart without anyone touching the TV.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse
from sse_starlette import EventSourceResponse, ServerSentEvent

from hub.config import ScreenSettings, SiteSettings
from hub.greeting import Greeting
from hub.i18n import translations
from hub.screen_view import greeting_view, screen_state
from hub.web.deps import RuntimeDep
from hub.web.templating import render

router = APIRouter(prefix="/screens", tags=["screens"])

RETRY_MS = 2000


def _screen(
    runtime: RuntimeDep, site_id: str, screen_id: str
) -> tuple[SiteSettings, ScreenSettings]:
    site = runtime.config.site(site_id)
    screen = site.screen(screen_id) if site else None
    if site is None or screen is None:
        raise HTTPException(status_code=404, detail="unknown screen")
    return site, screen


@router.get("/{site_id}/{screen_id}", response_class=HTMLResponse)
def page(site_id: str, screen_id: str, runtime: RuntimeDep) -> HTMLResponse:
    """The lobby page (no member data in its source: everything live comes from the stream)."""
    site, screen = _screen(runtime, site_id, screen_id)
    html = render(
        "screen.html",
        screen.language,
        site=site,
        screen=screen,
        greeting_ms=int(runtime.config.greeting_seconds * 1000),
    )
    return HTMLResponse(html)


@router.get("/{site_id}/{screen_id}/state")
def state(site_id: str, screen_id: str, runtime: RuntimeDep) -> dict[str, Any]:
    """Idle content: today's moments and how many are here."""
    site, screen = _screen(runtime, site_id, screen_id)
    with runtime.sessions() as session:
        return screen_state(session, site, screen.language, datetime.now(UTC))


@router.get("/{site_id}/{screen_id}/events")
async def events(
    site_id: str, screen_id: str, request: Request, runtime: RuntimeDep
) -> EventSourceResponse:
    """Live events for one screen: ``hello`` first, then ``greeting`` on each badge tap."""
    site, screen = _screen(runtime, site_id, screen_id)
    translations(screen.language)  # compile the catalog before the first greeting

    async def stream() -> AsyncIterator[ServerSentEvent]:
        async with runtime.broadcaster.subscribe(site.id) as queue:
            yield ServerSentEvent(
                event="hello", data=json.dumps({"boot": runtime.boot_id}), retry=RETRY_MS
            )
            while True:
                event = await queue.get()
                if event.name == "greeting" and isinstance(event.data, Greeting):
                    payload = greeting_view(event.data, site, screen.language)
                    yield ServerSentEvent(
                        event="greeting",
                        data=json.dumps(payload, ensure_ascii=False),
                        id=event.data.id,
                    )

    return EventSourceResponse(stream(), ping=15)
