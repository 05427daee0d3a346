"""The member self-service page: ``/privacy`` (ask for a link), ``/privacy/<token>`` (my data).

The link in the e-mail is the member's only credential here, so the pages that carry it are never
cached, never indexed and never sent in a ``Referer``. Forms carry a CSRF token bound to the very
link of the page (:func:`hub.privacy.form_token`): a page on another site cannot submit them,
and a token taken from one member's page is worthless on another's.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from hub.channels.apprise_channel import AppriseChannel
from hub.channels.base import OutboundMessage
from hub.config import Language
from hub.db.models import Member
from hub.i18n import gettext, local_date, local_time
from hub.privacy import (
    CONSENT_OPTIONS,
    VIA_SELF_SERVICE,
    RequestLimiter,
    UnknownScope,
    check_form_token,
    erase_member,
    export_csv,
    form_token,
    member_data,
    member_language,
    member_of_token,
    prepare_link_request,
    set_consents,
    valid_email,
)
from hub.privacy_settings import PrivacySettings
from hub.runtime import HubRuntime
from hub.signing import InvalidToken, Signer
from hub.web.auth import client_ip
from hub.web.deps import RuntimeDep
from hub.web.ratelimit import PUBLIC_LIMIT, TOO_MANY
from hub.web.templating import render

log = logging.getLogger(__name__)

router = APIRouter(prefix="/privacy", tags=["privacy"])

PRIVATE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; "
        "base-uri 'none'"
    ),
}


@dataclass
class PrivacyDesk:
    """What the privacy pages keep between requests: the rate limiter and the e-mail channel."""

    settings: PrivacySettings
    limiter: RequestLimiter = field(init=False)
    channel: AppriseChannel = field(default_factory=AppriseChannel)
    sent: int = 0
    failed: int = 0

    def __post_init__(self) -> None:
        self.limiter = RequestLimiter(self.settings)


def _desk(request: Request) -> PrivacyDesk:
    desk: PrivacyDesk = request.app.state.privacy
    return desk


def _language(lang: str | None, default: Language = Language.FR) -> Language:
    try:
        return Language(lang) if lang else default
    except ValueError:
        return default


def _page(template: str, language: Language, status: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(
        render(template, language, **context), status_code=status, headers=PRIVATE_HEADERS
    )


def _message(language: Language, title: str, text: str, status: int = 200) -> HTMLResponse:
    """A short page with a title and a sentence (both already translated)."""
    return _page(
        "privacy_message.html",
        language,
        status,
        title=title,
        text=text,
    )


def _signer(runtime: HubRuntime) -> Signer:
    if runtime.signer is None:  # only before the database is ready
        raise RuntimeError("the hub is starting")
    return runtime.signer


@router.get("", response_class=HTMLResponse)
def ask(lang: str | None = None) -> HTMLResponse:
    """The form where a member gives their e-mail address to receive their link."""
    return _page("privacy_request.html", _language(lang), sent=False)


@router.post("/request", response_class=HTMLResponse)
async def request_link(
    request: Request,
    runtime: RuntimeDep,
    background: BackgroundTasks,
    email: Annotated[str, Form(max_length=320)],
    lang: Annotated[str | None, Form(max_length=8)] = None,
) -> HTMLResponse:
    """Send the link if the address is a member's; the answer is the same either way."""
    language = _language(lang)
    desk = _desk(request)
    if not desk.limiter.allow_client(client_ip(request)):
        return _message(
            language,
            gettext(language, "Too many requests"),
            gettext(language, "Please wait a little before asking for a link again."),
            status=429,
        )
    address = email.strip()
    if not valid_email(address):
        return _page("privacy_request.html", language, status=400, sent=False, invalid=True)
    background.add_task(_send_link, runtime, desk, address)
    return _page("privacy_request.html", language, sent=True)


async def _send_link(runtime: HubRuntime, desk: PrivacyDesk, address: str) -> None:
    """Look the address up and send the link (after the answer, so timing reveals nothing)."""
    signer = _signer(runtime)

    def prepare() -> OutboundMessage | None:
        with runtime.sessions() as session:
            return prepare_link_request(
                session,
                signer,
                desk.settings,
                runtime.config.http.base_url,
                address,
                desk.limiter,
            )

    try:
        message = await asyncio.to_thread(prepare)
        if message is None:
            return
        result = await desk.channel.send(message)
    except Exception:
        log.exception("a privacy link could not be prepared or sent")
        desk.failed += 1
        return
    if result.ok:
        desk.sent += 1
    else:
        desk.failed += 1
        log.warning("a privacy link could not be sent: %s", result.detail)


def _member_or_message(
    runtime: HubRuntime, token: str, lang: str | None
) -> tuple[int, Language] | HTMLResponse:
    settings = runtime.config.privacy
    language = _language(lang)
    try:
        member_id = member_of_token(_signer(runtime), token, settings.link_max_age_s)
    except InvalidToken as error:
        if error.reason == "expired":
            return _message(
                language,
                gettext(language, "This link has expired"),
                gettext(language, "Ask for a new link: it is valid for a limited time."),
                status=410,
            )
        return _message(
            language,
            gettext(language, "This link is not valid"),
            gettext(language, "Ask for a new link."),
            status=404,
        )
    return member_id, language


def _gone(language: Language) -> HTMLResponse:
    return _message(
        language,
        gettext(language, "No data"),
        gettext(language, "Vivant holds no data about you any more."),
        status=404,
    )


@router.get(
    "/{token}",
    response_class=HTMLResponse,
    dependencies=[PUBLIC_LIMIT],
    responses=TOO_MANY,
)
def page(token: str, runtime: RuntimeDep, lang: str | None = None, saved: int = 0) -> HTMLResponse:
    """My data, my consents, export and erasure."""
    found = _member_or_message(runtime, token, lang)
    if isinstance(found, HTMLResponse):
        return found
    member_id, language = found
    now = datetime.now(UTC)
    with runtime.sessions() as session:
        member = session.get(Member, member_id)
        if member is None:
            return _gone(language)
        if lang is None:
            language = member_language(member)
        data = member_data(session, member, now)
    zone = runtime.config.sites[0].timezone

    def when(value: str | None) -> str:
        if not value:
            return "—"
        at = datetime.fromisoformat(value)
        return f"{local_date(at, zone, language)} {local_time(at, zone, language)}"

    granted = {c["scope"] for c in data["consents"]}
    return _page(
        "privacy_page.html",
        language,
        token=token,
        csrf=form_token(_signer(runtime), token),
        data=data,
        options=CONSENT_OPTIONS,
        granted=granted,
        when=when,
        saved=bool(saved),
        max_age_min=runtime.config.privacy.link_max_age_min,
    )


@router.post(
    "/{token}/consents",
    response_model=None,
    dependencies=[PUBLIC_LIMIT],
    responses=TOO_MANY,
)
def change_consents(
    token: str,
    runtime: RuntimeDep,
    csrf: Annotated[str, Form(max_length=512)],
    consent: Annotated[list[str] | None, Form(max_length=64)] = None,
    lang: Annotated[str | None, Form(max_length=8)] = None,
) -> Response:
    """Make my consents exactly the boxes I ticked (each change recorded)."""
    found = _member_or_message(runtime, token, lang)
    if isinstance(found, HTMLResponse):
        return found
    member_id, language = found
    if not check_form_token(_signer(runtime), token, csrf, runtime.config.privacy.link_max_age_s):
        return _forbidden(language)
    try:
        with runtime.sessions.begin() as session:
            member = session.get(Member, member_id)
            if member is None:
                return _gone(language)
            set_consents(session, member, consent or [], at=datetime.now(UTC), via=VIA_SELF_SERVICE)
    except UnknownScope:
        return _message(
            language,
            gettext(language, "Something went wrong"),
            gettext(language, "Unknown consent."),
            status=400,
        )
    runtime.live.tags.forget()  # room-location consent applies at the next BLE window
    return RedirectResponse(f"/privacy/{token}?saved=1", status_code=303, headers=PRIVATE_HEADERS)


def _forbidden(language: Language) -> HTMLResponse:
    return _message(
        language,
        gettext(language, "This form has expired"),
        gettext(language, "Open the page again from your link and try once more."),
        status=403,
    )


def _export(runtime: HubRuntime, token: str) -> dict[str, Any] | HTMLResponse:
    found = _member_or_message(runtime, token, None)
    if isinstance(found, HTMLResponse):
        return found
    member_id, language = found
    with runtime.sessions() as session:
        member = session.get(Member, member_id)
        if member is None:
            return _gone(language)
        return member_data(session, member, datetime.now(UTC))


@router.get(
    "/{token}/export.json",
    response_model=None,
    dependencies=[PUBLIC_LIMIT],
    responses=TOO_MANY,
)
def export_json(token: str, runtime: RuntimeDep) -> Response:
    """All my data as JSON (a download)."""
    data = _export(runtime, token)
    if isinstance(data, HTMLResponse):
        return data
    return Response(
        json.dumps(data, ensure_ascii=False, indent=2),
        media_type="application/json",
        headers={
            **PRIVATE_HEADERS,
            "Content-Disposition": 'attachment; filename="vivant-mes-donnees.json"',
        },
    )


@router.get(
    "/{token}/export.csv",
    response_model=None,
    dependencies=[PUBLIC_LIMIT],
    responses=TOO_MANY,
)
def export_as_csv(token: str, runtime: RuntimeDep) -> Response:
    """All my data as CSV (a download; UTF-8 with BOM so spreadsheets read the accents)."""
    data = _export(runtime, token)
    if isinstance(data, HTMLResponse):
        return data
    return Response(
        "\ufeff" + export_csv(data),
        media_type="text/csv; charset=utf-8",
        headers={
            **PRIVATE_HEADERS,
            "Content-Disposition": 'attachment; filename="vivant-mes-donnees.csv"',
        },
    )


@router.post(
    "/{token}/erase",
    response_class=HTMLResponse,
    dependencies=[PUBLIC_LIMIT],
    responses=TOO_MANY,
)
async def erase(
    token: str,
    runtime: RuntimeDep,
    csrf: Annotated[str, Form(max_length=512)],
    confirm: Annotated[str | None, Form(max_length=8)] = None,
    lang: Annotated[str | None, Form(max_length=8)] = None,
) -> HTMLResponse:
    """Erase everything about me, everywhere the hub keeps it."""
    found = _member_or_message(runtime, token, lang)
    if isinstance(found, HTMLResponse):
        return found
    member_id, language = found
    if not check_form_token(_signer(runtime), token, csrf, runtime.config.privacy.link_max_age_s):
        return _forbidden(language)
    if confirm != "yes":
        return _message(
            language,
            gettext(language, "Nothing was erased"),
            gettext(language, "Tick the confirmation box to erase your data."),
            status=400,
        )
    ingestor = runtime.ingestor
    await asyncio.to_thread(
        erase_member,
        runtime.sessions,
        member_id,
        live=runtime.live,
        lock=ingestor.work_lock if ingestor is not None else None,
        forget_badges=ingestor.forget_badges if ingestor is not None else None,
    )
    return _message(
        language,
        gettext(language, "Your data is erased"),
        gettext(
            language, "Everything Vivant held about you is deleted. Only anonymous counts remain."
        ),
    )
