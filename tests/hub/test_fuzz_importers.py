"""Fuzzing what the hub imports from outside: ESPresense and Theengs Gateway messages, and iCal
feeds (parse, then sync into the database).

Properties: a third-party message gives a sighting, ``None`` (not for us) or :class:`Rejected`
with a reason and a message free of the input; a feed gives moments or :class:`FeedError` with a
sentence for staff, and a sync never raises: it records the error and changes nothing.

Sizes: see :mod:`tests.support.fuzzing` (a sample here; ``./run fuzz`` for the long run).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from hub.calendar import FeedError, ParsedMoment, SyncReport, parse_feed, sync_feed
from hub.config import SiteSettings
from hub.db.engine import make_engine, make_sessionmaker
from hub.db.migrate import upgrade
from hub.db.models import CalendarFeed, Moment
from hub.sites import sync_sites
from hub.thirdparty import (
    AnonymousTally,
    EspresenseMapping,
    TheengsMapping,
    ThirdPartySettings,
    ThirdPartySighting,
    parse_espresense,
    parse_theengs,
)
from tests.support.fuzzing import (
    CANARY,
    attempt,
    deep_nesting,
    fuzz,
    junk,
    leaks,
    mutated,
    scaled,
    wrong_json,
)
from tests.support.hub_server import hub_config
from vivant.wire.errors import Rejected, RejectReason

# -- ESPresense and Theengs Gateway ---------------------------------------------------------------

NOW_MS = 1_767_225_600_000
SETTINGS = ThirdPartySettings(
    espresense=[EspresenseMapping(espresense_room="kitchen", site="ekilibre", room="cuisine")],
    theengs=[TheengsMapping(site="ekilibre", room="open-space")],
    max_distance_m=8,
)
ENROLLED = frozenset({"iBeacon:e2c56db5-dffb-48d2-b060-d0f5a71096e0-100-7", "mac:d0b5c2a1f3e4"})
ESPRESENSE_SEEDS: list[dict[str, Any]] = [
    {"mac": "d0b5c2a1f3e4", "id": "iBeacon:E2C56DB5-DFFB-48D2-B060-D0F5A71096E0-100-7",
     "idType": 180, "rssi@1m": -59, "rssi": -71, "raw": 3.98, "distance": 2.81, "var": 0.1,
     "close": False, "int": 1180},
    {"id": "irk:0123456789abcdef0123456789abcdef", "rssi": -80, "distance": 4.2},
    {"id": "apple:1005:9-26", "name": "Galaxy " + CANARY, "rssi": -65.5},
]  # fmt: skip
THEENGS_SEEDS: list[dict[str, Any]] = [
    {"id": "D0:B5:C2:A1:F3:E4", "rssi": -70, "brand": "GENERIC", "model": "iBeacon",
     "model_id": "IBEACON", "mfid": "4c00", "uuid": "e2c56db5dffb48d2b060d0f5a71096e0",
     "major": 100, "minor": 7, "txpower": -59},
    {"id": "AA:BB:CC:DD:EE:FF", "rssi": -88, "name": CANARY, "distance": 3.5},
    {"id": "AA:BB:CC:DD:EE:FF", "presence": "absent"},
]  # fmt: skip
PARSERS = {
    "espresense": (parse_espresense, "espresense/devices/{id}/kitchen", ESPRESENSE_SEEDS),
    "theengs": (parse_theengs, "home/TheengsGateway/BTtoMQTT/{id}", THEENGS_SEEDS),
}
DEVICE_IDS = st.one_of(
    st.sampled_from(["d0b5c2a1f3e4", "iBeacon:x-1-2", "AABBCCDDEEFF", "irk:a", ""]),
    st.text(max_size=30),
)


def check_sighting(parser: str, topic: str, raw: bytes) -> None:
    parse, _, _ = PARSERS[parser]
    tally = AnonymousTally(SETTINGS.rooms(), window_s=60)
    result = attempt(
        lambda: parse(
            topic, raw, SETTINGS, enrolled=ENROLLED, ts_ms=NOW_MS, pseudonyms=tally
        ),
        Rejected,
    )  # fmt: skip
    if isinstance(result, Rejected):
        assert isinstance(result.reason, RejectReason)
        assert result.detail.strip()
        assert not leaks(str(result), raw)
        return
    if result is None:
        return
    assert isinstance(result, ThirdPartySighting)
    assert (result.site, result.room) in SETTINGS.rooms()
    assert -127 <= result.rssi <= 20
    if result.tag is None:  # an unknown device leaves only as a count
        assert result.anonymous == 1
        tally.add(result)
    else:
        assert result.tag in ENROLLED
    assert CANARY not in repr(result), "a device's name or address is never kept"


@pytest.mark.parametrize("parser", sorted(PARSERS))
@fuzz
@given(raw=st.one_of(junk(), deep_nesting()), device=DEVICE_IDS)
def test_thirdparty_generated_bytes(parser: str, raw: bytes, device: str) -> None:
    check_sighting(parser, PARSERS[parser][1].format(id=device), raw)


@pytest.mark.parametrize("parser", sorted(PARSERS))
@fuzz
@given(data=st.data(), device=DEVICE_IDS)
def test_thirdparty_mutated_messages(parser: str, data: st.DataObject, device: str) -> None:
    seeds = [json.dumps(s).encode() for s in PARSERS[parser][2]]
    check_sighting(parser, PARSERS[parser][1].format(id=device), data.draw(mutated(seeds)))


@pytest.mark.parametrize("parser", sorted(PARSERS))
@fuzz
@given(data=st.data(), device=DEVICE_IDS)
def test_thirdparty_structured_but_wrong(parser: str, data: st.DataObject, device: str) -> None:
    raw = data.draw(wrong_json(PARSERS[parser][2]))
    check_sighting(parser, PARSERS[parser][1].format(id=device), raw)


# -- iCal -----------------------------------------------------------------------------------------

ICAL = Path(__file__).resolve().parent / "data" / "ical"
FEEDS = [p.read_bytes() for p in sorted(ICAL.glob("*.ics"))]
NOW = datetime(2026, 3, 20, 12, tzinfo=UTC)
WINDOW = (NOW - timedelta(days=7), NOW + timedelta(days=180))
SITE: SiteSettings = hub_config("mqtt://127.0.0.1:1883", "vivant/v1", "sqlite://").sites[0]

DATES = st.one_of(
    st.sampled_from(
        [
            ":20260323T093000",
            ":20260323T093000Z",
            ";TZID=Europe/Paris:20260323T093000",
            ";TZID=Nowhere/Land:20260323T093000",
            ";VALUE=DATE:20260323",
            ":20260323",
            ":99991231T235959Z",
            ":00010101T000000",
            ":20260230T250000",
            ";VALUE=DATE:2026",
            ";VALUE=PERIOD:20260323T093000Z/PT1H",
            ":",
        ]
    ),
    st.text(alphabet="0123456789TZ:;=-+/", max_size=24),
)
RULES = st.one_of(
    st.sampled_from(
        [
            "FREQ=DAILY;COUNT=3",
            "FREQ=WEEKLY;BYDAY=MO,WE",
            "FREQ=MONTHLY;BYMONTHDAY=31",
            "FREQ=YEARLY;BYMONTH=13",
            "FREQ=WEEKLY;COUNT=-1",
            "FREQ=DAILY;UNTIL=garbage",
            "FREQ=DAILY;UNTIL=20260301",
            "FREQ=HOURLY;INTERVAL=0",
            "FREQ=MINUTELY",
            "FREQ=SECONDLY;COUNT=2",
            "FREQ=DAILY;BYHOUR=9,12,18,25",
            "FREQ=WEEKLY;BYSETPOS=0",
            "FREQ=",
        ]
    ),
    st.text(alphabet="FREQ=DAILYWEEKLYMONTHLY;BYDAYCOUNTINTERVAL0123456789,-", max_size=40),
)
TEXT = st.one_of(st.text(max_size=30), st.just(CANARY))
PROPERTIES = st.one_of(
    st.tuples(st.sampled_from(["DTSTART", "DTEND", "RECURRENCE-ID", "EXDATE", "RDATE"]), DATES),
    st.tuples(st.just("RRULE"), RULES.map(lambda r: ":" + r)),
    st.tuples(st.just("DURATION"), st.sampled_from([":PT1H", ":-PT1H", ":P99999999W", ":PX"])),
    st.tuples(
        st.sampled_from(["SUMMARY", "LOCATION", "DESCRIPTION", "CATEGORIES", "ORGANIZER"]),
        TEXT.map(lambda t: ":" + t.replace("\r", " ").replace("\n", " ")),
    ),
    # The UID names the event in staff's error message: no canary there.
    st.tuples(st.just("UID"), st.text(alphabet="abc-@.0123456789", max_size=20).map(":".__add__)),
    st.tuples(
        st.sampled_from(["STATUS", "CLASS", "X-VIVANT-KIND"]),
        st.sampled_from([":CANCELLED", ":PRIVATE", ":PUBLIC", ":breakfast", ":nonsense", ":"]),
    ),
)


@st.composite
def calendars(draw: st.DrawFn) -> bytes:
    """A VCALENDAR of a few events, each a random mix of plausible and broken properties."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//fuzz//EN"]
    if draw(st.booleans()):
        lines.append("X-WR-TIMEZONE:" + draw(st.sampled_from(["Europe/Paris", "Mars/Base", ""])))
    for index in range(draw(st.integers(0, 4))):
        lines += ["BEGIN:VEVENT", f"UID:event-{index}"]
        if draw(st.booleans()):
            lines.append("DTSTART" + draw(DATES))
        lines += [name + value for name, value in draw(st.lists(PROPERTIES, max_size=6))]
        if draw(st.integers(0, 9)):  # now and then an event is left open
            lines.append("END:VEVENT")
    lines.append("END:VCALENDAR")
    return ("\r\n".join(lines) + "\r\n").encode("utf-8", "surrogatepass")


def check_feed(raw: bytes) -> list[ParsedMoment] | None:
    """The property of :func:`parse_feed`; the moments, or None when refused."""
    result = attempt(lambda: parse_feed(raw, SITE, *WINDOW), FeedError)
    if isinstance(result, FeedError):
        assert result.reason.strip(), "staff are told why"
        assert len(result.reason) <= 400
        assert not leaks(result.reason, raw)
        return None
    rooms = {room.id for room in SITE.rooms}
    for moment in result:
        assert moment.room_id in rooms
        assert moment.starts_at.tzinfo is not None
        assert moment.starts_at < moment.ends_at
        assert moment.title
    return result


@fuzz
@given(raw=junk())
def test_ical_generated_bytes(raw: bytes) -> None:
    check_feed(raw)
    check_feed(b"BEGIN:VCALENDAR\r\n" + raw)


@fuzz
@given(raw=mutated(FEEDS))
def test_ical_mutated_feeds(raw: bytes) -> None:
    check_feed(raw)


@fuzz
@given(raw=calendars())
def test_ical_structured_but_wrong(raw: bytes) -> None:
    check_feed(raw)


@pytest.fixture(scope="module")
def feed_sessions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sessionmaker[Session]]:
    """A migrated SQLite database with the test site and one feed, shared by the examples."""
    config = hub_config(
        "mqtt://127.0.0.1:1883",
        "vivant/v1",
        f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'hub.db'}",
    )
    engine = make_engine(config.database.url)
    upgrade(engine)
    factory = make_sessionmaker(engine)
    with factory.begin() as session:
        sync_sites(session, config)
        session.add(CalendarFeed(site_id=SITE.id, room_id="cuisine", url_or_path="fuzz.ics"))
        session.flush()
        # What staff had already: the Google feed's moments.
        feed = session.scalars(select(CalendarFeed)).one()
        assert sync_feed(session, feed, SITE, FEEDS[0], now=NOW).error is None
    yield factory
    engine.dispose()


@scaled(0.25)
@given(raw=st.one_of(mutated(FEEDS), calendars()))
def test_ical_sync_never_raises_and_a_bad_feed_changes_nothing(
    feed_sessions: sessionmaker[Session], raw: bytes
) -> None:
    with feed_sessions() as session:
        feed = session.scalars(select(CalendarFeed)).one()
        before = session.scalar(select(func.count(Moment.id)))
        report = sync_feed(session, feed, SITE, raw, now=NOW)
        assert isinstance(report, SyncReport)
        if report.error is not None:
            assert feed.last_error == report.error
            assert session.scalar(select(func.count(Moment.id))) == before
            assert not session.new
        session.rollback()  # every example starts from the same moments
