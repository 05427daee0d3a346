"""Accounts on SQLite and PostgreSQL: roles, passwords, rate limits, sessions, API tokens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub.accounts import (
    FAILURE_WINDOW,
    MAX_FAILURES_PER_ACCOUNT,
    MAX_FAILURES_PER_ADDRESS,
    SESSION_IDLE,
    SESSION_MAX,
    AccountError,
    Role,
    add_user,
    close_session,
    create_token,
    digest,
    forget_old_failures,
    login,
    open_session,
    remove_user,
    revoke_token,
    session_principal,
    set_password,
    token_principal,
)
from hub.db.models import LoginFailure, User, UserSession

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
PASSWORD = "une phrase de passe solide"


def test_roles_are_ordered() -> None:
    assert Role.ADMIN.allows(Role.STAFF)
    assert Role.MANAGER.allows(Role.MANAGER)
    assert not Role.STAFF.allows(Role.MANAGER)
    assert not Role.MANAGER.allows(Role.ADMIN)
    assert [r.rank for r in Role] == [0, 1, 2]


def test_add_user_hashes_with_argon2id_and_validates(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        user = add_user(session, " Camille@Ekilibre.FR ", PASSWORD, Role.STAFF, now=NOW)
        assert user.email == "camille@ekilibre.fr"
        assert user.password_hash.startswith("$argon2id$")
        assert PASSWORD not in user.password_hash
        with pytest.raises(AccountError, match="already exists"):
            add_user(session, "camille@ekilibre.fr", PASSWORD, Role.ADMIN)
        with pytest.raises(AccountError, match="at least 10"):
            add_user(session, "court@ekilibre.fr", "court", Role.STAFF)
        with pytest.raises(AccountError, match="not an e-mail"):
            add_user(session, "pas-une-adresse", PASSWORD, Role.STAFF)
        with pytest.raises(AccountError, match="Unknown language"):
            add_user(session, "de@ekilibre.fr", PASSWORD, Role.STAFF, language="de")
        with pytest.raises(ValueError, match="root"):
            add_user(session, "root@ekilibre.fr", PASSWORD, "root")  # type: ignore[arg-type]


def test_login_success_failure_and_rehash(sessions: sessionmaker[Session]) -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
    with sessions.begin() as session:
        user = add_user(session, "lea@ekilibre.fr", PASSWORD, Role.MANAGER, now=NOW)
        user.password_hash = weak.hash(PASSWORD)  # made with older, weaker parameters
    with sessions.begin() as session:
        assert login(
            session, "lea@ekilibre.fr", "mauvais mot de passe", "10.0.0.1", NOW
        ).refused == ("credentials")
        ok = login(session, "LEA@ekilibre.fr", PASSWORD, "10.0.0.1", NOW)
        assert ok.user is not None
        assert ok.user.last_login_at == NOW
        assert ok.user.password_hash.startswith("$argon2id$v=19$m=65536")  # upgraded
        # A success clears the account's failures.
        assert session.scalars(select(LoginFailure)).all() == []


def test_account_is_locked_after_repeated_failures(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        add_user(session, "owner@ekilibre.fr", PASSWORD, Role.ADMIN, now=NOW)
    with sessions.begin() as session:
        for i in range(MAX_FAILURES_PER_ACCOUNT):
            at = NOW + timedelta(minutes=i)
            result = login(session, "owner@ekilibre.fr", "nope-nope-nope", f"10.0.0.{i}", at)
            assert result.refused == "credentials"
        locked = login(
            session, "owner@ekilibre.fr", PASSWORD, "10.0.9.9", NOW + timedelta(minutes=5)
        )
        assert locked.refused == "account_locked"
        # The oldest failure counted leaves the window at NOW + 15 min.
        assert 9 * 60 <= locked.retry_after_s <= 10 * 60 + 1
        later = login(session, "owner@ekilibre.fr", PASSWORD, "10.0.9.9", NOW + FAILURE_WINDOW)
        assert later.user is not None


def test_an_address_is_locked_across_accounts(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        add_user(session, "staff@ekilibre.fr", PASSWORD, Role.STAFF, now=NOW)
        for i in range(MAX_FAILURES_PER_ADDRESS):  # spraying many (unknown) accounts
            login(session, f"guess{i}@ekilibre.fr", "whatever-password", "192.0.2.7", NOW)
        blocked = login(session, "staff@ekilibre.fr", PASSWORD, "192.0.2.7", NOW)
        assert blocked.refused == "address_locked"
        assert login(session, "staff@ekilibre.fr", PASSWORD, "192.0.2.8", NOW).user is not None
        assert forget_old_failures(session, NOW + FAILURE_WINDOW) == MAX_FAILURES_PER_ADDRESS
        assert session.scalars(select(LoginFailure)).all() == []


def test_sessions_expire_when_idle_or_old_and_are_stored_hashed(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        user = add_user(session, "sam@ekilibre.fr", PASSWORD, Role.STAFF, now=NOW)
        token = open_session(session, user, ip="10.0.0.2", user_agent="Firefox", now=NOW)
        idle = open_session(session, user, now=NOW)
    with sessions.begin() as session:
        assert session.get(UserSession, token) is None  # only the digest is a key
        principal = session_principal(session, token, NOW + timedelta(hours=1))
        assert principal is not None
        assert principal.role is Role.STAFF
        assert principal.csrf_token
        assert session_principal(session, idle, NOW + SESSION_IDLE) is None
    with sessions.begin() as session:
        assert session.get(UserSession, digest(idle)) is None  # an expired session is deleted
        # Kept alive by use, a session still ends at its maximum age.
        for hours in range(11, 24 * 7, 11):
            assert session_principal(session, token, NOW + timedelta(hours=hours)) is not None
        assert session_principal(session, token, NOW + SESSION_MAX) is None


def test_logout_password_change_and_removal_revoke(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        user = add_user(session, "ines@ekilibre.fr", PASSWORD, Role.ADMIN, now=NOW)
        first, second, third = (open_session(session, user, now=NOW) for _ in range(3))
        close_session(session, first)
        assert session_principal(session, first, NOW) is None
        assert session_principal(session, second, NOW) is not None
        set_password(session, user, "un tout nouveau mot de passe")
        assert session_principal(session, second, NOW) is None
        fourth = open_session(session, user, now=NOW)
        assert remove_user(session, user.id)
        assert session_principal(session, fourth, NOW) is None
        assert session.scalars(select(User)).all() == []
        assert not remove_user(session, user.id)
        assert third


def test_api_tokens_are_hashed_have_a_role_and_can_be_revoked(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        secret, row = create_token(session, "Grafana", Role.MANAGER, now=NOW)
        assert secret.startswith("vvt_")
        assert len(secret) > 40
        assert row.token_hash == digest(secret)
        principal = token_principal(session, secret, NOW)
        assert principal is not None
        assert (principal.kind, principal.role, principal.name) == (
            "token",
            Role.MANAGER,
            "Grafana",
        )
        assert principal.csrf_token is None
        assert token_principal(session, secret + "x", NOW) is None
        assert token_principal(session, "not-even-a-token", NOW) is None
        with pytest.raises(AccountError):
            create_token(session, "  ", Role.STAFF)
    with sessions.begin() as session:
        assert revoke_token(session, row.id, NOW)
        assert not revoke_token(session, row.id, NOW)
        assert token_principal(session, secret, NOW) is None
