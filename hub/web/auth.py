"""Who may open what: sign-in pages, the session cookie, CSRF, and :func:`require`.

Every route of the hub either depends on ``require(role)`` or is declared public in the route
matrix test (``tests/hub/web/test_route_matrix.py``), which fails for a route it does not know.

- ``require(role)`` accepts a signed-in person whose role allows *role*; with ``tokens=True`` it
  also accepts an API token (``Authorization: Bearer vvt_…``) of such a role. A person who is not
  signed in is sent to the sign-in page (HTML navigation) or gets 401; a role too low gets 403.
- Every unsafe request (POST, …) made with a session cookie must carry the session's CSRF
  synchronizer token (form field ``csrf_token`` or header ``X-CSRF-Token``) and, when the
  browser sends one, an ``Origin`` of the hub itself. Bearer requests carry no ambient
  credential, so they need no CSRF token. The check lives in ``require`` itself: a new form
  cannot forget it.
- The sign-in form is protected too (before any session exists): a random nonce in a short-lived
  cookie and, in the form, its HMAC under a key derived from the hub's secret key.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from ipaddress import IPv4Network, IPv6Network, ip_address
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from hub.accounts import (
    MAX_FAILURES_PER_ACCOUNT,
    Principal,
    Role,
    close_session,
    login,
    open_session,
    same_token,
    session_principal,
    token_principal,
)
from hub.config import Language
from hub.i18n import gettext
from hub.runtime import HubRuntime
from hub.signing import stored_secret_key
from hub.web.deps import get_runtime
from hub.web.templating import render

SESSION_COOKIE = "vivant_session"
LOGIN_COOKIE = "vivant_login"
LOGIN_COOKIE_AGE_S = 3600
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
HOME = "/staff"
# Set on every refusal by require(): sign-in, role, token, csrf or origin (the route matrix test
# reads it to tell a refusal of the role system from a route's own 4xx answers).
REFUSED_HEADER = "X-Vivant-Refused"

router = APIRouter(tags=["accounts"])


def N_(message: str) -> str:
    """Mark *message* for extraction; it is translated where it is used."""
    return message


class NotSignedIn(Exception):
    """The request carries no valid session or token."""

    def __init__(self, *, bearer: bool) -> None:
        super().__init__("sign-in required")
        self.bearer = bearer


class Refused(Exception):
    """The request is authenticated but may not do this."""

    def __init__(self, principal: Principal | None, reason: str) -> None:
        super().__init__(reason)
        self.principal = principal
        self.reason = reason  # "role", "token", "csrf" or "origin"


def https_only(runtime: HubRuntime) -> bool:
    """Cookies are ``Secure`` when people reach the hub over https."""
    return runtime.config.http.base_url.startswith("https://")


def client_ip(request: Request) -> str:
    """The client's address: the peer, or, when the peer is a trusted reverse proxy
    (``http.trusted_proxies``), the last address in ``X-Forwarded-For`` that is not one."""
    peer = request.client.host if request.client else "unknown"
    proxies = get_runtime(request).config.http.trusted_proxies
    if not proxies or not _within(peer, proxies):
        return peer
    chain = [hop.strip() for hop in request.headers.get("x-forwarded-for", "").split(",")]
    for hop in reversed([h for h in chain if h]):
        if not _within(hop, proxies):
            return hop[:45]
    return peer


def _within(address: str, networks: Sequence[IPv4Network | IPv6Network]) -> bool:
    try:
        ip = ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def _authenticate(runtime: HubRuntime, request: Request) -> tuple[Principal | None, bool]:
    """(principal, whether a bearer token was presented)."""
    header = request.headers.get("authorization")
    now = datetime.now(UTC)
    if header is not None:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            return None, True
        with runtime.sessions.begin() as session:
            return token_principal(session, value.strip(), now), True
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie or len(cookie) > 128:
        return None, False
    with runtime.sessions.begin() as session:
        return session_principal(session, cookie, now), False


def same_origin(request: Request) -> bool:
    """An unsafe request's ``Origin``, when present, must be the hub (as reached, or public)."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    netloc = urlsplit(origin).netloc
    runtime = get_runtime(request)
    allowed = {request.headers.get("host", ""), urlsplit(runtime.config.http.base_url).netloc}
    return netloc in allowed


async def _csrf_value(request: Request) -> str | None:
    header = request.headers.get("x-csrf-token")
    if header is not None:
        return header
    if request.headers.get("content-type", "").startswith(FORM_TYPES):
        value = (await request.form()).get("csrf_token")
        return value if isinstance(value, str) else None
    return None


class Guard:
    """The dependency behind :func:`require`."""

    def __init__(self, role: Role, tokens: bool) -> None:
        self.role = role
        self.tokens = tokens

    async def __call__(self, request: Request) -> Principal:
        runtime = get_runtime(request)
        principal, bearer = await run_in_threadpool(_authenticate, runtime, request)
        if principal is None:
            raise NotSignedIn(bearer=bearer or self.tokens)
        if not principal.is_user and not self.tokens:
            raise Refused(principal, "token")
        if not principal.role.allows(self.role):
            raise Refused(principal, "role")
        if principal.is_user and request.method not in SAFE_METHODS:
            if not same_origin(request):
                raise Refused(principal, "origin")
            if not same_token(principal.csrf_token, await _csrf_value(request)):
                raise Refused(principal, "csrf")
        request.state.principal = principal
        return principal


def require(role: Role, *, tokens: bool = False) -> Any:
    """Dependency: the request's principal, who must hold *role* (see the module docstring)."""
    return Depends(Guard(role, tokens))


StaffUser = Annotated[Principal, require(Role.STAFF)]
ManagerUser = Annotated[Principal, require(Role.MANAGER)]
AdminUser = Annotated[Principal, require(Role.ADMIN)]


def language_of(request: Request, principal: Principal | None = None) -> Language:
    """The page language: the user's, else ``?lang=en``, else French."""
    if principal is not None:
        return Language.EN if principal.language == "en" else Language.FR
    return Language.EN if request.query_params.get("lang") == "en" else Language.FR


def safe_next(target: str | None) -> str:
    """A local path to go to after signing in (never another site)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return HOME
    if any(c in target for c in "\r\n\\") or len(target) > 512:
        return HOME
    return target


ROLE_LABELS = {Role.STAFF: N_("Staff"), Role.MANAGER: N_("Manager"), Role.ADMIN: N_("Admin")}


def role_labels(language: Language) -> dict[str, str]:
    """Role value → its name in *language*, lowest role first."""
    return {role.value: gettext(language, label) for role, label in ROLE_LABELS.items()}


def page(request: Request, template: str, principal: Principal | None, **context: Any) -> str:
    """Render a page of the staff interface in the viewer's language."""
    language = language_of(request, principal)
    return render(
        template,
        language,
        principal=principal,
        csrf_token=principal.csrf_token if principal else "",
        path=request.url.path,
        roles=Role,
        role_labels=role_labels(language),
        **context,
    )


# -- sign-in ----------------------------------------------------------------------------------


def _login_key(request: Request) -> bytes:
    """A key for the sign-in form's CSRF token, derived from the hub's secret key."""
    cached: bytes | None = getattr(request.app.state, "login_csrf_key", None)
    if cached is not None:
        return cached
    runtime = get_runtime(request)
    configured = runtime.config.secret_key
    if configured is not None:
        secret = configured.get_secret_value()
    else:
        with runtime.sessions.begin() as session:
            secret = stored_secret_key(session)
    key = hmac.new(secret.encode(), b"vivant-login-form", hashlib.sha256).digest()
    request.app.state.login_csrf_key = key
    return key


def _login_token(request: Request, nonce: str) -> str:
    return hmac.new(_login_key(request), nonce.encode(), hashlib.sha256).hexdigest()


def _login_page(
    request: Request,
    runtime: HubRuntime,
    *,
    email: str = "",
    next_path: str = HOME,
    error: str | None = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    # Reuse this browser's nonce, so that two sign-in tabs both work.
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    if not re.fullmatch(r"[A-Za-z0-9_-]{32}", nonce):
        nonce = secrets.token_urlsafe(24)
    html = page(
        request,
        "login.html",
        None,
        login_token=_login_token(request, nonce),
        email=email,
        next_path=next_path,
        error=error,
        bye=request.query_params.get("bye") == "1",
        lang_query="?lang=en" if language_of(request) is Language.EN else "",
    )
    response = HTMLResponse(html, status_code=status, headers=headers)
    response.set_cookie(
        LOGIN_COOKIE,
        nonce,
        max_age=LOGIN_COOKIE_AGE_S,
        httponly=True,
        samesite="lax",
        secure=https_only(runtime),
        path="/login",
    )
    return response


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request) -> Response:
    """The sign-in page (French by default, ``?lang=en`` for English)."""
    runtime = get_runtime(request)
    principal, _ = await run_in_threadpool(_authenticate, runtime, request)
    next_path = safe_next(request.query_params.get("next"))
    if principal is not None and principal.is_user:
        return RedirectResponse(next_path, status_code=303)
    return await run_in_threadpool(_login_page, request, runtime, next_path=next_path)


@router.post("/login", response_class=HTMLResponse)
def login_submit(
    request: Request,
    email: Annotated[str, Form(max_length=254)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    csrf_token: Annotated[str, Form(max_length=128)] = "",
    next_path: Annotated[str, Form(alias="next", max_length=512)] = HOME,
) -> Response:
    """Check the credentials under the rate limits; open a session and go on."""
    runtime = get_runtime(request)
    language = language_of(request)
    target = safe_next(next_path)
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    if (
        not same_origin(request)
        or not nonce
        or not same_token(_login_token(request, nonce), csrf_token)
    ):
        message = gettext(
            language, "This form has expired. Please try again (cookies must be allowed)."
        )
        return _login_page(
            request, runtime, email=email, next_path=target, error=message, status=403
        )
    with runtime.sessions.begin() as session:
        result = login(session, email, password, client_ip(request))
        token = (
            open_session(
                session,
                result.user,
                ip=client_ip(request),
                user_agent=request.headers.get("user-agent"),
            )
            if result.user is not None
            else None
        )
    if token is None:
        if result.refused == "credentials":
            error, status, headers = (
                gettext(language, "Wrong e-mail or password."),
                401,
                None,
            )
        else:
            minutes = max(1, (result.retry_after_s + 59) // 60)
            which = (
                gettext(
                    language,
                    "Too many failed attempts for this account (%(count)d in 15 minutes).",
                )
                % {"count": MAX_FAILURES_PER_ACCOUNT}
                if result.refused == "account_locked"
                else gettext(language, "Too many failed attempts from this address.")
            )
            error = (
                which
                + " "
                + gettext(language, "Try again in %(minutes)d min.") % {"minutes": minutes}
            )
            status, headers = 429, {"Retry-After": str(result.retry_after_s)}
        return _login_page(
            request,
            runtime,
            email=email,
            next_path=target,
            error=error,
            status=status,
            headers=headers,
        )
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=7 * 24 * 3600,
        httponly=True,
        samesite="lax",
        secure=https_only(runtime),
        path="/",
    )
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(request: Request, principal: StaffUser) -> Response:
    """Close this session (the cookie no longer opens anything) and go back to sign-in."""
    runtime = get_runtime(request)
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        with runtime.sessions.begin() as session:
            close_session(session, cookie)
    lang = "&lang=en" if principal.language == "en" else ""
    response = RedirectResponse(f"/login?bye=1{lang}", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# -- refusals ---------------------------------------------------------------------------------


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


async def _not_signed_in(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, NotSignedIn)
    headers = {REFUSED_HEADER: "sign-in"}
    if request.method == "GET" and _wants_html(request):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(
            f"/login?next={quote(target, safe='')}", status_code=303, headers=headers
        )
    if exc.bearer:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse({"detail": "sign-in required"}, status_code=401, headers=headers)


async def _refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Refused)
    headers = {REFUSED_HEADER: exc.reason}
    if not _wants_html(request) or exc.principal is None or not exc.principal.is_user:
        return JSONResponse({"detail": f"refused ({exc.reason})"}, status_code=403, headers=headers)
    html = page(request, "refused.html", exc.principal, reason=exc.reason)
    return HTMLResponse(html, status_code=403, headers=headers)


def install(app: FastAPI) -> None:
    """Add the sign-in routes and the refusal handlers to *app*."""
    app.include_router(router)
    app.add_exception_handler(NotSignedIn, _not_signed_in)
    app.add_exception_handler(Refused, _refused)
