"""RSVP pages: ``/rsvp/<token>`` shows a moment to one member, with a join or leave button.

The token is the member's credential for this one moment: ``runtime.signer.dumps(Purpose.RSVP,
{"member": <id>, "moment": <id>})`` in invitation messages, a sealed token of the same two ids
on the QR code of the lobby greeting card (:func:`hub.rsvp.rsvp_url`). It is refused when forged,
made for another purpose, older than seven days (fifteen minutes for a screen's), or once the
moment is over. Pages are in the member's language and the site's time zone.

The same page lets the member stop invitations to moments (and start them again): whoever can
be invited through a link can refuse the next ones through it, without an account.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from hub.config import Language, SiteSettings
from hub.db.models import Member, Moment
from hub.i18n import gettext, local_date, local_time, ngettext
from hub.nudge_control import INVITATIONS, mute, muted_kinds, unmute
from hub.rsvp import (
    SCREEN_LINK_MAX_AGE_S,
    RsvpError,
    RsvpStatus,
    going_count,
    join,
    leave,
    seats_left,
    status_of,
)
from hub.signing import InvalidToken, Purpose, is_sealed
from hub.web.auth import same_origin
from hub.web.deps import RuntimeDep
from hub.web.ratelimit import PUBLIC_LIMIT, TOO_MANY
from hub.web.templating import render

router = APIRouter(prefix="/rsvp", tags=["rsvp"], dependencies=[PUBLIC_LIMIT], responses=TOO_MANY)

TOKEN_MAX_AGE_S = 7 * 24 * 3600
"""An RSVP link works for a week at most (and never after its moment ends)."""


def N_(message: str) -> str:
    """Mark *message* for extraction; it is translated where it is used."""
    return message


REFUSALS = {
    "invalid": N_("This link is not valid. Ask the team for a new one."),
    "expired": N_("This link has expired. Ask the team for a new one."),
    "over": N_("This moment is over."),
    "cancelled": N_("This moment has been cancelled."),
    "foreign": N_("This form was sent from another site. Open your link again."),
}


class Refused(Exception):
    """The link cannot be used; *reason* is a key of :data:`REFUSALS`."""

    def __init__(self, reason: str, status: int, language: Language | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.language = language


def _refusal(error: Refused) -> HTMLResponse:
    # A forged or expired token names nobody: say it in French, then in English.
    languages = [error.language] if error.language else [Language.FR, Language.EN]
    lines = [gettext(language, REFUSALS[error.reason]) for language in languages]
    html = render("rsvp.html", languages[0], refused=lines, title="Vivant")
    return HTMLResponse(html, status_code=error.status)


def _open(
    runtime: RuntimeDep, session: Session, token: str
) -> tuple[Member, Moment, SiteSettings, Language]:
    if runtime.signer is None:
        raise Refused("invalid", 503)
    member_id: object
    moment_id: object
    try:
        if is_sealed(token):  # a lobby greeting's QR code (hub.rsvp.rsvp_url): short-lived
            member_id, moment_id = runtime.signer.unseal(
                Purpose.SCREEN_RSVP, token, SCREEN_LINK_MAX_AGE_S
            )
        else:
            data = runtime.signer.loads(Purpose.RSVP, token, TOKEN_MAX_AGE_S)
            if data.get("via") == "screen":  # shown on a lobby screen: short-lived
                runtime.signer.loads(Purpose.RSVP, token, SCREEN_LINK_MAX_AGE_S)
            member_id, moment_id = data.get("member"), data.get("moment")
    except InvalidToken as error:
        raise Refused(error.reason, 410 if error.reason == "expired" else 400) from None
    if not isinstance(member_id, int) or not isinstance(moment_id, int):
        raise Refused("invalid", 400)
    member = session.get(Member, member_id)
    moment = session.get(Moment, moment_id)
    site = runtime.config.site(moment.site_id) if moment is not None else None
    if member is None or moment is None or site is None:
        raise Refused("invalid", 404)
    language = Language.EN if member.language == "en" else Language.FR
    if moment.cancelled_at is not None:
        raise Refused("cancelled", 410, language)
    if moment.ends_at <= runtime.clock():
        raise Refused("over", 410, language)
    return member, moment, site, language


def _page(
    session: Session,
    member: Member,
    moment: Moment,
    site: SiteSettings,
    language: Language,
    notice: str | None = None,
) -> str:
    zone = site.timezone
    going = going_count(session, moment.id)
    left = seats_left(session, moment)
    room = site.room(moment.room_id)
    context: dict[str, Any] = {
        "title": moment.title,
        "moment": moment,
        "site": site,
        "room": room.name if room else moment.room_id,
        "day": local_date(moment.starts_at, zone, language),
        "starts": local_time(moment.starts_at, zone, language),
        "ends": local_time(moment.ends_at, zone, language),
        "first_name": member.first_name,
        "status": status_of(session, moment.id, member.id).value,
        "going_label": ngettext(
            language, "%(count)d person going", "%(count)d people going", going
        ),
        "seats_label": None
        if left is None
        else ngettext(language, "%(count)d seat left", "%(count)d seats left", left),
        "notice": notice,
        "muted": muted_kinds(session, member.id) >= INVITATIONS,
    }
    return render("rsvp.html", language, **context)


@router.get("/{token}", response_class=HTMLResponse)
def show(token: str, runtime: RuntimeDep) -> HTMLResponse:
    """The moment, the member's status and a join or leave button."""
    with runtime.sessions() as session:
        try:
            member, moment, site, language = _open(runtime, session, token)
        except Refused as error:
            return _refusal(error)
        return HTMLResponse(_page(session, member, moment, site, language))


@router.post("/{token}", response_class=HTMLResponse)
def change(
    request: Request,
    token: str,
    action: Annotated[Literal["join", "leave", "mute", "unmute"], Form()],
    runtime: RuntimeDep,
) -> HTMLResponse:
    """Join (a seat, or the waiting list when full) or leave (the next in line gets the seat);
    or stop (and restart) invitations to moments, which the same link allows.

    The link is the credential (a page elsewhere cannot know it); a browser's ``Origin`` of
    another site is refused all the same."""
    if not same_origin(request):
        return _refusal(Refused("foreign", 403))
    now: datetime = runtime.clock()
    with runtime.sessions.begin() as session:
        try:
            member, moment, site, language = _open(runtime, session, token)
            if action == "join":
                result = join(session, moment.id, member.id, now)
                notice = (
                    gettext(language, "See you there!")
                    if result.status is RsvpStatus.GOING
                    else gettext(language, "It is full: you are on the waiting list.")
                )
            elif action == "leave":
                leave(session, moment.id, member.id, now)
                notice = gettext(language, "Noted: you are not coming.")
            elif action == "mute":
                mute(session, member.id, INVITATIONS, now)
                notice = gettext(language, "You will not get invitations to moments any more.")
            else:
                unmute(session, member.id, INVITATIONS)
                notice = gettext(language, "Invitations to moments are back on.")
        except Refused as error:
            return _refusal(error)
        except RsvpError:
            return _refusal(Refused("over", 410))
        return HTMLResponse(_page(session, member, moment, site, language, notice))
