"""Signed member links: bound to a purpose, expiring, unforgeable; one key per hub database."""

from __future__ import annotations

import base64
import struct
import time

import pytest
from sqlalchemy.orm import Session, sessionmaker

from hub.signing import SEALED_LENGTH, InvalidToken, Purpose, Signer, stored_secret_key


def test_a_token_round_trips_for_its_purpose() -> None:
    signer = Signer("k" * 32)
    token = signer.dumps(Purpose.RSVP, {"member": 7, "moment": 3})
    assert signer.loads(Purpose.RSVP, token, max_age_s=60) == {"member": 7, "moment": 3}


def test_a_token_is_refused_for_another_purpose_or_key() -> None:
    token = Signer("k" * 32).dumps(Purpose.RSVP, {"member": 7})
    with pytest.raises(InvalidToken) as other_purpose:
        Signer("k" * 32).loads(Purpose.PRIVACY, token, max_age_s=60)
    assert other_purpose.value.reason == "invalid"
    with pytest.raises(InvalidToken):
        Signer("x" * 32).loads(Purpose.RSVP, token, max_age_s=60)
    with pytest.raises(InvalidToken):
        Signer("k" * 32).loads(Purpose.RSVP, token[:-2] + "AA", max_age_s=60)


def test_an_old_token_has_expired() -> None:
    signer = Signer("k" * 32)
    token = signer.dumps(Purpose.PRIVACY, {"member": 1})
    time.sleep(1.1)
    with pytest.raises(InvalidToken) as expired:
        signer.loads(Purpose.PRIVACY, token, max_age_s=0)
    assert expired.value.reason == "expired"


def test_a_sealed_token_holds_two_ids_hidden_for_its_purpose_and_key() -> None:
    signer = Signer("k" * 32)
    token = signer.seal(Purpose.SCREEN_RSVP, 7, 3, now=1_800_000_000)
    assert len(token) == SEALED_LENGTH == 38
    assert signer.unseal(Purpose.SCREEN_RSVP, token, 60, now=1_800_000_010) == (7, 3)
    # The ids are not readable in it (as bytes, nor as base64 text).
    raw = base64.urlsafe_b64decode(token + "==")
    assert struct.pack("!I", 7) not in raw
    assert struct.pack("!I", 3) not in raw
    assert token != signer.seal(Purpose.SCREEN_RSVP, 8, 3, now=1_800_000_000)
    for other_purpose, other_key in ((Purpose.RSVP, "k" * 32), (Purpose.SCREEN_RSVP, "x" * 32)):
        with pytest.raises(InvalidToken) as refused:
            Signer(other_key).unseal(other_purpose, token, 60, now=1_800_000_010)
        assert refused.value.reason == "invalid"


def test_a_sealed_token_changed_anywhere_is_refused() -> None:
    signer = Signer("k" * 32)
    token = signer.seal(Purpose.SCREEN_RSVP, 7, 3, now=1_800_000_000)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    for index, character in enumerate(token):
        changed = alphabet[(alphabet.index(character) + 1) % 64]
        forged = token[:index] + changed + token[index + 1 :]
        with pytest.raises(InvalidToken):
            signer.unseal(Purpose.SCREEN_RSVP, forged, 60, now=1_800_000_010)
    for malformed in ("", token[:-1], token + "A", token[:-1] + "=", token[:-1] + "+"):
        with pytest.raises(InvalidToken):
            signer.unseal(Purpose.SCREEN_RSVP, malformed, 60, now=1_800_000_010)


def test_a_sealed_token_expires_and_is_not_valid_before_it_was_made() -> None:
    signer = Signer("k" * 32)
    token = signer.seal(Purpose.SCREEN_RSVP, 7, 3, now=1_800_000_000)
    with pytest.raises(InvalidToken) as expired:
        signer.unseal(Purpose.SCREEN_RSVP, token, 60, now=1_800_000_061)
    assert expired.value.reason == "expired"
    with pytest.raises(InvalidToken) as early:
        signer.unseal(Purpose.SCREEN_RSVP, token, 60, now=1_800_000_000 - 3600)
    assert early.value.reason == "invalid"
    with pytest.raises(ValueError, match="2\\*\\*32"):
        signer.seal(Purpose.SCREEN_RSVP, 2**32, 3)


def test_a_short_key_is_refused() -> None:
    with pytest.raises(ValueError, match="16 characters"):
        Signer("short")


def test_the_generated_key_is_made_once_and_kept(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        first = stored_secret_key(session)
    with sessions.begin() as session:
        assert stored_secret_key(session) == first
    assert len(first) >= 32
