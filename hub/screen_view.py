"""What a lobby screen receives, in its language and its site's time zone.

Everything here is rendered for display: the browser only places text, so the page needs no
date or translation library and no data it does not show.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from hub.config import Language, SiteSettings
from hub.greeting import Greeting
from hub.i18n import gettext, local_date, local_time, ngettext
from hub.moments import MomentView, todays_moments
from hub.presence import on_site_count


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


def moment_view(
    moment: MomentView, site: SiteSettings, language: Language, now: datetime
) -> dict[str, Any]:
    """One moment as a screen shows it."""
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
            else local_time(moment.starts_at, site.timezone, language)
        )
    return {
        "id": moment.id,
        "title": moment.title,
        "kind": moment.kind,
        "kind_label": gettext(language, KIND_LABELS.get(moment.kind, "Moment")),
        "room": moment.room_name,
        "starts": local_time(moment.starts_at, site.timezone, language),
        "ends": local_time(moment.ends_at, site.timezone, language),
        "when": when,
        "status": status,
    }


def greeting_view(greeting: Greeting, site: SiteSettings, language: Language) -> dict[str, Any]:
    """The greeting card: first name only if the member allowed it."""
    if greeting.first_name:
        title = gettext(language, "Hello %(name)s!") % {"name": greeting.first_name}
    else:
        title = gettext(language, "Welcome!")
    return {
        "id": greeting.id,
        "title": title,
        "subtitle": gettext(language, "Happening near you today")
        if greeting.moments
        else gettext(language, "Have a good day at %(site)s") % {"site": site.name},
        "moments": [moment_view(m, site, language, greeting.at) for m in greeting.moments],
    }


def screen_state(
    session: Session, site: SiteSettings, language: Language, now: datetime
) -> dict[str, Any]:
    """The idle screen: today's moments at the site and how many members are here."""
    moments = todays_moments(session, site, now)
    here = on_site_count(session, site.id)
    return {
        "site": site.name,
        "date": local_date(now, site.timezone, language),
        "here": here,
        "here_label": ngettext(
            language, "%(count)d coworker here now", "%(count)d coworkers here now", here
        ),
        "moments": [moment_view(m, site, language, now) for m in moments if m.ends_at > now],
        "empty_label": gettext(language, "No more moments today. See you tomorrow!"),
    }
