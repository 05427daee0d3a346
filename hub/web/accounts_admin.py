"""Admin pages for accounts (``/admin/users``) and API tokens (``/admin/tokens``).

An admin cannot remove or demote their own account, so the hub always keeps at least the admin
who is using it. A new token's secret is shown once, in the response to its creation.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select

from hub.accounts import (
    AccountError,
    Role,
    add_user,
    create_token,
    remove_user,
    revoke_token,
    set_role,
)
from hub.db.models import ApiToken, User, UserSession
from hub.i18n import gettext
from hub.web.auth import AdminUser, language_of, page
from hub.web.deps import RowId, get_runtime


def N_(message: str) -> str:
    """Mark *message* for extraction; it is translated where it is used."""
    return message


router = APIRouter(prefix="/admin", tags=["admin"])

MESSAGES = {
    "added": N_("Account created."),
    "role_changed": N_("Role changed."),
    "removed": N_("Account removed; its sessions are closed."),
    "not_yourself": N_("You cannot remove or demote your own account."),
    "unknown_user": N_("Unknown account."),
    "revoked": N_("Token revoked."),
}
RoleField = Annotated[Role, Form()]


def _text(request: Request, who: AdminUser, error: AccountError) -> str:
    return gettext(language_of(request, who), error.msgid) % error.params


def _users_page(
    request: Request, who: AdminUser, error: str | None = None, status: int = 200
) -> HTMLResponse:
    runtime = get_runtime(request)
    with runtime.sessions() as session:
        counts = dict(
            session.execute(
                select(UserSession.user_id, func.count(UserSession.id)).group_by(
                    UserSession.user_id
                )
            ).all()
        )
        users = session.scalars(select(User).order_by(User.email)).all()
    language = language_of(request, who)
    code = request.query_params.get("msg", "")
    html = page(
        request,
        "admin_users.html",
        who,
        users=users,
        sessions=counts,
        message=gettext(language, MESSAGES[code]) if code in MESSAGES else None,
        error=error,
    )
    return HTMLResponse(html, status_code=status)


@router.get("/users", response_class=HTMLResponse)
def users(request: Request, who: AdminUser) -> HTMLResponse:
    """Accounts, their roles and open sessions."""
    return _users_page(request, who)


@router.post("/users", response_class=HTMLResponse)
def add(
    request: Request,
    who: AdminUser,
    email: Annotated[str, Form(max_length=254)],
    password: Annotated[str, Form(max_length=1024)],
    role: RoleField,
    name: Annotated[str, Form(max_length=80)] = "",
    language: Annotated[str, Form(pattern="^(fr|en)$")] = "fr",
) -> Response:
    """Create an account."""
    runtime = get_runtime(request)
    try:
        with runtime.sessions.begin() as session:
            add_user(session, email, password, role, name=name, language=language)
    except AccountError as error:
        return _users_page(request, who, error=_text(request, who, error), status=400)
    return RedirectResponse("/admin/users?msg=added", status_code=303)


@router.post("/users/{user_id}/role")
def change_role(
    request: Request, who: AdminUser, user_id: RowId, role: RoleField
) -> RedirectResponse:
    """Give an account another role (applies at its next request)."""
    if user_id == who.id:
        return RedirectResponse("/admin/users?msg=not_yourself", status_code=303)
    with get_runtime(request).sessions.begin() as session:
        user = session.get(User, user_id)
        if user is None:
            return RedirectResponse("/admin/users?msg=unknown_user", status_code=303)
        set_role(session, user, role)
    return RedirectResponse("/admin/users?msg=role_changed", status_code=303)


@router.post("/users/{user_id}/delete")
def delete(request: Request, who: AdminUser, user_id: RowId) -> RedirectResponse:
    """Remove an account; its sessions stop working at once."""
    if user_id == who.id:
        return RedirectResponse("/admin/users?msg=not_yourself", status_code=303)
    with get_runtime(request).sessions.begin() as session:
        existed = remove_user(session, user_id)
    return RedirectResponse(
        f"/admin/users?msg={'removed' if existed else 'unknown_user'}", status_code=303
    )


def _tokens_page(
    request: Request, who: AdminUser, *, secret: str | None = None, error: str | None = None,
    status: int = 200,
) -> HTMLResponse:  # fmt: skip
    with get_runtime(request).sessions() as session:
        tokens = session.scalars(select(ApiToken).order_by(ApiToken.created_at.desc())).all()
    language = language_of(request, who)
    code = request.query_params.get("msg", "")
    html = page(
        request,
        "admin_tokens.html",
        who,
        tokens=tokens,
        secret=secret,
        error=error,
        message=gettext(language, MESSAGES[code]) if code in MESSAGES else None,
    )
    return HTMLResponse(html, status_code=status)


@router.get("/tokens", response_class=HTMLResponse)
def tokens(request: Request, who: AdminUser) -> HTMLResponse:
    """API tokens of the integrations."""
    return _tokens_page(request, who)


@router.post("/tokens", response_class=HTMLResponse)
def new_token(
    request: Request,
    who: AdminUser,
    name: Annotated[str, Form(max_length=80)],
    role: RoleField,
) -> HTMLResponse:
    """Create a token and show its secret once."""
    try:
        with get_runtime(request).sessions.begin() as session:
            secret, _row = create_token(session, name, role, created_by=who.id)
    except AccountError as error:
        return _tokens_page(request, who, error=_text(request, who, error), status=400)
    return _tokens_page(request, who, secret=secret)


@router.post("/tokens/{token_id}/revoke")
def revoke(request: Request, who: AdminUser, token_id: RowId) -> RedirectResponse:
    """Revoke a token (refused from its next request on)."""
    with get_runtime(request).sessions.begin() as session:
        revoke_token(session, token_id, datetime.now(UTC))
    return RedirectResponse("/admin/tokens?msg=revoked", status_code=303)
