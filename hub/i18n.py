"""Translations (gettext catalogs managed with Babel) and locale-aware formatting.

The catalogs are the ``.po`` files under ``hub/i18n/<lang>/LC_MESSAGES/``; they are compiled in
memory at start (no binary ``.mo`` file in the repository). Message ids are English; French is
the default language of every page. Times are always shown in the site's time zone.
"""

from __future__ import annotations

import io
from datetime import datetime
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from hub.config import Language

CATALOGS = Path(__file__).with_name("i18n")
DOMAIN = "vivant"


@cache
def translations(language: Language) -> Translations:
    """The compiled catalog of *language* (English needs none: ids are English)."""
    po_file = CATALOGS / language.value / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not po_file.is_file():
        return Translations()
    with po_file.open("rb") as handle:
        catalog = read_po(handle, locale=language.value, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(fp=buffer, domain=DOMAIN)


def gettext(language: Language, message: str) -> str:
    """Translate *message* into *language*."""
    return translations(language).gettext(message)


def ngettext(language: Language, singular: str, plural: str, count: int) -> str:
    """Translate with the plural form for *count*, then substitute ``%(count)d``."""
    return translations(language).ngettext(singular, plural, count) % {"count": count}


def local_time(at: datetime, zone: str, language: Language) -> str:
    """A time of day as people read it there (``09:30`` in French, ``9:30 AM`` in English)."""
    return format_time(at, format="short", tzinfo=ZoneInfo(zone), locale=language.value)


def local_date(at: datetime, zone: str, language: Language) -> str:
    """A full date, e.g. ``jeudi 26 novembre 2026``."""
    return format_date(at.astimezone(ZoneInfo(zone)), format="full", locale=language.value)
