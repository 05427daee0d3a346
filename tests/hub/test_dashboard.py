"""What the staff dashboard shows of a site (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from hub.attendance import mark_attendance
from hub.config import HubConfig, Language
from hub.dashboard import board, member_choices
from hub.db.models import Consent, Node, PresenceSource
from hub.live import LiveState
from hub.members import add_member
from hub.moments import add_moment
from hub.occupancy import OccupancyEstimate
from hub.presence import arrive, staff_check_in
from tests.support.hub_server import NODE, SITE

# 9:05 in Paris (winter: UTC+1).
NOW = datetime(2026, 11, 26, 8, 5, tzinfo=UTC)


def test_people_only_with_consent_times_in_the_site_zone(
    sessions: sessionmaker[Session], site_config: HubConfig
) -> None:
    site = site_config.sites[0]
    live = LiveState(site_config)
    with sessions.begin() as session:
        camille = add_member(
            session, "Camille", last_name="Durand", consents=[Consent.STAFF_VISIBLE]
        )
        hidden = add_member(session, "Secret", consents=[Consent.SCREEN_DISPLAY])
        arrive(session, camille.id, SITE, NOW - timedelta(minutes=35), PresenceSource.BADGE)
        staff_check_in(session, hidden.id, SITE, NOW - timedelta(minutes=5))
    with sessions() as session:
        french = board(session, site, live, Language.FR, NOW)
        english = board(session, site, live, Language.EN, NOW)
        choices = member_choices(session)
    assert french.on_site == 2
    assert [(p.name, p.arrived, p.source) for p in french.people] == [
        ("Camille Durand", "08:30", "badge")
    ]
    assert french.hidden == 1
    assert "Secret" not in repr(french.people)
    assert english.people[0].arrived == "8:30\u202fAM"
    assert english.people[0].source == "badge"
    assert [name for _id, name in choices] == ["Camille Durand", "Secret"]


def test_rooms_from_live_estimates_with_share_confidence_and_flags(
    sessions: sessionmaker[Session], site_config: HubConfig
) -> None:
    site = site_config.sites[0]
    live = LiveState(site_config)
    live.sites[SITE].published["cuisine"] = OccupancyEstimate(
        count=5, confidence=0.85, flags=("counter_corrected",), updated_ms=0
    )
    live.sites[SITE].published["open-space"] = OccupancyEstimate(
        count=3, confidence=0.2, flags=("no_data",), updated_ms=0
    )
    with sessions() as session:
        rooms = {r.id: r for r in board(session, site, live, Language.FR, NOW).rooms}
    assert (rooms["cuisine"].count, rooms["cuisine"].share, rooms["cuisine"].confidence) == (
        5, 25, 85,
    )  # fmt: skip
    assert rooms["cuisine"].confidence_label == "fiable"
    assert rooms["cuisine"].flags == [("counter_corrected", "compteur de porte corrigé")]
    assert rooms["open-space"].confidence_label == "estimation grossière"
    assert rooms["open-space"].share == 10
    assert rooms["accueil"].count is None  # no estimate since the hub started
    assert rooms["accueil"].share is None


def test_moments_in_progress_with_attendance_and_node_health(
    sessions: sessionmaker[Session], site_config: HubConfig
) -> None:
    site = site_config.sites[0]
    with sessions.begin() as session:
        moment = add_moment(
            session, site, room_id="cuisine", title="Petit-déjeuner", kind="breakfast",
            starts_at=NOW - timedelta(minutes=20), ends_at=NOW + timedelta(minutes=40),
        )  # fmt: skip
        add_moment(
            session, site, room_id="cuisine", title="Atelier", kind="workshop",
            starts_at=NOW + timedelta(hours=2), ends_at=NOW + timedelta(hours=3),
        )  # fmt: skip
        for name in ("Ana", "Bea"):
            mark_attendance(session, moment, add_member(session, name).id, NOW)
        node = session.get(Node, (SITE, NODE))
        assert node is not None
        node.status = "online"
        node.last_seen_at = NOW - timedelta(seconds=30)
        node.telemetry = {"outbox_depth": 450, "dropped": 2, "uptime_s": 5, "version": "1"}
        session.add(Node(site_id=SITE, id="toit", status="offline", last_seen_at=NOW))
    with sessions() as session:
        result = board(session, site, LiveState(site_config), Language.FR, NOW)
    assert [(m.title, m.attending, m.starts, m.ends, m.room) for m in result.moments] == [
        ("Petit-déjeuner", 2, "08:45", "09:45", "Cuisine")
    ]
    nodes = {n.id: n for n in result.nodes}
    assert [n.id for n in result.nodes] == [NODE, "toit"]  # configured first, then heard of
    assert (nodes[NODE].status_label, nodes[NODE].outbox, nodes[NODE].dropped) == (
        "en ligne",
        450,
        2,
    )
    assert nodes[NODE].problem  # a backlog of 450 messages
    assert nodes["toit"].problem
    assert nodes["toit"].status_label == "hors ligne"
    assert result.nodes_in_trouble == 2
