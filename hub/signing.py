"""Signed, expiring tokens for links that identify a member without a password.

An RSVP link in a message, the QR code on a lobby greeting card and the privacy self-service link
in an email all carry a token that only this hub can have made: it is signed with the hub's secret
key (:attr:`hub.config.HubConfig.secret_key`, or one generated once and kept in the database) and
bound to a *purpose*, so a token made for one use is refused by every other.

Most tokens are itsdangerous's (JSON, readable by anyone, signed). The QR code of a greeting card
carries a *sealed* one instead (:meth:`Signer.seal`): a few numbers, encrypted and authenticated,
32 characters. The link is half as long, so the code has about half the modules (version 4
instead of 7 at level M for a typical hub address): each module is larger on the TV, easier to
scan from across the hall, and the code is drawn in half the time, on the way from a badge tap
to the screen. Its members' ids are not readable in it, as nothing on a screen should be.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
import secrets
import struct
import time
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
    SCREEN_RSVP = "screen-rsvp"  # a greeting card's QR code, sealed: (member id, moment id)


SEALED_TAG_BYTES = 12  # 96 bits: forging one takes about 2**96 tries (the pages are rate-limited)
SEALED_LENGTH = 32  # characters of a sealed token of two ids: 12 + 12 bytes in base64url
_SEALED_IDS = struct.Struct("!III")  # two ids, then the time it was made (s since the epoch)
MAX_SEALED_ID = 2**32 - 1
_SEALED_FORM = re.compile(r"[A-Za-z0-9_-]{32}")  # base64url, no padding: one spelling per token
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

    def _subkey(self, purpose: Purpose, use: str) -> bytes:
        return hmac.digest(self._key.encode(), f"vivant-{purpose.value}-{use}".encode(), "sha256")

    def seal(self, purpose: Purpose, first: int, second: int, *, now: float | None = None) -> str:
        """A 32-character token holding two ids (0 … 2**32-1) for *purpose*, unreadable.

        Deterministic authenticated encryption (SIV: Rogaway and Shrimpton, 2006, with HMAC-SHA256
        as the PRF): the tag is a MAC of the ids and the time, and also the IV of the keystream
        that hides them. Two keys per purpose, derived from the hub's key.
        """
        if not (0 <= first <= MAX_SEALED_ID and 0 <= second <= MAX_SEALED_ID):
            raise ValueError("a sealed token holds ids from 0 to 2**32-1")
        made = int(time.time() if now is None else now)
        plain = _SEALED_IDS.pack(first, second, made)
        tag = hmac.digest(self._subkey(purpose, "mac"), plain, "sha256")[:SEALED_TAG_BYTES]
        stream = hmac.digest(self._subkey(purpose, "enc"), tag, "sha256")
        hidden = bytes(a ^ b for a, b in zip(plain, stream, strict=False))
        return base64.urlsafe_b64encode(tag + hidden).decode()

    def unseal(
        self, purpose: Purpose, token: str, max_age_s: int, *, now: float | None = None
    ) -> tuple[int, int]:
        """The two ids of a valid sealed token at most *max_age_s* old, or :class:`InvalidToken`."""
        if not is_sealed(token):
            raise InvalidToken("invalid")
        try:
            raw = base64.urlsafe_b64decode(token)
        except (binascii.Error, ValueError):
            raise InvalidToken("invalid") from None
        tag, hidden = raw[:SEALED_TAG_BYTES], raw[SEALED_TAG_BYTES:]
        stream = hmac.digest(self._subkey(purpose, "enc"), tag, "sha256")
        plain = bytes(a ^ b for a, b in zip(hidden, stream, strict=False))
        expected = hmac.digest(self._subkey(purpose, "mac"), plain, "sha256")[:SEALED_TAG_BYTES]
        if len(raw) != 2 * SEALED_TAG_BYTES or not hmac.compare_digest(tag, expected):
            raise InvalidToken("invalid")
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
