"""Test data, built through the hub's own functions (as staff pages and imports will)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from hub.config import SiteSettings
from hub.db.models import Consent, Member, MemberChannel, Moment
from hub.members import add_member
from hub.moments import add_moment


def moment_soon(
    session: Session,
    site: SiteSettings,
    *,
    in_minutes: float = 10,
    lasting: float = 60,
    title: str = "Petit-déjeuner des coworkers",
    kind: str = "breakfast",
    room_id: str = "cuisine",
) -> Moment:
    """A moment at *site* starting *in_minutes* from now."""
    start = datetime.now(UTC) + timedelta(minutes=in_minutes)
    return add_moment(
        session,
        site,
        room_id=room_id,
        title=title,
        kind=kind,
        starts_at=start,
        ends_at=start + timedelta(minutes=lasting),
    )


def reachable_member(
    session: Session,
    first_name: str,
    *,
    consents: Iterable[Consent] = (Consent.MESSAGES,),
    apprise_url: str | None = "json://127.0.0.1:9/unused",
    language: str = "fr",
    badges: Iterable[str] = (),
    now: datetime | None = None,
) -> Member:
    """A member with the given consents and, unless None, an Apprise address of their own."""
    at = now or datetime.now(UTC)
    member = add_member(
        session, first_name, consents=consents, language=language, badges=badges, now=at
    )
    if apprise_url is not None:
        address = MemberChannel(
            member_id=member.id, channel="apprise", address=apprise_url, created_at=at
        )
        session.add(address)
    session.flush()
    return member
