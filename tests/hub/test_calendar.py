"""iCal import, sync and export: real-looking feeds, on SQLite and PostgreSQL, fixed clock."""

from __future__ import annotations

import threading
import time as wall
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from hub.calendar import (
    FeedError,
    SyncReport,
    export_site,
    fetch_feed,
    infer_kind,
    match_room,
    parse_feed,
    staff_problem,
    sync_feed,
)
from hub.config import SiteSettings
from hub.db.models import CalendarFeed, Moment
from hub.moments import cancel_moment, todays_moments
from tests.support.hub_server import hub_config

DATA = Path(__file__).parent / "data" / "ical"
GOOGLE = DATA / "google_ekilibre.ics"
OUTLOOK = DATA / "outlook_ekilibre.ics"
MALFORMED = DATA / "malformed.ics"
BREAKFAST_UID = "5k2p9q8r7s6t5u4v3w2x1y0z@google.com"
NOW = datetime(2026, 3, 18, 11, 0, tzinfo=UTC)  # a Wednesday, before the spring DST change


@pytest.fixture
def site() -> SiteSettings:
    """The test site (the same as in ``site_config``), for tests that need no database."""
    return hub_config(
        "mqtt://127.0.0.1:1883", "vivant/v1", "sqlite://", timezone="Europe/Paris"
    ).sites[0]


def new_feed(sessions: sessionmaker[Session], site: SiteSettings, source: str) -> int:
    with sessions.begin() as session:
        feed = CalendarFeed(site_id=site.id, room_id="cuisine", url_or_path=source)
        session.add(feed)
        session.flush()
        return feed.id


def sync(
    sessions: sessionmaker[Session],
    site: SiteSettings,
    feed_id: int,
    data: bytes | None = None,
    now: datetime = NOW,
) -> SyncReport:
    with sessions.begin() as session:
        feed = session.get(CalendarFeed, feed_id)
        assert feed is not None
        return sync_feed(session, feed, site, data, now=now)


def moments(sessions: sessionmaker[Session], *, cancelled: bool = False) -> list[Moment]:
    with sessions() as session:
        query = select(Moment).order_by(Moment.starts_at, Moment.id)
        if not cancelled:
            query = query.where(Moment.cancelled_at.is_(None))
        return list(session.scalars(query))


def local(moment: Moment, site: SiteSettings) -> str:
    return moment.starts_at.astimezone(site.zone).strftime("%a %Y-%m-%d %H:%M")


def count_rows(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(Moment)) or 0


# --- parsing -------------------------------------------------------------------------------


def test_weekly_event_keeps_its_local_time_across_both_dst_changes(site: SiteSettings) -> None:
    parsed = parse_feed(
        GOOGLE.read_bytes(),
        site,
        datetime(2026, 3, 20, tzinfo=UTC),
        datetime(2026, 11, 5, tzinfo=UTC),
    )
    mondays = [
        p for p in parsed if p.uid == BREAKFAST_UID and p.recurrence_key != "20260413T073000Z"
    ]
    around = {p.starts_at.astimezone(site.zone).date().isoformat(): p for p in mondays}
    # Last Sunday of March (29th) and of October (25th) 2026.
    for day in ("2026-03-23", "2026-03-30", "2026-10-19", "2026-10-26"):
        start = around[day].starts_at.astimezone(site.zone)
        assert (start.hour, start.minute) == (9, 30), day
    assert around["2026-03-23"].starts_at.hour == 8  # 08:30 UTC in winter
    assert around["2026-03-30"].starts_at.hour == 7  # 07:30 UTC in summer
    assert around["2026-10-26"].starts_at.hour == 8
    assert all(p.ends_at - p.starts_at == timedelta(hours=1) for p in mondays)


def test_exdate_removes_an_occurrence_and_recurrence_id_moves_one(site: SiteSettings) -> None:
    parsed = parse_feed(
        GOOGLE.read_bytes(),
        site,
        datetime(2026, 4, 1, tzinfo=UTC),
        datetime(2026, 4, 21, tzinfo=UTC),
    )
    breakfasts = [p for p in parsed if p.uid == BREAKFAST_UID]
    days = [p.starts_at.astimezone(site.zone).strftime("%a %d %H:%M") for p in breakfasts]
    assert days == ["Tue 14 10:00", "Mon 20 09:30"]  # 6 April excluded, 13 moved to the 14th
    moved = breakfasts[0]
    assert moved.recurrence_key == "20260413T073000Z"  # identity stays the original start
    assert moved.room_id == "open-space"
    assert "mardi" in moved.description


def test_all_day_event_is_the_whole_local_day(site: SiteSettings) -> None:
    parsed = parse_feed(
        GOOGLE.read_bytes(),
        site,
        datetime(2026, 3, 31, tzinfo=UTC),
        datetime(2026, 4, 3, tzinfo=UTC),
    )
    (day,) = [p for p in parsed if p.uid == "allday-portes-ouvertes@google.com"]
    assert day.starts_at == datetime(2026, 3, 31, 22, 0, tzinfo=UTC)  # midnight in Paris (CEST)
    assert day.ends_at == datetime(2026, 4, 1, 22, 0, tzinfo=UTC)
    assert day.recurrence_key == ""
    assert day.kind == "other"


def test_utc_event_room_from_an_address_and_categories_as_tags(site: SiteSettings) -> None:
    parsed = parse_feed(
        GOOGLE.read_bytes(),
        site,
        datetime(2026, 3, 19, tzinfo=UTC),
        datetime(2026, 3, 21, tzinfo=UTC),
    )
    (workshop,) = [p for p in parsed if p.title == "Atelier LinkedIn"]
    assert workshop.starts_at == datetime(2026, 3, 20, 13, 0, tzinfo=UTC)
    assert workshop.kind == "workshop"
    assert workshop.room_id == "cuisine"
    assert workshop.tags == ("réseau", "marketing")


def test_private_events_are_not_imported(site: SiteSettings) -> None:
    parsed = parse_feed(
        GOOGLE.read_bytes(),
        site,
        datetime(2026, 3, 1, tzinfo=UTC),
        datetime(2026, 5, 1, tzinfo=UTC),
    )
    assert all("banquier" not in p.title for p in parsed)


def test_floating_times_are_read_in_the_site_time_zone(site: SiteSettings) -> None:
    feed = (
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//OfficeRnD//Events//EN\r\n"
        b"BEGIN:VEVENT\r\nUID:ord-77\r\nDTSTART:20260701T183000\r\nDTEND:20260701T200000\r\n"
        b"SUMMARY:Ap\xc3\xa9ro de l'\xc3\xa9t\xc3\xa9\r\nLOCATION:open space\r\n"
        b"END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    (apero,) = parse_feed(
        feed, site, datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 8, 1, tzinfo=UTC)
    )
    assert apero.starts_at == datetime(2026, 7, 1, 16, 30, tzinfo=UTC)  # 18:30 CEST
    assert apero.kind == "afterwork"
    assert apero.room_id == "open-space"


def test_outlook_export_with_windows_time_zone_names(site: SiteSettings) -> None:
    parsed = parse_feed(
        OUTLOOK.read_bytes(),
        site,
        datetime(2026, 3, 18, tzinfo=UTC),
        datetime(2026, 4, 12, tzinfo=UTC),
    )
    lunch = next(p for p in parsed if p.title == "Déjeuner partagé")
    assert lunch.starts_at == datetime(2026, 3, 24, 11, 30, tzinfo=UTC)
    assert (lunch.kind, lunch.room_id, lunch.host) == ("lunch", "cuisine", "Camille Martin")
    assert lunch.tags == ("convivialité",)
    assert lunch.uid.startswith("040000008200E00074C5B7101A82E008")
    assert " " not in lunch.uid
    yoga = [
        p.starts_at.astimezone(site.zone).strftime("%d/%m %H:%M")
        for p in parsed
        if p.kind == "sport"
    ]
    assert yoga == ["19/03 08:00", "26/03 08:00", "09/04 08:00"]  # 2 April excluded, DST crossed


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "not an iCalendar feed"),
        (b"<!DOCTYPE html><html><body>Sign in</body></html>", "web page"),
        (b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\n", "not valid iCalendar"),
        (MALFORMED.read_bytes(), "bad DTSTART"),
        (
            b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:y\r\nSUMMARY:no start\r\n"
            b"END:VEVENT\r\nEND:VCALENDAR\r\n",
            "event y has no start",
        ),
        (
            b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:z\r\nDTSTART:20260320T100000Z\r\n"
            b"DTEND:20260320T090000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
            "event z ends before it starts",
        ),
        (b"BEGIN:VCALENDAR\r\n" + b"X" * (6 * 1024 * 1024), "larger than 5 MiB"),
        # Expanded from 1970 on, these would take minutes of CPU (found by the fuzzing).
        *(
            (
                b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:w\r\nDTSTART:19700101T000000Z\r\n"
                b"RRULE:" + rule + b"\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
                "event w repeats more than 4 times a day",
            )
            for rule in (
                b"FREQ=SECONDLY",
                b"FREQ=MINUTELY;INTERVAL=30",
                b"FREQ=HOURLY",
                b"FREQ=HOURLY;INTERVAL=5",
                b"FREQ=DAILY;BYHOUR=9,12;BYMINUTE=0,30,45",
            )
        ),
    ],
)
def test_malformed_feeds_raise_a_clear_feed_error(
    site: SiteSettings, data: bytes, reason: str
) -> None:
    with pytest.raises(FeedError, match=reason):
        parse_feed(data, site, datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 5, 1, tzinfo=UTC))


def test_kind_and_room_inference(site: SiteSettings) -> None:
    assert infer_kind("PETIT DÉJ' du lundi", []) == "breakfast"
    assert infer_kind("Déjeuner", []) == "lunch"
    assert infer_kind("Rencontre", ["Conférence"]) == "talk"
    assert infer_kind("Course du midi", [], "sport") == "sport"
    assert infer_kind("Réunion", []) == "other"
    assert match_room(site, "  CUISINE ") == "cuisine"
    assert match_room(site, "open-space") == "open-space"
    assert match_room(site, "Accueil, 12 rue des Lilas") == "accueil"
    assert match_room(site, "Salle Jupiter") is None


# --- syncing -------------------------------------------------------------------------------


def test_sync_imports_then_resync_changes_nothing(
    sessions: sessionmaker[Session], site: SiteSettings
) -> None:
    feed_id = new_feed(sessions, site, str(GOOGLE))
    first = sync(sessions, site, feed_id)  # the file path, read by the sync itself
    assert first.error is None
    assert first.created > 20
    assert first.updated == first.cancelled == 0
    rows = count_rows(sessions)
    again = sync(sessions, site, feed_id)
    assert again == SyncReport(unchanged=first.created)
    assert count_rows(sessions) == rows
    with sessions() as session:
        feed = session.get(CalendarFeed, feed_id)
        assert feed is not None
        assert (feed.last_ok_at, feed.last_error) == (NOW, None)
        march_20 = todays_moments(session, site, datetime(2026, 3, 20, 9, tzinfo=UTC))
    assert [m.title for m in march_20] == ["Atelier LinkedIn"]


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(times=st.integers(min_value=1, max_value=4), days_later=st.integers(0, 3))
def test_resyncing_the_same_feed_never_changes_the_row_count(
    sessions: sessionmaker[Session], site: SiteSettings, times: int, days_later: int
) -> None:
    data = OUTLOOK.read_bytes()
    with sessions() as session:
        feed_id = session.scalar(select(CalendarFeed.id))
    if feed_id is None:
        feed_id = new_feed(sessions, site, "outlook.ics")
        sync(sessions, site, feed_id, data)
    rows = count_rows(sessions)
    for _ in range(times):
        report = sync(sessions, site, feed_id, data, NOW + timedelta(days=days_later))
        assert report.created == report.updated == report.cancelled == 0
    assert count_rows(sessions) == rows


def test_upstream_edit_updates_deletion_cancels_and_return_restores(
    sessions: sessionmaker[Session], site: SiteSettings
) -> None:
    feed_id = new_feed(sessions, site, "google.ics")
    original = GOOGLE.read_bytes()
    sync(sessions, site, feed_id, original)
    (workshop,) = [m for m in moments(sessions) if m.title == "Atelier LinkedIn"]

    edited = original.replace(b"DTSTART:20260320T130000Z", b"DTSTART:20260320T120000Z").replace(
        b"SUMMARY:Atelier LinkedIn", b"SUMMARY:Atelier LinkedIn (complet)"
    )
    report = sync(sessions, site, feed_id, edited)
    assert (report.created, report.updated, report.cancelled) == (0, 1, 0)
    (row,) = [m for m in moments(sessions) if m.id == workshop.id]
    assert row.title == "Atelier LinkedIn (complet)"
    assert row.starts_at == datetime(2026, 3, 20, 12, 0, tzinfo=UTC)

    without = edited.replace(b"UID:0a1b2c3d4e5f6g7h8i9j@google.com", b"UID:other@google.com")
    report = sync(sessions, site, feed_id, without)
    assert (report.created, report.cancelled) == (1, 1)
    gone = next(m for m in moments(sessions, cancelled=True) if m.id == workshop.id)
    assert gone.cancelled_at == NOW
    assert gone.cancelled_by == "feed"

    report = sync(sessions, site, feed_id, edited)
    assert (report.created, report.updated, report.cancelled) == (0, 1, 1)
    assert workshop.id in {m.id for m in moments(sessions)}


def test_an_occurrence_removed_upstream_is_cancelled_not_deleted(
    sessions: sessionmaker[Session], site: SiteSettings
) -> None:
    feed_id = new_feed(sessions, site, "google.ics")
    original = GOOGLE.read_bytes()
    sync(sessions, site, feed_id, original)
    rows = count_rows(sessions)
    exdate = b"EXDATE;TZID=Europe/Paris:20260406T093000"
    fewer = original.replace(exdate, exdate + b",20260420T093000")
    report = sync(sessions, site, feed_id, fewer)
    assert (report.created, report.updated, report.cancelled) == (0, 0, 1)
    assert count_rows(sessions) == rows
    (cancelled,) = [m for m in moments(sessions, cancelled=True) if m.cancelled_at]
    assert local(cancelled, site) == "Mon 2026-04-20 09:30"


def test_a_moment_cancelled_by_staff_stays_cancelled(
    sessions: sessionmaker[Session], site: SiteSettings
) -> None:
    feed_id = new_feed(sessions, site, "google.ics")
    sync(sessions, site, feed_id, GOOGLE.read_bytes())
    (workshop,) = [m for m in moments(sessions) if m.title == "Atelier LinkedIn"]
    with sessions.begin() as session:
        cancel_moment(session, site, workshop.id, now=NOW)
    report = sync(sessions, site, feed_id, GOOGLE.read_bytes())
    assert report.updated == 0
    assert workshop.id not in {m.id for m in moments(sessions)}


def test_a_malformed_feed_keeps_the_moments_and_tells_staff(
    sessions: sessionmaker[Session], site: SiteSettings
) -> None:
    feed_id = new_feed(sessions, site, "google.ics")
    sync(sessions, site, feed_id, GOOGLE.read_bytes())
    before = [
        (m.id, m.title, m.starts_at, m.cancelled_at) for m in moments(sessions, cancelled=True)
    ]
    later = NOW + timedelta(hours=1)
    report = sync(sessions, site, feed_id, MALFORMED.read_bytes(), later)
    assert report.error is not None
    assert "DTSTART" in report.error
    after = [
        (m.id, m.title, m.starts_at, m.cancelled_at) for m in moments(sessions, cancelled=True)
    ]
    assert after == before
    with sessions() as session:
        feed = session.get(CalendarFeed, feed_id)
        assert feed is not None
        assert feed.last_error == report.error
        assert (feed.last_sync_at, feed.last_ok_at) == (later, NOW)
    assert sync(sessions, site, feed_id, GOOGLE.read_bytes(), later).error is None
    with sessions() as session:
        feed = session.get(CalendarFeed, feed_id)
        assert feed is not None
        assert feed.last_error is None
        assert feed.last_ok_at == later


def test_export_then_reimport_gives_the_same_moments(
    sessions: sessionmaker[Session], site: SiteSettings
) -> None:
    feed_id = new_feed(sessions, site, "outlook.ics")
    sync(sessions, site, feed_id, OUTLOOK.read_bytes())
    with sessions() as session:
        exported = export_site(session, site, NOW)
    assert b"BEGIN:VTIMEZONE" in exported
    assert b"TZID=Europe/Paris" in exported
    assert b"moment-" in exported
    assert b"LOCATION:Cuisine" in exported

    upcoming = [m for m in moments(sessions) if m.ends_at > NOW]
    parsed = parse_feed(exported, site, NOW - timedelta(days=1), NOW + timedelta(days=400))
    assert sorted(
        [(m.title, m.kind, m.room_id, m.starts_at, m.ends_at, tuple(m.tags)) for m in upcoming]
    ) == sorted([(p.title, p.kind, p.room_id, p.starts_at, p.ends_at, p.tags) for p in parsed])

    copy_id = new_feed(sessions, site, "vivant-export.ics")
    assert sync(sessions, site, copy_id, exported).created == len(upcoming)
    assert sync(sessions, site, copy_id, exported).unchanged == len(upcoming)


# --- fetching over HTTP --------------------------------------------------------------------


class FeedHandler(BaseHTTPRequestHandler):
    """Serves the Google fixture, a server error, or an answer too slow to wait for."""

    def do_GET(self) -> None:
        if self.path == "/calendar/ical/secret-token/basic.ics":
            body = GOOGLE.read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "text/calendar; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.path == "/slow.ics":
            wall.sleep(1.0)
            self.send_response(200)
            self.end_headers()
        else:
            self.send_error(500)

    def log_message(self, format: str, *args: object) -> None:
        """Keep test output quiet."""


@pytest.fixture
def feed_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FeedHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_sync_from_a_url(
    sessions: sessionmaker[Session], site: SiteSettings, feed_server: str
) -> None:
    feed_id = new_feed(sessions, site, feed_server + "/calendar/ical/secret-token/basic.ics")
    report = sync(sessions, site, feed_id)
    assert report.error is None
    assert report.created > 20


def test_a_failing_url_keeps_the_moments_and_hides_the_token(
    sessions: sessionmaker[Session], site: SiteSettings, feed_server: str
) -> None:
    feed_id = new_feed(sessions, site, feed_server + "/private-token-123/basic.ics")
    sync(sessions, site, feed_id, GOOGLE.read_bytes())
    rows = len(moments(sessions))
    report = sync(sessions, site, feed_id)
    assert report.error is not None
    assert "HTTP 500" in report.error
    assert "token" not in report.error
    assert len(moments(sessions)) == rows


def test_a_url_that_does_not_answer_in_time(feed_server: str) -> None:
    with pytest.raises(FeedError, match=r"did not answer within 0\.2 s"):
        fetch_feed(feed_server + "/slow.ics", timeout=0.2)


def test_unreachable_and_missing_sources() -> None:
    with pytest.raises(FeedError, match="cannot reach"):
        fetch_feed("http://127.0.0.1:9/feed.ics", timeout=1)
    with pytest.raises(FeedError, match="cannot read"):
        fetch_feed("/nonexistent/feed.ics")
    with pytest.raises(FeedError, match="unsupported"):
        fetch_feed("ftp://example.invalid/feed.ics")


def test_an_event_without_uid_gets_a_stable_identity(site: SiteSettings) -> None:
    feed = (
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nDTSTART:20260320T100000Z\r\n"
        b"SUMMARY:Sans UID\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    window = (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC))
    (first,) = parse_feed(feed, site, *window)
    (second,) = parse_feed(feed, site, *window)
    assert first.uid == second.uid
    assert first.uid.startswith("nouid-")
    assert first.ends_at - first.starts_at == timedelta(hours=1)  # no DTEND: one hour


def feed_error(fetch: Callable[[], object]) -> str:
    with pytest.raises(FeedError) as caught:
        fetch()
    return caught.value.reason


def test_every_feed_error_gets_words_for_staff(site: SiteSettings, feed_server: str) -> None:
    window = (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 5, 1, tzinfo=UTC))

    def parsed(data: bytes) -> Callable[[], object]:
        return lambda: parse_feed(data, site, *window)

    cases = {
        "The calendar's server refused to send the feed.": lambda: fetch_feed(
            feed_server + "/gone.ics"
        ),
        "The calendar's server did not answer in time.": lambda: fetch_feed(
            feed_server + "/slow.ics", timeout=0.2
        ),
        "The calendar's server cannot be reached": lambda: fetch_feed(
            "http://127.0.0.1:9/feed.ics", timeout=1
        ),
        "The calendar cannot be read": lambda: fetch_feed("/nonexistent/agenda.ics"),
        "This calendar address is not supported": lambda: fetch_feed("ftp://example.fr/a.ics"),
        "The calendar is too large": parsed(b"BEGIN:VCALENDAR\r\n" + b"X" * (6 * 1024 * 1024)),
        "The address shows a web page": parsed(b"<!DOCTYPE html><html>Sign in</html>"),
        "The address does not give a valid iCal calendar.": parsed(b"BEGIN:VCALENDAR\r\n"),
        "One event of the calendar cannot be read.": parsed(MALFORMED.read_bytes()),
    }
    for problem, fetch in cases.items():
        reason = feed_error(fetch)
        assert staff_problem(reason).startswith(problem), reason
    assert staff_problem("something new") == "The calendar could not be synchronised."
