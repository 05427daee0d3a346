"""Members, their consents and their credentials."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from hub.db.models import (
    Consent,
    ConsentEvent,
    Credential,
    CredentialKind,
    Member,
    MemberConsent,
)


def add_member(
    session: Session,
    first_name: str,
    *,
    last_name: str | None = None,
    email: str | None = None,
    language: str = "fr",
    consents: Iterable[Consent] = (),
    badges: Iterable[str] = (),
    now: datetime | None = None,
) -> Member:
    """Create a member with the consents they gave and their enrolled badge credentials."""
    at = now or datetime.now(UTC)
    member = Member(
        first_name=first_name, last_name=last_name, email=email, language=language, created_at=at
    )
    session.add(member)
    for consent in consents:
        grant(member, consent, at)
    for credential in badges:
        member.credentials.append(
            Credential(kind=CredentialKind.BADGE.value, value=credential, created_at=at)
        )
    session.flush()
    return member


def grant(member: Member, consent: Consent, at: datetime, *, via: str = "staff") -> None:
    """Record that *member* granted *consent* (idempotent), in the consent audit trail too."""
    if not member.allows(consent):
        member.consents.append(MemberConsent(scope=consent.value, granted_at=at))
        member.consent_events.append(
            ConsentEvent(scope=consent.value, granted=True, at=at, via=via)
        )


def withdraw(
    member: Member, consent: Consent, at: datetime | None = None, *, via: str = "staff"
) -> None:
    """Withdraw *consent*: as easy as granting it, and recorded the same way."""
    if member.allows(consent):
        member.consents[:] = [c for c in member.consents if c.scope != consent.value]
        member.consent_events.append(
            ConsentEvent(scope=consent.value, granted=False, at=at or datetime.now(UTC), via=via)
        )
