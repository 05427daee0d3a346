"""A signed-in person's own account (``/account``): password and language.

Changing the password checks the current one under the sign-in rate limits, closes every session
of the account (a stolen cookie dies with the old password) and opens a new one for this browser.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from hub.accounts import AccountError, check_password, login, open_session, set_password
from hub.db.models import User
from hub.i18n import gettext
from hub.web.auth import SESSION_COOKIE, StaffUser, client_ip, https_only, language_of, page
from hub.web.deps import get_runtime

router = APIRouter(prefix="/account", tags=["accounts"])


def N_(message: str) -> str:
    """Mark *message* for extraction; it is translated where it is used."""
    return message


MESSAGES = {
    "password_changed": N_("Password changed. Your other sessions are closed."),
    "language_changed": N_("Language changed."),
}


def _page(
    request: Request, who: StaffUser, *, error: str | None = None, status: int = 200
) -> HTMLResponse:
    with get_runtime(request).sessions() as session:
        user = session.get(User, who.id)
        email = user.email if user is not None else ""
    code = request.query_params.get("msg", "")
    language = language_of(request, who)
    message = gettext(language, MESSAGES[code]) if code in MESSAGES else None
    html = page(request, "account.html", who, email=email, message=message, error=error)
    return HTMLResponse(html, status_code=status)


@router.get("", response_class=HTMLResponse)
def account(request: Request, who: StaffUser) -> HTMLResponse:
    """The account page."""
    return _page(request, who)


@router.post("/password", response_class=HTMLResponse)
def change_password(
    request: Request,
    who: StaffUser,
    current: Annotated[str, Form(max_length=1024)],
    new: Annotated[str, Form(max_length=1024)],
    again: Annotated[str, Form(max_length=1024)],
) -> Response:
    """Change one's password (the current one is required)."""
    runtime = get_runtime(request)
    language = language_of(request, who)
    if new != again:
        return _page(request, who, error=gettext(language, "The two new passwords differ."),
                     status=400)  # fmt: skip
    try:
        check_password(new)
    except AccountError as problem:
        text = gettext(language, problem.msgid) % problem.params
        return _page(request, who, error=text, status=400)
    with runtime.sessions.begin() as session:
        user = session.get(User, who.id)
        assert user is not None  # require() found it an instant ago
        checked = login(session, user.email, current, client_ip(request))
        if checked.user is None:
            error = (
                gettext(language, "The current password is wrong.")
                if checked.refused == "credentials"
                else gettext(language, "Too many failed attempts. Try again later.")
            )
            failed: Response = _page(request, who, error=error, status=400)
            return failed
        set_password(session, user, new)
        token = open_session(
            session, user, ip=client_ip(request), user_agent=request.headers.get("user-agent")
        )
    response = RedirectResponse("/account?msg=password_changed", status_code=303)
    response.set_cookie(
        SESSION_COOKIE, token, max_age=7 * 24 * 3600, httponly=True, samesite="lax",
        secure=https_only(runtime), path="/",
    )  # fmt: skip
    return response


@router.post("/language")
def change_language(
    request: Request, who: StaffUser, language: Annotated[str, Form(pattern="^(fr|en)$")]
) -> RedirectResponse:
    """Show the pages in French or in English."""
    with get_runtime(request).sessions.begin() as session:
        user = session.get(User, who.id)
        if user is not None:
            user.language = language
    return RedirectResponse("/account?msg=language_changed", status_code=303)
