"""Lobby screens: ``/screens/<site>/<screen>``, its state and its live event stream.

Every route needs the screen's token (``?token=…``, see :mod:`hub.screen_auth`): none gives 401,
a wrong one (another screen, another purpose, a revoked version) 403. The token is read-only by
construction: these three GET routes are all it opens. Wrong tokens are counted per address
and, past ``http.screen_failures_per_minute``, answered 429 before any check
(:mod:`hub.web.ratelimit`); a screen's right token is never counted.

The stream is Server-Sent Events: the browser's EventSource reconnects by itself, and every
(re)connection starts with a ``hello`` carrying the hub's boot id and version, so the page reloads
its state after a hub restart (and itself after an upgrade) without anyone touching the TV.

With many screens on one site, each event is rendered once per language, not once per screen:
the QR code and the database lookups are the costly part of a greeting. The QR code of a
greeting card is an event of its own (``greeting-qr``, the card's id and the SVG), sent right
after the card to every screen: the card does not wait for it to be drawn.
"""

from __future__ import annotations

import asyncio
import functools
import json
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse
from sse_starlette import EventSourceResponse, ServerSentEvent

from hub.broadcast import CLOSE, ScreenEvent
from hub.config import Language, ScreenSettings, SiteSettings
from hub.greeting import Greeting
from hub.i18n import translations
from hub.runtime import HubRuntime
from hub.screen_announce import Announcement, announcement_view
from hub.screen_auth import token_allows
from hub.screen_view import greeting_code, greeting_view, screen_state
from hub.web.auth import client_ip
from hub.web.deps import RuntimeDep
from hub.web.ratelimit import TOO_MANY, TooManyRequests, limits_of
from hub.web.templating import render
from vivant import __version__

router = APIRouter(prefix="/screens", tags=["screens"], responses=TOO_MANY)

RETRY_MS = 2000
PING_S = 15
NO_STORE = {"Cache-Control": "no-store"}


def _screen(
    request: Request,
    runtime: RuntimeDep,
    site_id: str,
    screen_id: str,
    token: Annotated[str | None, Query(max_length=512)] = None,
) -> tuple[SiteSettings, ScreenSettings]:
    # Wrong tokens are counted per address (hub.web.ratelimit); past the limit, nothing is checked.
    failures = limits_of(request).screen_failures
    client = client_ip(request)
    wait = failures.blocked(client)
    if wait is not None:
        raise TooManyRequests(wait)
    site = runtime.config.site(site_id)
    screen = site.screen(screen_id) if site else None
    if site is None or screen is None:
        failures.record(client)
        raise HTTPException(status_code=404, detail="unknown screen")
    if not token:
        raise HTTPException(status_code=401, detail="this screen needs its token (?token=…)")
    if runtime.signer is None or not token_allows(runtime.signer, token, site, screen):
        failures.record(client)
        raise HTTPException(status_code=403, detail="this token does not open this screen")
    return site, screen


ScreenDep = Annotated[tuple[SiteSettings, ScreenSettings], Depends(_screen)]


@router.get("/{site_id}/{screen_id}", response_class=HTMLResponse)
def page(screen: ScreenDep, runtime: RuntimeDep, token: str) -> HTMLResponse:
    """The lobby page (no member data in its source: everything live comes from the stream)."""
    site, settings = screen
    html = render(
        "screen.html",
        settings.language,
        site=site,
        screen=settings,
        token=token,
        version=__version__,
        greeting_ms=int(runtime.config.greeting_seconds * 1000),
    )
    return HTMLResponse(html, headers={**NO_STORE, "Referrer-Policy": "no-referrer"})


@router.get("/{site_id}/{screen_id}/state")
def state(screen: ScreenDep, runtime: RuntimeDep) -> dict[str, Any]:
    """Idle content: the panels to rotate, the next moment, how many are here."""
    site, settings = screen
    with runtime.sessions() as session:
        return screen_state(session, runtime.config, site, settings.language, datetime.now(UTC))


# What a rendered event is kept under: (event id, language), or (greeting id, None) for the QR
# code of a greeting card, the same in every language.
_Key = tuple[str, Language | None]


class _Rendered:
    """Events already rendered and encoded, by :data:`_Key`; bounded, shared by threads."""

    def __init__(self, size: int = 256) -> None:
        self._items: OrderedDict[_Key, bytes | None] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, key: _Key) -> tuple[bool, bytes | None]:
        with self._lock:
            if key in self._items:
                return True, self._items[key]
            return False, None

    def put(self, key: _Key, value: bytes | None) -> None:
        with self._lock:
            self._items[key] = value
            while len(self._items) > self._size:
                self._items.popitem(last=False)


_rendered = _Rendered()
# Renders under way, by key; each task belongs to the loop of the hub whose event it renders.
_reading: dict[tuple[str, Language], asyncio.Task[bytes | None]] = {}


def _render_event(
    runtime: HubRuntime, event: ScreenEvent, site: SiteSettings, language: Language
) -> bytes | None:
    """*event* for a screen in *language*, as the stream sends it, or ``None`` to skip it.

    Encoded here, once: every screen of the language is then sent the same bytes.
    """
    payload: dict[str, Any] | None
    if event.name == "greeting" and isinstance(event.data, Greeting):
        greeting = event.data  # composed with the tap, who is going included: no database here
        payload = greeting_view(
            greeting,
            site,
            language,
            base_url=runtime.config.http.base_url,
            signer=runtime.signer,
            going=greeting.going_to if greeting.going is not None else None,
        )
        event_id = greeting.id
    elif event.name == "announcement" and isinstance(event.data, Announcement):
        with runtime.sessions() as session:
            payload = announcement_view(session, event.data, site, language)
        event_id = event.data.id
    else:
        return None
    if payload is None:
        return None
    data = json.dumps(payload, ensure_ascii=False)
    return ServerSentEvent(event=event.name, data=data, id=event_id).encode()


async def _rendered_event(
    runtime: HubRuntime, event: ScreenEvent, site: SiteSettings, language: Language
) -> bytes | None:
    event_id = getattr(event.data, "id", None)
    if not isinstance(event_id, str):
        return None
    key = (event_id, language)
    found, cached = _rendered.get(key)
    if found:
        return cached
    if event.name == "greeting":
        # Composed with the tap (hub.greeting): no database to read, only text to place (the QR
        # code follows, _rendered_code), at once rather than after a thread hop.
        rendered = _render_event(runtime, event, site, language)
        _rendered.put(key, rendered)
        return rendered
    render_now = functools.partial(_render_event, runtime, event, site, language)
    # Announcements read the database: off the event loop, and once for all the screens
    # waiting for it (they share the task; one leaving does not cancel it for the others).
    task = _reading.get(key)
    if task is None:
        task = asyncio.create_task(asyncio.to_thread(render_now))
        _reading[key] = task

        def done(finished: asyncio.Task[bytes | None]) -> None:
            _reading.pop(key, None)
            if not finished.cancelled() and finished.exception() is None:
                _rendered.put(key, finished.result())

        task.add_done_callback(done)
    return await asyncio.shield(task)


async def _rendered_code(runtime: HubRuntime, greeting: Greeting) -> bytes | None:
    """The ``greeting-qr`` event of a greeting card, drawn once for all the screens.

    Drawn after every screen waiting for the card was sent it: this stream first lets the
    others run (they were all woken by the same event), then the first to come back draws the
    code on the event loop (a few milliseconds, no database) and the others find it drawn.
    """
    await asyncio.sleep(0)
    key: _Key = (greeting.id, None)
    found, cached = _rendered.get(key)
    if found:
        return cached
    code = greeting_code(greeting, base_url=runtime.config.http.base_url, signer=runtime.signer)
    rendered = None
    if code is not None:
        data = json.dumps(code)
        rendered = ServerSentEvent(event="greeting-qr", data=data).encode()
    _rendered.put(key, rendered)
    return rendered


@router.get("/{site_id}/{screen_id}/events")
async def events(screen: ScreenDep, runtime: RuntimeDep) -> EventSourceResponse:
    """Live events for one screen: ``hello`` first, then ``greeting`` (each followed by its
    ``greeting-qr`` when the card offers one) and ``announcement``."""
    site, settings = screen
    language = settings.language
    translations(language)  # compile the catalog before the first greeting

    async def stream() -> AsyncIterator[ServerSentEvent | bytes]:
        async with runtime.broadcaster.subscribe(site.id) as queue:
            hello = {"boot": runtime.boot_id, "version": __version__}
            yield ServerSentEvent(event="hello", data=json.dumps(hello), retry=RETRY_MS)
            while True:
                event = await queue.get()
                if event is CLOSE:
                    return
                rendered = await _rendered_event(runtime, event, site, language)
                if rendered is None:
                    continue
                yield rendered
                if event.name == "greeting" and isinstance(event.data, Greeting):
                    code = await _rendered_code(runtime, event.data)
                    if code is not None:
                        yield code

    return EventSourceResponse(stream(), ping=PING_S, headers=NO_STORE)
