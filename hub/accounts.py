"""Accounts of the people who run the spaces: roles, passwords, sessions, API tokens.

Roles are ordered: **staff** (community managers: the live dashboard and its actions) <
**manager** (owners: insights) < **admin** (accounts, tokens, configuration pages). A role
allows everything a lower one does.

- Passwords are hashed with argon2id (argon2-cffi's RFC 9106 low-memory profile); a hash made
  with older parameters is upgraded at the next successful sign-in.
- A browser session is a random token in an HttpOnly cookie; the database keeps only its SHA-256,
  so a stolen database holds no usable session, and deleting the row (logout, user removed)
  revokes it at the next request. Each session has its own CSRF synchronizer token.
- API tokens are random too (256 bits), so a plain SHA-256 is enough to store them: a slow hash
  protects low-entropy secrets (passwords), not these. Each token has a role.
- Sign-in is rate limited per account and per address (failures kept in the database, so a
  restart does not reset the count). Unknown accounts count like known ones and cost the same
  argon2 verification, so the answer never tells whether an account exists.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from hub.db.models import ApiToken, LoginFailure, User, UserSession


class Role(StrEnum):
    """What a person or a token may do; each role includes the ones below it."""

    STAFF = "staff"
    MANAGER = "manager"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        """0 for staff, 1 for manager, 2 for admin."""
        return list(Role).index(self)

    def allows(self, required: Role) -> bool:
        """Whether this role may do what *required* may."""
        return self.rank >= required.rank


SESSION_IDLE = timedelta(hours=12)
SESSION_MAX = timedelta(days=7)
SESSION_TOUCH = timedelta(minutes=1)  # last_seen_at is written at most this often
FAILURE_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_ACCOUNT = 5
MAX_FAILURES_PER_ADDRESS = 20
PASSWORD_MIN = 10
PASSWORD_MAX = 1024
TOKEN_PREFIX = "vvt_"  # noqa: S105 (a prefix, not a secret)
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")

_hasher = PasswordHasher()
# Verified when the account does not exist, so both answers cost the same.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def N_(message: str) -> str:
    """Mark *message* for extraction; it is translated where it is shown."""
    return message


class AccountError(ValueError):
    """An account operation cannot be done as asked; the message is meant for a person.

    ``msgid`` (English, in the catalog) and ``params`` let a page show it in its language.
    """

    def __init__(self, msgid: str, **params: object) -> None:
        super().__init__(msgid % params)
        self.msgid = msgid
        self.params = params


@dataclass(frozen=True, slots=True)
class Principal:
    """Who makes a request: a signed-in user (with a session) or an API token."""

    kind: str  # "user" or "token"
    id: int
    role: Role
    name: str
    language: str = "fr"
    session_id: str | None = None
    csrf_token: str | None = None

    @property
    def is_user(self) -> bool:
        """Whether this is a person signed in with a browser session."""
        return self.kind == "user"


@dataclass(frozen=True, slots=True)
class LoginResult:
    """The outcome of a sign-in attempt."""

    user: User | None
    refused: str | None = None  # None, "credentials", "account_locked" or "address_locked"
    retry_after_s: int = 0


def digest(token: str) -> str:
    """SHA-256 hex of a session or API token (what the database keeps)."""
    return hashlib.sha256(token.encode()).hexdigest()


def normalize_email(email: str) -> str:
    """E-mail addresses compare case-insensitively and without surrounding spaces."""
    return email.strip().lower()


def check_password(password: str) -> None:
    """Refuse a password too short or too long to be a good one."""
    if len(password) < PASSWORD_MIN:
        raise AccountError(
            N_("The password must have at least %(count)d characters."), count=PASSWORD_MIN
        )
    if len(password) > PASSWORD_MAX:
        raise AccountError(
            N_("The password must have at most %(count)d characters."), count=PASSWORD_MAX
        )


def add_user(
    session: Session,
    email: str,
    password: str,
    role: Role,
    *,
    name: str = "",
    language: str = "fr",
    now: datetime | None = None,
) -> User:
    """Create an account (the e-mail must be new, the password acceptable)."""
    address = normalize_email(email)
    if not EMAIL.match(address) or len(address) > 254:
        raise AccountError(N_("%(email)s is not an e-mail address."), email=email)
    if language not in ("fr", "en"):
        raise AccountError(N_("Unknown language %(language)s (fr or en)."), language=language)
    check_password(password)
    if session.scalar(select(User.id).where(User.email == address)) is not None:
        raise AccountError(N_("An account already exists for %(email)s."), email=address)
    user = User(
        email=address,
        name=name.strip()[:80],
        role=Role(role).value,
        password_hash=_hasher.hash(password),
        language=language,
        created_at=now or datetime.now(UTC),
    )
    session.add(user)
    session.flush()
    return user


def set_password(session: Session, user: User, password: str) -> None:
    """Change a user's password; every session of theirs is closed."""
    check_password(password)
    user.password_hash = _hasher.hash(password)
    session.execute(delete(UserSession).where(UserSession.user_id == user.id))


def set_role(session: Session, user: User, role: Role) -> None:
    """Change a user's role (it applies at their next request)."""
    user.role = Role(role).value
    session.flush()


def remove_user(session: Session, user_id: int) -> bool:
    """Delete an account and every session of it; returns whether it existed."""
    session.execute(delete(UserSession).where(UserSession.user_id == user_id))
    user = session.get(User, user_id)
    if user is None:
        return False
    session.delete(user)
    session.flush()
    return True


def _failures_since(
    session: Session, column: InstrumentedAttribute[str], value: str, since: datetime
) -> list[datetime]:
    return list(
        session.scalars(
            select(LoginFailure.at)
            .where(column == value, LoginFailure.at > since)
            .order_by(LoginFailure.at)
        )
    )


def _locked(failures: list[datetime], limit: int, now: datetime) -> int:
    """Seconds until a new attempt is allowed (0: allowed now)."""
    if len(failures) < limit:
        return 0
    oldest_counted = failures[-limit]
    return max(1, int((oldest_counted + FAILURE_WINDOW - now).total_seconds()) + 1)


def login(
    session: Session, email: str, password: str, ip: str, now: datetime | None = None
) -> LoginResult:
    """Check a sign-in attempt under the rate limits; records failures and the last login."""
    at = now or datetime.now(UTC)
    address = normalize_email(email)[:254]
    since = at - FAILURE_WINDOW
    forget_old_failures(session, at)
    wait = _locked(
        _failures_since(session, LoginFailure.ip, ip, since), MAX_FAILURES_PER_ADDRESS, at
    )
    if wait:
        return LoginResult(None, "address_locked", wait)
    wait = _locked(
        _failures_since(session, LoginFailure.email, address, since), MAX_FAILURES_PER_ACCOUNT, at
    )
    if wait:
        return LoginResult(None, "account_locked", wait)
    user = session.scalar(select(User).where(User.email == address))
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
        ok = user is not None
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok or user is None:
        session.add(LoginFailure(email=address, ip=ip[:45], at=at))
        session.flush()
        return LoginResult(None, "credentials")
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    user.last_login_at = at
    session.execute(delete(LoginFailure).where(LoginFailure.email == address))
    return LoginResult(user)


def forget_old_failures(session: Session, now: datetime) -> int:
    """Delete failures older than the window (they no longer count) and sessions past their
    maximum age (at each sign-in attempt: both tables stay small); returns the failures deleted."""
    session.execute(delete(UserSession).where(UserSession.expires_at <= now))
    result = session.execute(delete(LoginFailure).where(LoginFailure.at <= now - FAILURE_WINDOW))
    return int(getattr(result, "rowcount", 0) or 0)


def open_session(
    session: Session,
    user: User,
    *,
    ip: str | None = None,
    user_agent: str | None = None,
    now: datetime | None = None,
) -> str:
    """Start a browser session for *user*; returns the token for the cookie (shown once)."""
    at = now or datetime.now(UTC)
    token = secrets.token_urlsafe(32)
    session.add(
        UserSession(
            id=digest(token),
            user_id=user.id,
            csrf_token=secrets.token_urlsafe(32),
            created_at=at,
            last_seen_at=at,
            expires_at=at + SESSION_MAX,
            ip=ip[:45] if ip else None,
            user_agent=user_agent[:200] if user_agent else None,
        )
    )
    session.flush()
    return token


def session_principal(
    session: Session, token: str, now: datetime | None = None
) -> Principal | None:
    """The user behind a session cookie, or ``None`` (unknown, expired, idle, user removed)."""
    at = now or datetime.now(UTC)
    row = session.get(UserSession, digest(token))
    if row is None:
        return None
    user = session.get(User, row.user_id)
    if user is None or at >= row.expires_at or at >= row.last_seen_at + SESSION_IDLE:
        session.delete(row)
        return None
    if at - row.last_seen_at >= SESSION_TOUCH:
        row.last_seen_at = at
    return Principal(
        kind="user",
        id=user.id,
        role=Role(user.role),
        name=user.name or user.email,
        language=user.language,
        session_id=row.id,
        csrf_token=row.csrf_token,
    )


def close_session(session: Session, token: str) -> None:
    """Log out: forget the session (the cookie becomes worthless)."""
    session.execute(delete(UserSession).where(UserSession.id == digest(token)))


def sessions_of(session: Session, user_id: int) -> int:
    """How many open sessions a user has."""
    count = session.scalar(
        select(func.count()).select_from(UserSession).where(UserSession.user_id == user_id)
    )
    return int(count or 0)


def create_token(
    session: Session,
    name: str,
    role: Role,
    *,
    created_by: int | None = None,
    now: datetime | None = None,
) -> tuple[str, ApiToken]:
    """A new API token; the secret is returned once and never stored."""
    label = name.strip()
    if not label or len(label) > 80:
        raise AccountError(N_("A token needs a name of 1 to 80 characters."))
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        name=label,
        role=Role(role).value,
        token_hash=digest(secret),
        prefix=secret[:12],
        created_at=now or datetime.now(UTC),
        created_by=created_by,
    )
    session.add(row)
    session.flush()
    return secret, row


def token_principal(session: Session, secret: str, now: datetime | None = None) -> Principal | None:
    """The integration behind a bearer token, or ``None`` (unknown or revoked)."""
    if not secret.startswith(TOKEN_PREFIX):
        return None
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest(secret)))
    if row is None or row.revoked_at is not None:
        return None
    at = now or datetime.now(UTC)
    if row.last_used_at is None or at - row.last_used_at >= SESSION_TOUCH:
        row.last_used_at = at
    return Principal(kind="token", id=row.id, role=Role(row.role), name=row.name)


def revoke_token(session: Session, token_id: int, now: datetime | None = None) -> bool:
    """Revoke an API token (kept for the record); returns whether it was active."""
    row = session.get(ApiToken, token_id)
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = now or datetime.now(UTC)
    return True


def same_token(expected: str | None, given: str | None) -> bool:
    """Constant-time comparison of two CSRF tokens (``None`` never matches)."""
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())
