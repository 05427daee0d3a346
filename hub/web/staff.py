"""The staff dashboard (``/staff``): live occupancy, who is here, moments, nodes; staff actions.

The page is complete without JavaScript (server-rendered, forms that post and redirect back);
``/static/staff.js`` only keeps it live: it listens to ``/staff/events`` (Server-Sent Events)
where the hub sends, every :data:`LIVE_INTERVAL_S`, the live part of each site that changed,
already rendered. The stream re-checks the session at each step and ends with ``signed-out`` when
it was closed (logout elsewhere, account removed), so a revoked dashboard stops updating.
"""

from __future__ import annotations

import asyncio
import json
import random
import secrets
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import select
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from hub.accounts import Principal, Role, session_principal
from hub.config import Language
from hub.dashboard import SiteBoard, board, member_choices
from hub.db.models import Member, Moment
from hub.enrolment import EnrolmentError, cancel_enrolment, start_enrolment
from hub.i18n import gettext, local_time
from hub.nudge_control import is_paused, pause, resume
from hub.presence import staff_check_in, staff_check_out
from hub.runtime import HubRuntime
from hub.web.auth import SESSION_COOKIE, StaffUser, language_of, page, require
from hub.web.deps import RowId, get_runtime
from hub.web.templating import render

router = APIRouter(prefix="/staff", tags=["staff"])

LIVE_INTERVAL_S = 2.0
BOARD_CACHE_S = 1.0  # many dashboards open: the database is read once per interval, not per tab
RETRY_MS = 2000
_phases = random.Random()  # noqa: S311 (spreads the dashboards' wake-ups: nothing secret)


def N_(message: str) -> str:
    """Mark *message* for extraction; it is translated where it is used."""
    return message


MESSAGES = {
    "checked_in": N_("Checked in."),
    "checked_out": N_("Checked out."),
    "not_on_site": N_("This member was not on site."),
    "enrolment_started": N_("Ask the member to tap their badge on the reader within 60 seconds."),
    "enrolment_cancelled": N_("Enrolment cancelled."),
    "unknown_member": N_("Unknown member."),
    "unknown_site": N_("Unknown site."),
    "unknown_node": N_("Unknown reader."),
    "unknown_moment": N_("Unknown moment."),
    "paused": N_("Nudges are paused: nothing is sent until you resume them."),
    "resumed": N_("Nudges are running again."),
    "announced": N_(
        "Announced: the lobby screens show it, and the members on site are invited within the "
        "usual limits (consent, caps, quiet hours)."
    ),
    "nudges_off": N_("Nudges are switched off in this hub's configuration."),
}


# The live part of a board is the same for every dashboard in a language but for the CSRF token
# in its forms: it is rendered once with this stand-in, which each dashboard replaces with its own
# token (hex: the template's escaping leaves it as it is, and so it does the real url-safe token).
CSRF_STANDIN = secrets.token_hex(16)


class BoardCache:
    """The boards of every site per language, recomputed at most every :data:`BOARD_CACHE_S`,
    and the live HTML of each, rendered once for every dashboard open in that language."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._boards: dict[Language, tuple[float, list[SiteBoard]]] = {}
        self._html: dict[tuple[str, Language], tuple[SiteBoard, str]] = {}

    def live_html(self, board_: SiteBoard, language: Language, principal: Principal) -> str:
        """The live HTML of *board_* for *principal*'s dashboard (re-rendered when it changed)."""
        key = (board_.site_id, language)
        with self._lock:
            last = self._html.get(key)
        if last is not None and (last[0] is board_ or last[0] == board_):
            html = last[1]
        else:
            html = render("staff_live.html", language, board=board_, csrf_token=CSRF_STANDIN)
            with self._lock:
                self._html[key] = (board_, html)
        return html.replace(CSRF_STANDIN, principal.csrf_token or "")

    def get(self, runtime: HubRuntime, language: Language) -> list[SiteBoard]:
        """Fresh enough boards of every site (called from worker threads)."""
        with self._lock:
            cached = self._boards.get(language)
            if cached is not None and time.monotonic() - cached[0] < BOARD_CACHE_S:
                return cached[1]
            boards = compute_boards(runtime, language)
            self._boards[language] = (time.monotonic(), boards)
            return boards


def compute_boards(runtime: HubRuntime, language: Language) -> list[SiteBoard]:
    """The board of every site, now."""
    now = datetime.now(UTC)
    with runtime.sessions() as session:
        return [board(session, site, runtime.live, language, now) for site in runtime.config.sites]


def _cache(request: Request) -> BoardCache:
    cache: BoardCache | None = getattr(request.app.state, "staff_boards", None)
    if cache is None:
        cache = request.app.state.staff_boards = BoardCache()
    return cache


@router.get("", response_class=HTMLResponse)
def dashboard(request: Request, principal: StaffUser) -> HTMLResponse:
    """The dashboard, complete without JavaScript."""
    runtime = get_runtime(request)
    language = language_of(request, principal)
    boards = compute_boards(runtime, language)
    now = datetime.now(UTC)
    with runtime.sessions() as session:
        members = member_choices(session)
        paused = is_paused(session)
        announceable = {
            site.id: [
                (m.id, f"{local_time(m.starts_at, site.timezone, language)} · {m.title}")
                for m in session.scalars(
                    select(Moment)
                    .where(
                        Moment.site_id == site.id,
                        Moment.cancelled_at.is_(None),
                        Moment.ends_at > now,
                        Moment.starts_at < now + timedelta(hours=12),
                    )
                    .order_by(Moment.starts_at)
                )
            ]
            for site in runtime.config.sites
        }
    code = request.query_params.get("msg", "")
    message = gettext(language, MESSAGES[code]) if code in MESSAGES else None
    html = page(
        request,
        "staff.html",
        principal,
        boards=[(b, _cache(request).live_html(b, language, principal)) for b in boards],
        sites=runtime.config.sites,
        members=members,
        nudges_paused=paused,
        announceable=announceable,
        message=message,
        message_is_error=code.startswith("unknown") or code in ("not_on_site", "nudges_off"),
    )
    return HTMLResponse(html)


@router.get("/snapshot.json")
def snapshot(
    request: Request, principal: Annotated[Principal, require(Role.STAFF, tokens=True)]
) -> dict[str, Any]:
    """The dashboard's data as JSON, for integrations (API tokens accepted)."""
    language = language_of(request, principal)
    boards = _cache(request).get(get_runtime(request), language)
    return {"sites": [asdict(b) for b in boards]}


@router.get("/events")
async def events(request: Request, principal: StaffUser) -> EventSourceResponse:
    """Live updates: ``hello``, then ``site`` with a site's live HTML whenever it changes."""
    runtime = get_runtime(request)
    cookie = request.cookies.get(SESSION_COOKIE, "")
    language = language_of(request, principal)
    cache = _cache(request)

    def still_signed_in() -> bool:
        with runtime.sessions.begin() as session:
            return session_principal(session, cookie) is not None

    async def stream() -> AsyncIterator[ServerSentEvent]:
        yield ServerSentEvent(
            event="hello", data=json.dumps({"boot": runtime.boot_id}), retry=RETRY_MS
        )
        sent: dict[str, str] = {}
        # Dashboards opened together (all of them, after a hub restart) would otherwise wake
        # together every interval, their session checks queueing up in front of everything else
        # the hub does (a greeting): after the first board, each keeps its own phase.
        pause = LIVE_INTERVAL_S * _phases.random()
        # Ends when the server stops (as the lobby streams do): the page reconnects to the next.
        while not runtime.broadcaster.closed:
            if not await run_in_threadpool(still_signed_in):
                yield ServerSentEvent(event="signed-out", data="{}")
                return
            for site_board in await run_in_threadpool(cache.get, runtime, language):
                html = cache.live_html(site_board, language, principal)
                if sent.get(site_board.site_id) == html:
                    continue
                sent[site_board.site_id] = html
                data = {
                    "site": site_board.site_id,
                    "html": html,
                    "on_site": site_board.on_site,
                    "rooms": {room.id: room.count for room in site_board.rooms},
                }
                yield ServerSentEvent(event="site", data=json.dumps(data, ensure_ascii=False))
            await asyncio.sleep(pause)
            pause = LIVE_INTERVAL_S

    return EventSourceResponse(stream(), ping=15)


def _back(site_id: str, code: str) -> RedirectResponse:
    anchor = f"#site-{site_id}" if site_id else ""
    return RedirectResponse(f"/staff?msg={code}{anchor}", status_code=303)


SiteField = Annotated[str, Form(min_length=1, max_length=64)]
MemberField = Annotated[int, Form(ge=1)]
MomentField = Annotated[int, Form(ge=1)]


# Pages that post the pause and resume buttons and want to come back (default: the dashboard).
NudgesReturn = Annotated[Literal["/staff", "/staff/nudges"], Form(alias="next")]


@router.post("/nudges/pause")
def pause_nudges(
    request: Request, _who: StaffUser, back: NudgesReturn = "/staff"
) -> RedirectResponse:
    """Pause every nudge at once (nothing is sent until someone resumes)."""
    with get_runtime(request).sessions.begin() as session:
        pause(session)
    return RedirectResponse(f"{back}?msg=paused", status_code=303)


@router.post("/nudges/resume")
def resume_nudges(
    request: Request, _who: StaffUser, back: NudgesReturn = "/staff"
) -> RedirectResponse:
    """Resume the nudges."""
    with get_runtime(request).sessions.begin() as session:
        resume(session)
    return RedirectResponse(f"{back}?msg=resumed", status_code=303)


@router.post("/moments/announce")
def announce_moment(
    request: Request, _who: StaffUser, site: SiteField, moment: MomentField
) -> RedirectResponse:
    """Announce a moment now to the people on site, through the nudge guardrails."""
    runtime = get_runtime(request)
    if runtime.config.site(site) is None:
        return _back("", "unknown_site")
    with runtime.sessions() as session:
        row = session.get(Moment, moment)
        if row is None or row.site_id != site or row.cancelled_at is not None:
            return _back(site, "unknown_moment")
    if runtime.scheduler is None:
        return _back(site, "nudges_off")
    runtime.scheduler.announce_now(site, moment)
    return _back(site, "announced")


@router.post("/check-in")
def check_in(
    request: Request, _who: StaffUser, site: SiteField, member: MemberField
) -> RedirectResponse:
    """Check a member in by hand (source: staff)."""
    runtime = get_runtime(request)
    if runtime.config.site(site) is None:
        return _back("", "unknown_site")
    with runtime.sessions.begin() as session:
        if session.get(Member, member) is None:
            return _back(site, "unknown_member")
        staff_check_in(session, member, site, datetime.now(UTC))
    return _back(site, "checked_in")


@router.post("/check-out")
def check_out(
    request: Request, _who: StaffUser, site: SiteField, member: MemberField
) -> RedirectResponse:
    """Check a member out by hand (source: staff)."""
    runtime = get_runtime(request)
    if runtime.config.site(site) is None:
        return _back("", "unknown_site")
    with runtime.sessions.begin() as session:
        if session.get(Member, member) is None:
            return _back(site, "unknown_member")
        closed = staff_check_out(session, member, site, datetime.now(UTC))
    return _back(site, "checked_out" if closed is not None else "not_on_site")


@router.post("/enrolments")
def enrol(
    request: Request,
    who: StaffUser,
    site: SiteField,
    member: MemberField,
    node: Annotated[str, Form(min_length=1, max_length=64)],
) -> RedirectResponse:
    """Wait for the member's badge to be tapped at *node* (next unknown tap within 60 s)."""
    runtime = get_runtime(request)
    settings = runtime.config.site(site)
    if settings is None:
        return _back("", "unknown_site")
    if settings.node(node) is None:
        return _back(site, "unknown_node")
    try:
        with runtime.sessions.begin() as session:
            start_enrolment(session, settings, node, member, datetime.now(UTC), requested_by=who.id)
    except EnrolmentError:
        return _back(site, "unknown_member")
    return _back(site, "enrolment_started")


@router.post("/enrolments/{enrolment_id}/cancel")
def cancel(
    request: Request, _who: StaffUser, enrolment_id: RowId, site: SiteField
) -> RedirectResponse:
    """Stop waiting for a tap."""
    runtime = get_runtime(request)
    with runtime.sessions.begin() as session:
        cancel_enrolment(session, enrolment_id, datetime.now(UTC))
    return _back(site, "enrolment_cancelled")
