"""The greeting a lobby screen shows when a member badges in.

Only what the member allowed is ever put in the event: the first name when they consented to be
shown on screens, otherwise nothing that identifies them (a generic welcome). The event leaves
the hub already stripped, so no page source or stream carries more than what is shown.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from hub.db.models import Consent, Member
from hub.moments import MomentView


@dataclass(frozen=True, slots=True)
class Greeting:
    """A greeting for the screens of one site."""

    site_id: str
    at: datetime
    first_name: str | None
    moments: list[MomentView]
    # Never sent to a screen as such: only inside the signed RSVP link of the QR code.
    member_id: int | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex)


def greeting_for(site_id: str, member: Member, at: datetime, moments: list[MomentView]) -> Greeting:
    """Compose the greeting of *member*, honouring their screen consent."""
    name = member.first_name if member.allows(Consent.SCREEN_DISPLAY) else None
    return Greeting(site_id=site_id, at=at, first_name=name, moments=moments, member_id=member.id)
