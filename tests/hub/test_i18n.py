"""Every message a person can see has a French translation; times follow the site's zone."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from babel.messages.catalog import Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po

from hub.config import Language
from hub.i18n import CATALOGS, gettext, local_time, ngettext

ROOT = Path(__file__).resolve().parents[2]
KEYWORDS = {**DEFAULT_KEYWORDS, "gettext": (2,), "ngettext": (2, 3), "N_": None}
METHODS = [("hub/**.py", "python"), ("hub/web/templates/**.html", "jinja2")]


def extracted() -> set[str]:
    messages = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        ROOT,
        method_map=METHODS,
        options_map={"hub/web/templates/**.html": {"extensions": "jinja2.ext.i18n"}},
        keywords=KEYWORDS,
    ):
        messages.add(message[0] if isinstance(message, tuple) else message)
    return messages


def test_every_message_has_a_french_translation() -> None:
    with (CATALOGS / "fr" / "LC_MESSAGES" / "vivant.po").open("rb") as handle:
        catalog = read_po(handle, locale="fr")
    messages = extracted()
    assert len(messages) > 10  # the extraction itself works
    untranslated = sorted(m for m in messages if not translated(catalog.get(m)))
    assert untranslated == []


def translated(entry: Message | None) -> bool:
    if entry is None:
        return False
    if isinstance(entry.string, tuple):
        return all(entry.string)
    return bool(entry.string)


def test_french_is_french_and_english_is_english() -> None:
    assert gettext(Language.FR, "Welcome!") == "Bienvenue !"
    assert gettext(Language.EN, "Welcome!") == "Welcome!"
    plural = ("%(count)d coworker here now", "%(count)d coworkers here now")
    assert ngettext(Language.FR, *plural, 1) == "1 coworker présent en ce moment"
    assert ngettext(Language.FR, *plural, 0) == "0 coworker présent en ce moment"
    assert ngettext(Language.EN, *plural, 2) == "2 coworkers here now"


def test_times_are_shown_in_the_site_time_zone_across_dst() -> None:
    winter = datetime(2026, 1, 15, 8, 30, tzinfo=UTC)
    summer = datetime(2026, 7, 15, 8, 30, tzinfo=UTC)
    assert local_time(winter, "Europe/Paris", Language.FR) == "09:30"
    assert local_time(summer, "Europe/Paris", Language.FR) == "10:30"
    assert local_time(summer, "Europe/Paris", Language.EN) == "10:30\u202fAM"
