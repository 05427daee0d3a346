"""Community moments from iCal feeds, and an iCal feed of each site's moments.

Operators already plan their moments in Google Calendar, Outlook, Nexudus or OfficeRnD; Vivant
reads those exports rather than asking staff to type everything twice.

Why it is built this way:

- **Expansion is delegated** to ``recurring_ical_events``: RRULE, RDATE, EXDATE, moved or
  edited occurrences (RECURRENCE-ID) and Google's ``X-WR-TIMEZONE`` are easy to get subtly
  wrong by hand, in particular across daylight saving changes (a weekly 09:30 in Europe/Paris
  is 08:30 UTC in winter and 07:30 UTC in summer).
- **Identity is (feed, UID, recurrence key)**. The key is the *original* start of an
  occurrence (its RECURRENCE-ID, in UTC, basic ISO format) for a recurring event and ``""``
  for a single event, so a moved occurrence or a single event whose time changed upstream
  updates its row instead of creating a new one. A sync is idempotent: the same feed twice
  changes nothing.
- **Nothing is ever deleted**. An event that disappears from the feed (within the sync window)
  cancels its moment; if it comes back, the moment is restored. Rows stay because attendance
  and insights refer to them. A cancellation made by staff is left alone by the sync.
- **A bad feed changes nothing**. Fetch and parse happen before any row is touched; a
  malformed, oversized or unreachable feed leaves every moment as it was and records a message
  for staff in :attr:`CalendarFeed.last_error`. One broken event fails the whole feed on
  purpose: skipping it would cancel its moment.
- **Times**: all-day events are whole local days in the site's time zone; floating times (no
  TZID, no Z) are read in the site's time zone; everything is stored in aware UTC.
- **Privacy**: events marked ``CLASS:PRIVATE`` or ``CONFIDENTIAL`` are not imported (lobby
  screens show moments), and feed URLs, which often carry a secret token, are shown only as
  scheme and host in errors and logs.

Kind inference, from the categories first and then the title (accents and case ignored):
petit-déjeuner/breakfast/brunch → breakfast; déjeuner/lunch → lunch; atelier/workshop/formation
→ workshop; talk/conférence/meetup/table ronde → talk; afterwork/apéro → afterwork;
sport/yoga/running/pilates → sport; otherwise the feed's default kind, else other.

Vivant's own export carries ``X-VIVANT-KIND``, which wins over the inference.

Room: LOCATION equal to a room id or name, or containing a room name as whole words (the
longest wins), accents and case ignored; otherwise the feed's default room.
"""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import recurring_ical_events  # type: ignore[import-untyped]
from icalendar import Calendar, Component, Event
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.config import SiteSettings
from hub.db.models import CalendarFeed, Moment, MomentKind
from hub.moments import (
    CANCELLED_BY_FEED,
    HOST_MAX,
    TAG_MAX,
    TAGS_MAX,
    TITLE_MAX,
    normalize_tags,
)

log = logging.getLogger(__name__)

MAX_FEED_BYTES = 5 * 1024 * 1024
MAX_OCCURRENCES = 5_000
DESCRIPTION_MAX = 4_000
FETCH_TIMEOUT_S = 15.0
DEFAULT_PAST = timedelta(days=7)
DEFAULT_HORIZON = timedelta(days=180)
MAX_PER_DAY = 4  # occurrences one recurrence rule may produce a day (see _too_frequent)
_PER_DAY = {"SECONDLY": 86_400, "MINUTELY": 1_440, "HOURLY": 24}
UNTIMED_LENGTH = timedelta(hours=1)  # a timed event without end or duration
PRIVATE_CLASSES = frozenset({"PRIVATE", "CONFIDENTIAL"})

KIND_KEYWORDS: tuple[tuple[MomentKind, tuple[str, ...]], ...] = (
    (MomentKind.BREAKFAST, ("petit dejeuner", "petit dej", "breakfast", "brunch")),
    (MomentKind.LUNCH, ("dejeuner", "lunch")),
    (MomentKind.WORKSHOP, ("atelier", "workshop", "formation", "masterclass")),
    (MomentKind.TALK, ("talk", "conference", "conferences", "meetup", "table ronde")),
    (MomentKind.AFTERWORK, ("afterwork", "after work", "apero", "aperitif")),
    (MomentKind.SPORT, ("sport", "yoga", "running", "pilates")),
)

Source = bytes | Callable[[], bytes] | None


class FeedError(Exception):
    """A feed cannot be used; ``reason`` is a sentence for staff."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def N_(message: str) -> str:
    """Mark *message* for extraction; the staff page translates it."""
    return message


# What a community manager reads about a failed sync, by the start of FeedError's reason (the
# reason itself, technical, is shown beneath). Most specific patterns first.
PROBLEMS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r".* answered HTTP \d+$"),
        N_(
            "The calendar's server refused to send the feed. Check that the address is still "
            "valid: shared calendar links change when someone resets them."
        ),
    ),
    (
        re.compile(r".* did not answer within "),
        N_("The calendar's server did not answer in time. Vivant tries again at the next sync."),
    ),
    (
        re.compile(r"cannot reach "),
        N_(
            "The calendar's server cannot be reached (network down, wrong address or server "
            "stopped). Vivant tries again at the next sync."
        ),
    ),
    (
        re.compile(r"cannot read "),
        N_("The calendar cannot be read (missing file or no permission to read it)."),
    ),
    (
        re.compile(r"unsupported feed address "),
        N_("This calendar address is not supported: use an https or webcal link, or a file."),
    ),
    (
        re.compile(r"the feed (is larger than|has more than) "),
        N_("The calendar is too large to import: share a smaller calendar with Vivant."),
    ),
    (
        re.compile(r"the address returned a web page"),
        N_(
            "The address shows a web page, not a calendar: use the calendar's iCal (.ics) "
            "export link."
        ),
    ),
    (
        re.compile(r"(not an iCalendar feed|the feed is not valid iCalendar|the feed's dates)"),
        N_("The address does not give a valid iCal calendar."),
    ),
    (
        re.compile(r"(event |[A-Z]{4,} \S+: bad )"),
        N_(
            "One event of the calendar cannot be read. Correct it in the calendar; until then "
            "nothing is imported from this feed."
        ),
    ),
)
UNKNOWN_PROBLEM = N_("The calendar could not be synchronised.")


def staff_problem(reason: str) -> str:
    """The message id (English; translate it) explaining a feed's ``last_error`` to staff."""
    for pattern, message in PROBLEMS:
        if pattern.match(reason):
            return message
    return UNKNOWN_PROBLEM


@dataclass(frozen=True, slots=True)
class ParsedMoment:
    """One occurrence of a feed event, ready to become a moment (times in aware UTC)."""

    uid: str
    recurrence_key: str  # original start (UTC, basic ISO) of a recurring occurrence, else ""
    title: str
    kind: str
    room_id: str
    description: str
    starts_at: datetime
    ends_at: datetime
    tags: tuple[str, ...]
    host: str | None


@dataclass(frozen=True, slots=True)
class SyncReport:
    """What a sync did; ``error`` is set (and nothing changed) when the feed was unusable."""

    created: int = 0
    updated: int = 0
    cancelled: int = 0
    unchanged: int = 0
    error: str | None = None


# --- parsing -------------------------------------------------------------------------------


def parse_feed(
    data: bytes,
    site: SiteSettings,
    window_start: datetime,
    window_end: datetime,
    *,
    default_room: str | None = None,
    default_kind: str | None = None,
) -> list[ParsedMoment]:
    """Occurrences of the feed's events that overlap the window, or :class:`FeedError`."""
    try:
        return _parse_feed(data, site, window_start, window_end, default_room, default_kind)
    except FeedError:
        raise
    except Exception as exc:
        # icalendar and the expansion raise AttributeError, KeyError, IndexError, … on some
        # malformed feeds (found by tests/hub/test_fuzz_importers.py): a bad feed, not a crash.
        log.debug("calendar feed unreadable", exc_info=True)
        detail = _short(str(exc)) or type(exc).__name__
        raise FeedError(f"the feed is not valid iCalendar: {detail}") from exc


def _parse_feed(
    data: bytes,
    site: SiteSettings,
    window_start: datetime,
    window_end: datetime,
    default_room: str | None,
    default_kind: str | None,
) -> list[ParsedMoment]:
    if len(data) > MAX_FEED_BYTES:
        raise FeedError(f"the feed is larger than {MAX_FEED_BYTES // (1024 * 1024)} MiB")
    calendar = _read_calendar(data)
    zone = site.zone
    room_fallback = default_room or _fallback_room(site)
    recurring: set[str] = set()
    events = 0
    for component in calendar.walk():
        if component.errors:
            name, message = component.errors[0]
            raise FeedError(f"{component.name} {_uid_of(component)}: bad {name}: {message}")
        if component.name == "VEVENT":
            events += 1
            if "DTSTART" not in component:
                raise FeedError(f"event {_uid_of(component)} has no start (DTSTART)")
            if isinstance(component, Event) and _ends_before_start(component):
                raise FeedError(f"event {_uid_of(component)} ends before it starts")
            if {"RRULE", "RDATE", "RECURRENCE-ID"} & set(component):
                recurring.add(_uid_of(component))
            if _too_frequent(component):
                raise FeedError(
                    f"event {_uid_of(component)} repeats more than {MAX_PER_DAY} times a day"
                )
    if events > MAX_OCCURRENCES:
        raise FeedError(f"the feed has more than {MAX_OCCURRENCES} events")
    try:
        occurrences = recurring_ical_events.of(calendar).between(window_start, window_end)
    except (ValueError, TypeError, KeyError) as exc:
        raise FeedError(f"the feed's dates or recurrence rules cannot be read: {exc}") from exc
    if len(occurrences) > MAX_OCCURRENCES:
        raise FeedError(f"the feed has more than {MAX_OCCURRENCES} occurrences in the window")
    out: dict[tuple[str, str], ParsedMoment] = {}
    for occurrence in occurrences:
        if not isinstance(occurrence, Event) or _skipped(occurrence):
            continue
        parsed = _to_moment(occurrence, site, zone, recurring, room_fallback, default_kind)
        key = (parsed.uid, parsed.recurrence_key)
        if key in out:
            log.warning("feed event %s appears twice at %s: first kept", *key)
            continue
        out[key] = parsed
    return sorted(out.values(), key=lambda p: (p.starts_at, p.uid, p.recurrence_key))


def _read_calendar(data: bytes) -> Calendar:
    text = data.removeprefix(b"\xef\xbb\xbf").lstrip()
    if not text.upper().startswith(b"BEGIN:VCALENDAR"):
        if text[:15].lower().startswith((b"<!doctype", b"<html")):
            raise FeedError("the address returned a web page, not an iCalendar feed")
        raise FeedError("not an iCalendar feed (it does not start with BEGIN:VCALENDAR)")
    try:
        calendars = Calendar.from_ical(text, multiple=True)
    except (ValueError, UnicodeDecodeError) as exc:
        raise FeedError(f"the feed is not valid iCalendar: {_short(str(exc))}") from exc
    if len(calendars) != 1 or calendars[0].name != "VCALENDAR":
        raise FeedError("the feed is not valid iCalendar: it must hold one complete VCALENDAR")
    return calendars[0]


def _too_frequent(event: Component) -> bool:
    """Whether a recurrence rule fires more than :data:`MAX_PER_DAY` times a day.

    Expansion walks every occurrence from DTSTART on, before the window and past the occurrence
    limit: one ``FREQ=MINUTELY`` line costs minutes of CPU and gigabytes, ``SECONDLY`` more.
    A community moment is not repeated more often in one rule, so such a rule is refused up
    front (several a day are written as several events).
    """
    rules = event.get("RRULE")
    for rule in rules if isinstance(rules, list) else [rules] if rules is not None else []:
        try:
            freq = str(rule.get("FREQ", ["DAILY"])[0]).upper()
            interval = max(1, int(rule.get("INTERVAL", [1])[0]))
            per_day = _PER_DAY.get(freq, 1) / interval
            for part in ("BYHOUR", "BYMINUTE", "BYSECOND"):
                per_day *= max(1, len(rule.get(part) or []))
        except (AttributeError, IndexError, TypeError, ValueError):
            return False  # unreadable: the expansion refuses it with its own message
        if per_day > MAX_PER_DAY:
            return True
    return False


def _ends_before_start(event: Event) -> bool:
    """Whether DTEND precedes DTSTART (the expansion library would silently swap them)."""
    start, end = event.DTSTART, event.DTEND
    if start is None or end is None:
        return False
    try:
        return bool(end < start)
    except TypeError:  # a date against a datetime, or aware against naive: not comparable
        return False


def _skipped(event: Event) -> bool:
    status = str(event.get("STATUS", "")).upper()
    klass = str(event.get("CLASS", "")).upper()
    return status == "CANCELLED" or klass in PRIVATE_CLASSES


def _to_moment(
    event: Event,
    site: SiteSettings,
    zone: ZoneInfo,
    recurring: set[str],
    room_fallback: str,
    default_kind: str | None,
) -> ParsedMoment:
    uid = _uid_of(event)
    try:
        start_value = event.start
        end_value = event.end
    except Exception as exc:  # icalendar raises several types for missing or broken dates
        raise FeedError(f"event {uid}: {_short(str(exc))}") from exc
    starts_at = _utc(start_value, zone)
    ends_at = _utc(end_value, zone)
    if ends_at < starts_at:
        raise FeedError(f"event {uid} ends before it starts")
    if ends_at == starts_at:
        ends_at = starts_at + (
            UNTIMED_LENGTH if isinstance(start_value, datetime) else timedelta(days=1)
        )
    key = ""
    if uid in recurring:
        rid = event.get("RECURRENCE-ID")
        original = _utc(rid.dt, zone) if rid is not None else starts_at
        key = original.strftime("%Y%m%dT%H%M%SZ")
    title = " ".join(str(event.get("SUMMARY", "")).split())[:TITLE_MAX] or "Moment"
    categories = [str(c) for c in event.categories]
    return ParsedMoment(
        uid=uid,
        recurrence_key=key,
        title=title,
        kind=_declared_kind(event) or infer_kind(title, categories, default_kind),
        room_id=match_room(site, str(event.get("LOCATION", ""))) or room_fallback,
        description=str(event.get("DESCRIPTION", "")).strip()[:DESCRIPTION_MAX],
        starts_at=starts_at,
        ends_at=ends_at,
        tags=tuple(_tags(categories)),
        host=_host(event),
    )


def _declared_kind(event: Event) -> str | None:
    """The kind Vivant wrote in its own export (``X-VIVANT-KIND``), so a round trip keeps it."""
    kind = str(event.get("X-VIVANT-KIND", "")).lower()
    return kind if kind in {k.value for k in MomentKind} else None


def _uid_of(component: Component) -> str:
    """The UID, or a stable stand-in derived from the summary and start (some exports omit it)."""
    uid = component.get("UID")
    if uid:
        return str(uid)[:255]
    start = component.get("DTSTART")
    raw = f"{component.get('SUMMARY', '')}|{start.to_ical().decode() if start is not None else ''}"
    return "nouid-" + hashlib.sha256(raw.encode()).hexdigest()[:32]


def _utc(value: date | datetime, zone: ZoneInfo) -> datetime:
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=zone)
        return aware.astimezone(UTC)
    return datetime.combine(value, time.min, tzinfo=zone).astimezone(UTC)


def _tags(categories: list[str]) -> list[str]:
    clean = [c for c in categories if 0 < len(c.strip()) <= TAG_MAX]
    return normalize_tags(clean[: TAGS_MAX * 2])[:TAGS_MAX]


def _host(event: Event) -> str | None:
    organizer = event.get("ORGANIZER")
    if organizer is None:
        return None
    name = str(getattr(organizer, "params", {}).get("CN", "")).strip()
    return name[:HOST_MAX] or None


def _fold(text: str) -> str:
    """Lower case, accents removed, anything but letters and digits turned into one space."""
    plain = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in plain if not unicodedata.combining(c)).lower()
    return " ".join(re.sub(r"[^a-z0-9]+", " ", plain).split())


def _has_words(haystack: str, needle: str) -> bool:
    return f" {needle} " in f" {haystack} "


def infer_kind(title: str, categories: list[str], default_kind: str | None = None) -> str:
    """The moment kind that the categories (first) or the title name, else the default."""
    for text in (" | ".join(categories), title):
        folded = _fold(text)
        for kind, words in KIND_KEYWORDS:
            if any(_has_words(folded, word) for word in words):
                return kind.value
    return default_kind or MomentKind.OTHER.value


def match_room(site: SiteSettings, location: str) -> str | None:
    """The room of *site* that an event LOCATION names, if any."""
    folded = _fold(location)
    if not folded:
        return None
    best: tuple[int, str] | None = None
    for room in site.rooms:
        names = {_fold(room.id), _fold(room.name)}
        if folded in names:
            return room.id
        for name in names:
            if name and _has_words(folded, name) and (best is None or len(name) > best[0]):
                best = (len(name), room.id)
    return best[1] if best else None


def _fallback_room(site: SiteSettings) -> str:
    community = [r.id for r in site.rooms if r.kind == "community"]
    return community[0] if community else site.rooms[0].id


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- fetching ------------------------------------------------------------------------------


def shown_source(url_or_path: str) -> str:
    """How a feed source is shown to staff and in logs: no path or token of a URL."""
    parts = urlsplit(url_or_path)
    if parts.scheme in {"http", "https", "webcal"}:
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{parts.hostname or ''}{port}/…"
    return url_or_path


def fetch_feed(
    url_or_path: str, *, timeout: float = FETCH_TIMEOUT_S, max_bytes: int = MAX_FEED_BYTES
) -> bytes:
    """The bytes of a feed from an http(s)/webcal URL or a file path, or :class:`FeedError`."""
    shown = shown_source(url_or_path)
    parts = urlsplit(url_or_path)
    if parts.scheme == "webcal":
        url_or_path = "https" + url_or_path[len("webcal") :]
        parts = urlsplit(url_or_path)
    if parts.scheme in {"http", "https"}:
        headers = {"User-Agent": "Vivant/calendar"}
        request = urllib.request.Request(url_or_path, headers=headers)  # noqa: S310 (checked)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                data: bytes = response.read(max_bytes + 1)
        except urllib.error.HTTPError as exc:
            exc.close()  # the error is also the response: free its connection now
            raise FeedError(f"{shown} answered HTTP {exc.code}") from exc
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise FeedError(f"{shown} did not answer within {timeout:g} s") from exc
            raise FeedError(f"cannot reach {shown}: {exc.reason}") from exc
        except TimeoutError as exc:
            raise FeedError(f"{shown} did not answer within {timeout:g} s") from exc
        except OSError as exc:
            raise FeedError(f"cannot read {shown}: {exc}") from exc
    elif parts.scheme in {"", "file"} or len(parts.scheme) == 1:  # a path (C: on Windows)
        path = Path(parts.path if parts.scheme == "file" else url_or_path)
        try:
            with path.open("rb") as file:
                data = file.read(max_bytes + 1)
        except OSError as exc:
            raise FeedError(f"cannot read {path}: {exc.strerror or exc}") from exc
    else:
        raise FeedError(f"unsupported feed address {shown} (use https, webcal or a file)")
    if len(data) > max_bytes:
        raise FeedError(f"the feed is larger than {max_bytes // (1024 * 1024)} MiB")
    return data


# --- syncing -------------------------------------------------------------------------------


def sync_feed(
    session: Session,
    feed: CalendarFeed,
    site: SiteSettings,
    source: Source = None,
    *,
    now: datetime,
    past: timedelta = DEFAULT_PAST,
    horizon: timedelta = DEFAULT_HORIZON,
) -> SyncReport:
    """Bring the feed's moments in line with the feed (bytes, a fetcher, or its address)."""
    if feed.site_id != site.id:
        raise ValueError(f"feed {feed.id} belongs to site {feed.site_id!r}, not {site.id!r}")
    window_start, window_end = now - past, now + horizon
    feed.last_sync_at = now
    try:
        if source is None:
            data = fetch_feed(feed.url_or_path)
        elif callable(source):
            data = source()
        else:
            data = source
        parsed = parse_feed(
            data,
            site,
            window_start,
            window_end,
            default_room=feed.room_id,
            default_kind=feed.default_kind,
        )
    except FeedError as exc:
        feed.last_error = exc.reason
        log.warning("calendar feed %s of %s: %s", feed.id, site.id, exc.reason)
        return SyncReport(error=exc.reason)

    existing = {
        (row.uid or "", row.recurrence_key or ""): row
        for row in session.scalars(select(Moment).where(Moment.feed_id == feed.id))
    }
    created = updated = unchanged = cancelled = 0
    for item in parsed:
        row = existing.pop((item.uid, item.recurrence_key), None)
        if row is None:
            session.add(_new_row(feed, site, item, now))
            created += 1
        elif _apply(row, item, now):
            updated += 1
        else:
            unchanged += 1
    for row in existing.values():
        in_window = window_start <= row.starts_at < window_end
        if in_window and row.cancelled_at is None:
            row.cancelled_at = now
            row.cancelled_by = CANCELLED_BY_FEED
            row.updated_at = now
            cancelled += 1
    session.flush()
    feed.last_error = None
    feed.last_ok_at = now
    report = SyncReport(created, updated, cancelled, unchanged)
    log.info(
        "calendar feed %s of %s: %d created, %d updated, %d cancelled, %d unchanged",
        feed.id,
        site.id,
        created,
        updated,
        cancelled,
        unchanged,
    )
    return report


def _new_row(feed: CalendarFeed, site: SiteSettings, item: ParsedMoment, now: datetime) -> Moment:
    return Moment(
        site_id=site.id,
        room_id=item.room_id,
        title=item.title,
        kind=item.kind,
        description=item.description,
        starts_at=item.starts_at,
        ends_at=item.ends_at,
        tags=list(item.tags),
        host=item.host,
        feed_id=feed.id,
        uid=item.uid,
        recurrence_key=item.recurrence_key,
        created_at=now,
        updated_at=now,
    )


def _apply(row: Moment, item: ParsedMoment, now: datetime) -> bool:
    """Copy the feed's values onto *row*; whether anything changed."""
    values: dict[str, object] = {
        "title": item.title,
        "kind": item.kind,
        "room_id": item.room_id,
        "description": item.description,
        "starts_at": item.starts_at,
        "ends_at": item.ends_at,
        "tags": list(item.tags),
        "host": item.host,
    }
    changed = False
    for name, value in values.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed = True
    if row.cancelled_at is not None and row.cancelled_by == CANCELLED_BY_FEED:
        row.cancelled_at = None
        row.cancelled_by = None
        changed = True
    if changed:
        row.updated_at = now
    return changed


# --- exporting -----------------------------------------------------------------------------


def export_site(session: Session, site: SiteSettings, now: datetime) -> bytes:
    """An iCal feed of the site's moments not over yet and not cancelled."""
    zone = site.zone
    calendar = Calendar()
    calendar.add("prodid", "-//Vivant//community moments//FR")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", site.name)
    calendar.add("x-wr-timezone", site.timezone)
    rows = session.scalars(
        select(Moment)
        .where(Moment.site_id == site.id, Moment.cancelled_at.is_(None), Moment.ends_at > now)
        .order_by(Moment.starts_at, Moment.id)
    )
    for row in rows:
        event = Event()
        single_import = row.uid is not None and not row.recurrence_key
        event.add("uid", row.uid if single_import else f"moment-{row.id}@vivant")
        event.add("dtstamp", now.astimezone(UTC))
        event.add("dtstart", row.starts_at.astimezone(zone))
        event.add("dtend", row.ends_at.astimezone(zone))
        event.add("summary", row.title)
        event.add("x-vivant-kind", row.kind)
        room = site.room(row.room_id)
        event.add("location", room.name if room else row.room_id)
        if row.description:
            event.add("description", row.description)
        if row.tags:
            event.add("categories", list(row.tags))
        if row.updated_at is not None:
            event.add("last-modified", row.updated_at.astimezone(UTC))
        calendar.add_component(event)
    calendar.add_missing_timezones()
    feed: bytes = calendar.to_ical()
    return feed
