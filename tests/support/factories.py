"""Test data, built through the hub's own functions (as staff pages and imports will)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from hub.config import SiteSettings
from hub.db.models import Moment
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
