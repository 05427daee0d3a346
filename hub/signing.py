"""Signed, expiring tokens for links that identify a member without a password.

An RSVP link in a message, the QR code on a lobby greeting card and the privacy self-service link
in an email all carry a token that only this hub can have made: it is signed with the hub's secret
key (:attr:`hub.config.HubConfig.secret_key`, or one generated once and kept in the database) and
bound to a *purpose*, so a token made for one use is refused by every other.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub.db.models import HubState

SECRET_STATE_KEY = "secret_key"  # noqa: S105 (the name of a hub_state row)


class Purpose(StrEnum):
    """What a token may be used for (one salt each)."""

    RSVP = "rsvp"  # join a moment: {"member": id, "moment": id}
    PRIVACY = "privacy"  # a member's self-service page: {"member": id}
    SCREEN = "screen"  # a lobby screen's read-only access: {"site": id, "screen": id}


class InvalidToken(ValueError):
    """The token is malformed, forged, made for another purpose, or expired."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # "expired" or "invalid"


class Signer:
    """Makes and checks tokens with the hub's secret key."""

    def __init__(self, secret_key: str) -> None:
        if len(secret_key) < 16:
            raise ValueError("the hub secret key must be at least 16 characters")
        self._key = secret_key

    def _serializer(self, purpose: Purpose) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(self._key, salt=f"vivant-{purpose.value}")

    def dumps(self, purpose: Purpose, data: dict[str, Any]) -> str:
        """A URL-safe token carrying *data* (JSON-serialisable) for *purpose*."""
        return self._serializer(purpose).dumps(data)

    def loads(self, purpose: Purpose, token: str, max_age_s: int) -> dict[str, Any]:
        """The data of a valid token no older than *max_age_s*, or :class:`InvalidToken`."""
        try:
            data = self._serializer(purpose).loads(token, max_age=max_age_s)
        except SignatureExpired:
            raise InvalidToken("expired") from None
        except BadSignature:
            raise InvalidToken("invalid") from None
        if not isinstance(data, dict):
            raise InvalidToken("invalid")
        return data


def stored_secret_key(session: Session) -> str:
    """The hub's generated secret key, created on first use and kept in the database.

    Every hub process sharing the database signs with the same key; a key given in the
    configuration takes precedence (see :class:`hub.runtime.HubRuntime`).
    """
    row = session.get(HubState, SECRET_STATE_KEY)
    if row is not None and isinstance(row.value.get("key"), str):
        return str(row.value["key"])
    key = secrets.token_urlsafe(48)
    try:
        with session.begin_nested():
            session.add(
                HubState(key=SECRET_STATE_KEY, value={"key": key}, saved_at=datetime.now(UTC))
            )
    except IntegrityError:  # another hub process made it first: use theirs
        row = session.get(HubState, SECRET_STATE_KEY)
        if row is None:
            raise
        return str(row.value["key"])
    return key
