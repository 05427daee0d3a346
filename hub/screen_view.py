"""What a lobby screen receives, in its language and its site's time zone.

Everything here is rendered for display: the browser only places text (and draws a QR code's
modules), so the page needs no date or translation library and no data it does not show. A member's
id travels only inside the signed RSVP link of the QR code, which is the member's own way in.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time, timedelta
from typing import Any

from babel.dates import format_date
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.config import HubConfig, Language, SiteSettings
from hub.db.models import Moment
from hub.greeting import Greeting
from hub.i18n import gettext, local_date, local_time, ngettext
from hub.moments import MomentView, day_bounds, todays_moments
from hub.presence import on_site_count
from hub.qr import qr_modules
from hub.rsvp import rsvp_url
from hub.signing import Signer

TODAY_MAX = 5  # rows a 16:9 screen shows legibly from 3 m
UPCOMING_DAYS = 7
UPCOMING_MAX = 5
SISTER_MAX = 4

# How many are going to a moment, and the consented first names among them.
GoingLookup = Callable[[int], tuple[int, list[str]]]


def N_(message: str) -> str:
    """Mark *message* for extraction; it is translated where it is used."""
    return message


KIND_LABELS = {
    "breakfast": N_("Breakfast"),
    "lunch": N_("Lunch"),
    "workshop": N_("Workshop"),
    "talk": N_("Talk"),
    "afterwork": N_("Afterwork"),
    "sport": N_("Sport"),
    "other": N_("Moment"),
}


def _day_label(at: datetime, site: SiteSettings, language: Language, now: datetime) -> str | None:
    """``None`` today, "Tomorrow", else the weekday and date (``vendredi 27 novembre``)."""
    day = at.astimezone(site.zone).date()
    today = now.astimezone(site.zone).date()
    if day == today:
        return None
    if day == today + timedelta(days=1):
        return gettext(language, "Tomorrow")
    return format_date(day, format="EEEE d MMMM", locale=language.value)


def moment_view(
    moment: MomentView,
    site: SiteSettings,
    language: Language,
    now: datetime,
    going: tuple[int, list[str]] | None = None,
) -> dict[str, Any]:
    """One moment as a screen shows it (``going_*`` only when *going* is given)."""
    starts = local_time(moment.starts_at, site.timezone, language)
    day = _day_label(moment.starts_at, site, language, now)
    if moment.is_on(now):
        when = gettext(language, "Now")
        status = "now"
    elif moment.ends_at <= now:
        when = gettext(language, "Over")
        status = "over"
    else:
        minutes = int((moment.starts_at - now).total_seconds() // 60)
        status = "soon" if minutes < 60 else "later"
        when = (
            gettext(language, "In %(minutes)d min") % {"minutes": max(minutes, 1)}
            if minutes < 60
            else starts
        )
    view: dict[str, Any] = {
        "id": moment.id,
        "title": moment.title,
        "kind": moment.kind,
        "kind_label": gettext(language, KIND_LABELS.get(moment.kind, "Moment")),
        "room": moment.room_name,
        "starts": starts,
        "ends": local_time(moment.ends_at, site.timezone, language),
        "when": when,
        "day": day,
        "status": status,
    }
    if going is not None:
        count, names = going
        view["going_count"] = count
        view["going_names"] = names
        view["going_label"] = ngettext(language, "%(count)d going", "%(count)d going", count)
    return view


def greeting_view(
    greeting: Greeting,
    site: SiteSettings,
    language: Language,
    *,
    base_url: str,
    signer: Signer | None,
    going: GoingLookup | None = None,
) -> dict[str, Any]:
    """The greeting card: first name only if the member allowed it; for them only, the caption
    of a QR code to join the first moment shown (its picture follows: :func:`greeting_code`);
    how many are going when *going* is given."""
    if greeting.first_name:
        title = gettext(language, "Hello %(name)s!") % {"name": greeting.first_name}
    else:
        title = gettext(language, "Welcome!")
    moments = [
        moment_view(m, site, language, greeting.at, going(m.id) if going else None)
        for m in greeting.moments
    ]
    qr = None
    if _code_link(greeting, base_url, signer) is not None:
        qr = {"label": gettext(language, "Scan to join"), "moment": greeting.moments[0].title}
    return {
        "kind": "greeting",
        "id": greeting.id,
        "title": title,
        "subtitle": gettext(language, "Happening near you today")
        if greeting.moments
        else gettext(language, "Have a good day at %(site)s") % {"site": site.name},
        "moments": moments,
        "qr": qr,
    }


def _code_link(greeting: Greeting, base_url: str, signer: Signer | None) -> str | None:
    """The member's short-lived link to the first moment, if the card offers one."""
    member_id = greeting.member_id
    if greeting.moments and greeting.first_name and member_id is not None and signer is not None:
        return rsvp_url(signer, base_url, member_id, greeting.moments[0].id, on_screen=True)
    return None


def greeting_code(
    greeting: Greeting, *, base_url: str, signer: Signer | None
) -> dict[str, Any] | None:
    """The QR code of a greeting card whose ``qr`` is set, as modules the page draws
    (:func:`hub.qr.qr_modules`); ``None`` for a card without one.

    Sent as an event of its own, right after the card: making it is the costly part of a
    greeting (a few milliseconds, :mod:`hub.qr`), and the card is on the screens meanwhile.
    The link is anyone's in the hall who photographs it: it lasts minutes
    (:data:`hub.rsvp.SCREEN_LINK_MAX_AGE_S`)."""
    url = _code_link(greeting, base_url, signer)
    if url is None:
        return None
    size, modules = qr_modules(url)
    return {"id": greeting.id, "size": size, "modules": modules}


def _views(
    session: Session, site: SiteSettings, start: datetime, end: datetime, limit: int
) -> list[MomentView]:
    """Moments of *site* starting in [start, end), cancelled ones left out, by start time."""
    rows = session.scalars(
        select(Moment)
        .where(
            Moment.site_id == site.id,
            Moment.cancelled_at.is_(None),
            Moment.starts_at >= start,
            Moment.starts_at < end,
        )
        .order_by(Moment.starts_at, Moment.id)
        .limit(limit)
    ).all()
    out = []
    for row in rows:
        room = site.room(row.room_id)
        out.append(
            MomentView(
                id=row.id,
                title=row.title,
                kind=row.kind,
                room_id=row.room_id,
                room_name=room.name if room else row.room_id,
                starts_at=row.starts_at,
                ends_at=row.ends_at,
            )
        )
    return out


def screen_state(
    session: Session, config: HubConfig, site: SiteSettings, language: Language, now: datetime
) -> dict[str, Any]:
    """The idle screen: the panels it rotates through, the next moment, how many are here.

    Panels: today at this site (what is on or still to come), the next days here, and highlights
    at the sister sites of the same hub; a panel with nothing in it is left out, except today's.
    """
    today = [m for m in todays_moments(session, site, now) if m.ends_at > now]
    today.sort(key=lambda m: (not m.is_on(now), m.starts_at))
    _start, tomorrow = day_bounds(site, now)
    upcoming = _views(session, site, tomorrow, now + timedelta(days=UPCOMING_DAYS), UPCOMING_MAX)
    later_today = [m for m in today if m.starts_at > now]
    following = (later_today + upcoming)[:1]
    here = on_site_count(session, site.id)

    panels: list[dict[str, Any]] = [
        {
            "kind": "today",
            "title": gettext(language, "Today at %(site)s") % {"site": site.name},
            "moments": [moment_view(m, site, language, now) for m in today[:TODAY_MAX]],
            "empty": gettext(language, "No more moments today. See you tomorrow!"),
        }
    ]
    if upcoming:
        panels.append(
            {
                "kind": "upcoming",
                "title": gettext(language, "Coming up at %(site)s") % {"site": site.name},
                "moments": [moment_view(m, site, language, now) for m in upcoming],
            }
        )
    sisters = []
    for other in config.sites:
        if other.id == site.id:
            continue
        # Until the end of their local day in a week; what has started is not a highlight.
        end = datetime.combine(
            (now + timedelta(days=UPCOMING_DAYS)).astimezone(other.zone).date(),
            time.min,
            tzinfo=other.zone,
        )
        for moment in _views(session, other, now, end, SISTER_MAX):
            view = moment_view(moment, other, language, now)
            view["site"] = other.name
            sisters.append((moment.starts_at, view))
    if sisters:
        sisters.sort(key=lambda pair: pair[0])
        panels.append(
            {
                "kind": "sisters",
                "title": gettext(language, "At our other spaces"),
                "moments": [view for _at, view in sisters[:SISTER_MAX]],
            }
        )
    return {
        "site": site.name,
        "date": local_date(now, site.timezone, language),
        "here": here,
        "here_label": ngettext(
            language, "%(count)d coworker here now", "%(count)d coworkers here now", here
        ),
        "here_caption": ngettext(language, "coworker here now", "coworkers here now", here),
        "next": moment_view(following[0], site, language, now) if following else None,
        "next_label": gettext(language, "Next"),
        "panels": panels,
    }
