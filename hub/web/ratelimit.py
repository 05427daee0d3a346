"""Per-client limits on the public routes that take input or cost work.

- Member links (``/rsvp/<token>``, ``/privacy/<token>…``) and a site's iCal feed: at most
  ``http.public_requests_per_minute`` requests per client address in any minute (default 60: a
  member opening a link and clicking makes a handful, a calendar application one per sync).
- Lobby screens are not counted (a kiosk reconnects its stream often), but their wrong tokens
  are: past ``http.screen_failures_per_minute`` of them, the address gets 429 on screen URLs
  before any token is even checked, so guessing costs the hub next to nothing.

Sign-in (:mod:`hub.accounts`) and link requests (:class:`hub.privacy.RequestLimiter`) keep
their own, stricter limits. A refused request gets 429 with ``Retry-After`` (seconds). Counts
live in memory, per hub process, for one window; the client address is
:func:`hub.web.auth.client_ip` (the real one behind a trusted reverse proxy).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, Response

from hub.config import HttpSettings, Language
from hub.i18n import gettext
from hub.web.auth import client_ip

WINDOW_S = 60.0
MAX_CLIENTS = 10_000
"""Addresses tracked at most per limit (beyond, the stalest are forgotten first)."""

TOO_MANY: dict[int | str, dict[str, Any]] = {
    429: {"description": "Too many requests from this address (see Retry-After)."}
}
"""``responses=`` of a limited route, for its OpenAPI schema."""


class SlidingWindow:
    """Counts of events per key over the last *window_s* seconds, at most *limit* each."""

    def __init__(
        self,
        limit: int,
        window_s: float = WINDOW_S,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self._monotonic = monotonic
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        hits = self._hits.get(key)
        if hits is None:
            if len(self._hits) >= MAX_CLIENTS:
                self._forget_stale(now)
            hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - self.window_s:
            hits.popleft()
        return hits

    def _forget_stale(self, now: float) -> None:
        for name in [k for k, q in self._hits.items() if not q or q[-1] <= now - self.window_s]:
            del self._hits[name]
        while len(self._hits) >= MAX_CLIENTS:  # all recent: drop the oldest tracked
            del self._hits[next(iter(self._hits))]

    def _wait(self, hits: deque[float], now: float) -> float | None:
        if len(hits) < self.limit:
            return None
        return max(1.0, hits[0] + self.window_s - now)

    def hit(self, key: str) -> float | None:
        """Count one event of *key*: ``None`` when allowed, else the seconds to wait."""
        now = self._monotonic()
        with self._lock:
            hits = self._recent(key, now)
            wait = self._wait(hits, now)
            if wait is None:
                hits.append(now)
            return wait

    def blocked(self, key: str) -> float | None:
        """The seconds *key* must wait before its next event, or ``None`` (counts nothing)."""
        now = self._monotonic()
        with self._lock:
            return self._wait(self._recent(key, now), now)

    def record(self, key: str) -> None:
        """Count one event of *key* even past the limit (failures to remember)."""
        now = self._monotonic()
        with self._lock:
            self._recent(key, now).append(now)


class PublicLimits:
    """The limits of one application (``app.state.limits``)."""

    def __init__(self, settings: HttpSettings, monotonic: Callable[[], float] = time.monotonic):
        self.pages = SlidingWindow(settings.public_requests_per_minute, monotonic=monotonic)
        self.screen_failures = SlidingWindow(
            settings.screen_failures_per_minute, monotonic=monotonic
        )


class TooManyRequests(Exception):
    """The client must wait *retry_after_s* seconds."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__("too many requests")
        self.retry_after_s = retry_after_s


def limits_of(request: Request) -> PublicLimits:
    """The application's :class:`PublicLimits`."""
    limits: PublicLimits = request.app.state.limits
    return limits


def _count_page(request: Request) -> None:
    wait = limits_of(request).pages.hit(client_ip(request))
    if wait is not None:
        raise TooManyRequests(wait)


PUBLIC_LIMIT: Any = Depends(_count_page)
"""Dependency of a limited public route (see the module docstring)."""


async def _too_many(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, TooManyRequests)
    seconds = math.ceil(exc.retry_after_s)
    # Nobody is known here: say it in French, then in English.
    lines = [
        gettext(language, "Too many requests. Please wait a minute and try again.")
        for language in (Language.FR, Language.EN)
    ]
    body = "<!doctype html><meta charset=utf-8><title>429</title>" + "".join(
        f"<p>{line}</p>" for line in lines
    )
    return HTMLResponse(body, status_code=429, headers={"Retry-After": str(seconds)})


def install(app: FastAPI, settings: HttpSettings) -> None:
    """Give *app* its limits and the 429 answer."""
    app.state.limits = PublicLimits(settings)
    app.add_exception_handler(TooManyRequests, _too_many)
