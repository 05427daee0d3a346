"""Signed member links: bound to a purpose, expiring, unforgeable; one key per hub database."""

from __future__ import annotations

import time

import pytest
from sqlalchemy.orm import Session, sessionmaker

from hub.signing import InvalidToken, Purpose, Signer, stored_secret_key


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


def test_a_short_key_is_refused() -> None:
    with pytest.raises(ValueError, match="16 characters"):
        Signer("short")


def test_the_generated_key_is_made_once_and_kept(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        first = stored_secret_key(session)
    with sessions.begin() as session:
        assert stored_secret_key(session) == first
    assert len(first) >= 32
