"""Signed, expiring tokens for links that identify a member without a password.

An RSVP link in a message, the QR code on a lobby greeting card and the privacy self-service link
in an email all carry a token that only this hub can have made: it is signed with the hub's secret
key (:attr:`hub.config.HubConfig.secret_key`, or one generated once and kept in the database) and
bound to a *purpose*, so a token made for one use is refused by every other.

Most tokens are itsdangerous's (JSON, readable by anyone, signed). The QR code of a greeting card
carries a *sealed* one instead (:meth:`Signer.seal`): a few numbers, encrypted and authenticated,
38 characters. The link is half as long, so the code has about half the modules (version 4
instead of 7 at level M for a typical hub address): each module is larger on the TV, easier to
scan from across the hall, and the code is drawn in half the time, on the way from a badge tap
to the screen. Its members' ids are not readable in it, as nothing on a screen should be.
"""

from __future__ import annotations

import base64
import re
import secrets
import struct
import time
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
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
    SCREEN_RSVP = "screen-rsvp"  # a greeting card's QR code, sealed: (member id, moment id)


SEALED_LENGTH = 38  # characters of a sealed token: a 16-byte SIV and 12 bytes, in base64url
_SEALED_IDS = struct.Struct("!III")  # two ids, then the time it was made (s since the epoch)
MAX_SEALED_ID = 2**32 - 1
_SEALED_FORM = re.compile(r"[A-Za-z0-9_-]{38}")  # base64url, no padding: one spelling per token
CLOCK_SKEW_S = 60  # a sealed token made "in the future" by another hub process's clock


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

    def _sealing(self, purpose: Purpose) -> AESSIV:
        """The AES-SIV key of *purpose*, derived from the hub's key (HKDF-SHA256)."""
        info = f"vivant-sealed-{purpose.value}".encode()
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info)
        return AESSIV(key.derive(self._key.encode()))

    def seal(self, purpose: Purpose, first: int, second: int, *, now: float | None = None) -> str:
        """A 38-character token holding two ids (0 … 2**32-1) for *purpose*, unreadable.

        AES-SIV (RFC 5297, deterministic authenticated encryption, from ``cryptography``) of the
        two ids and the time the token was made, with a key per purpose derived from the hub's.
        """
        if not (0 <= first <= MAX_SEALED_ID and 0 <= second <= MAX_SEALED_ID):
            raise ValueError("a sealed token holds ids from 0 to 2**32-1")
        made = int(time.time() if now is None else now)
        sealed = self._sealing(purpose).encrypt(_SEALED_IDS.pack(first, second, made), None)
        return base64.urlsafe_b64encode(sealed).decode().rstrip("=")

    def unseal(
        self, purpose: Purpose, token: str, max_age_s: int, *, now: float | None = None
    ) -> tuple[int, int]:
        """The two ids of a valid sealed token at most *max_age_s* old, or :class:`InvalidToken`."""
        if not is_sealed(token):
            raise InvalidToken("invalid")
        raw = base64.urlsafe_b64decode(token + "==")
        # One spelling per token: the last character's unused bits must be zero.
        if base64.urlsafe_b64encode(raw).decode().rstrip("=") != token:
            raise InvalidToken("invalid")
        try:
            plain = self._sealing(purpose).decrypt(raw, None)
        except InvalidTag:
            raise InvalidToken("invalid") from None
        first, second, made = _SEALED_IDS.unpack(plain)
        age = (time.time() if now is None else now) - made
        if age < -CLOCK_SKEW_S:
            raise InvalidToken("invalid")
        if age > max_age_s:
            raise InvalidToken("expired")
        return first, second

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


def is_sealed(token: str) -> bool:
    """Whether *token* has the form of a sealed token (itsdangerous's have dots, and are longer)."""
    return _SEALED_FORM.fullmatch(token) is not None


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
