"""The greeting a lobby screen shows when a member badges in.

Only what the member allowed is ever put in the event: the first name when they consented to be
shown on screens, otherwise nothing that identifies them (a generic welcome). The event leaves
the hub already stripped, so no page source or stream carries more than what is shown.

A greeting is composed inside the transaction that applies the tap (:class:`Greeter`), with
everything the card shows (the moments around the tap and who is going to them): the screens
then render it without reading the database, and the greeting still only leaves once the tap is
committed. The tap → greeting time is a goal of its own (``benchmarks/tap_to_greeting.py``).
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker

from hub.config import SiteSettings
from hub.db.models import Consent, Member, Moment
from hub.moments import MomentView, nearby, todays_moments
from hub.rsvp import going_by_moment

# Bounds how long a change to a moment made by another hub process (hub.cluster) takes to reach
# the greetings; this process's own changes apply at once (see Greeter).
MOMENTS_CACHE_S = 10.0
MOMENTS_CACHE_DAYS = 64  # (site, day) lists kept at most
_CHANGED = "vivant.moments_changed"  # in Session.info: this session wrote moments


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
    # Moment id → how many are going and the first names of those among them who allow display,
    # read with the tap; None when not looked up (the card then shows no counts).
    going: dict[int, tuple[int, list[str]]] | None = None

    def going_to(self, moment_id: int) -> tuple[int, list[str]]:
        """How many are going to one of the greeting's moments, and the names shown."""
        return (self.going or {}).get(moment_id, (0, []))


def greeting_for(
    site_id: str,
    member: Member,
    at: datetime,
    moments: list[MomentView],
    going: dict[int, tuple[int, list[str]]] | None = None,
) -> Greeting:
    """Compose the greeting of *member*, honouring their screen consent."""
    name = member.first_name if member.allows(Consent.SCREEN_DISPLAY) else None
    return Greeting(
        site_id=site_id, at=at, first_name=name, moments=moments, member_id=member.id, going=going
    )


class Greeter:
    """Composes greetings in the tap's transaction; keeps each site's moments of the day.

    The moments of a (site, local day) are read once and kept: a tap then costs one query (who
    is going) instead of two. The list is dropped as soon as a session of *sessions* writes a
    moment (at its flush and again at its commit, so a list read in between is not kept), and
    re-read after :data:`MOMENTS_CACHE_S` in any case, for changes made by another process.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._days: dict[tuple[str, date], tuple[float, int, list[MomentView]]] = {}
        self._generation = 0
        if sessions is not None:
            event.listen(sessions, "after_flush", self._flushed)
            event.listen(sessions, "do_orm_execute", self._executed)
            event.listen(sessions, "after_commit", self._committed)

    def greeting(
        self, session: Session, site: SiteSettings, member: Member, at: datetime
    ) -> Greeting:
        """The greeting of *member* tapping at *at*: the moments around that time, who is going."""
        moments = nearby(self.moments_of_day(session, site, at), at)
        going = going_by_moment(session, [m.id for m in moments])
        return greeting_for(site.id, member, at, moments, going)

    def moments_of_day(
        self, session: Session, site: SiteSettings, at: datetime
    ) -> list[MomentView]:
        """:func:`hub.moments.todays_moments` of *site* on the local day of *at*, kept."""
        key = (site.id, at.astimezone(site.zone).date())
        with self._lock:
            generation = self._generation
            kept = self._days.get(key)
        if kept is not None:
            loaded, kept_generation, views = kept
            if kept_generation == generation and self._clock() - loaded < MOMENTS_CACHE_S:
                return views
        views = todays_moments(session, site, at)
        with self._lock:
            if len(self._days) >= MOMENTS_CACHE_DAYS:
                self._days.clear()
            self._days[key] = (self._clock(), generation, views)
        return views

    def forget(self) -> None:
        """Read the moments again at the next greeting."""
        with self._lock:
            self._generation += 1
            self._days.clear()

    def _flushed(self, session: Session, _context: Any) -> None:
        touched = itertools.chain(session.new, session.dirty, session.deleted)
        if any(isinstance(obj, Moment) for obj in touched):
            session.info[_CHANGED] = True
            self.forget()

    def _executed(self, state: ORMExecuteState) -> None:
        writes = state.is_insert or state.is_update or state.is_delete
        if writes and any(m.class_ is Moment for m in state.all_mappers):
            state.session.info[_CHANGED] = True
            self.forget()

    def _committed(self, session: Session) -> None:
        if session.info.pop(_CHANGED, False):
            self.forget()
