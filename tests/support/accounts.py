"""Signed-in HTTP clients for a running hub: accounts made through the hub's own functions."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

import httpx
from sqlalchemy.orm import Session, sessionmaker

from hub.accounts import Role, add_user, create_token, open_session
from hub.db.models import UserSession
from hub.web.auth import SESSION_COOKIE

PASSWORD = "correct horse battery staple"
_numbers = itertools.count(1)


@dataclass
class SignedIn:
    """A user's session cookie and CSRF token."""

    email: str
    user_id: int
    cookie: str
    csrf: str

    def client(self, base_url: str, **kwargs: object) -> httpx.Client:
        """A synchronous client carrying the session cookie."""
        return httpx.Client(base_url=base_url, cookies={SESSION_COOKIE: self.cookie}, **kwargs)  # type: ignore[arg-type]


def sign_in(
    sessions: sessionmaker[Session], role: Role, *, email: str | None = None, language: str = "fr"
) -> SignedIn:
    """Create an account of *role* and open a session for it (no password round trip)."""
    address = email or f"{role.value}{next(_numbers)}@example.fr"
    with sessions.begin() as session:
        user = add_user(
            session, address, PASSWORD, role, name=role.value.title(), language=language
        )
        cookie = open_session(session, user)
        row = session.query(UserSession).filter(UserSession.user_id == user.id).one()
        return SignedIn(address, user.id, cookie, row.csrf_token)


def api_token(sessions: sessionmaker[Session], role: Role) -> str:
    """A new API token of *role*."""
    with sessions.begin() as session:
        secret, _ = create_token(session, f"integration {role.value}", role)
    return secret


def form_token(html: str) -> str:
    """The CSRF token of the first form of a page."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)
