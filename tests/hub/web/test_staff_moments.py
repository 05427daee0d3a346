"""The staff page of moments over real HTTP, on SQLite and PostgreSQL: create, edit, refuse,
cancel and restore (seen on the lobby screen), and calendar feeds that fail without harm."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import httpx
import pytest
from icalendar import Calendar, Event
from sqlalchemy import func, select

from hub.accounts import Role
from hub.config import HubConfig
from hub.db.models import CalendarFeed, Moment
from hub.members import add_member
from hub.rsvp import join
from hub.web.staff_moments import FormError, parse_local
from tests.support.accounts import SignedIn, sign_in
from tests.support.hub_server import SITE, SITE_ZONE, RunningHub, hub_config, running_hub
from tests.support.mosquitto import free_port
from tests.support.waiting import wait_until

ZONE = ZoneInfo(SITE_ZONE)  # the site's


def config(broker: str, topic_root: str, db_url: str, **site: Any) -> HubConfig:
    data = hub_config(
        broker, topic_root, db_url, client_id=f"hub-{topic_root[:9]}", port=free_port()
    ).model_dump(mode="json")
    data["mqtt"].pop("password", None)
    data["nudges"] = {"enabled": False}
    data["sites"][0].update(site)
    return HubConfig.model_validate(data)


@pytest.fixture
def hub(system_broker_url: str, topic_root: str, db_url: str) -> Iterator[RunningHub]:
    with running_hub(config(system_broker_url, topic_root, db_url)) as running:
        yield running


def screen_titles(hub: RunningHub) -> list[str]:
    """Every moment title the lobby screen shows now (all panels)."""
    state = httpx.get(hub.state_url).json()
    return [m["title"] for panel in state["panels"] for m in panel.get("moments", [])]


def local_input(at: datetime) -> str:
    """A ``datetime-local`` value in the site's zone, as a browser there sends it."""
    return at.astimezone(ZONE).strftime("%Y-%m-%dT%H:%M")


def form(staff: SignedIn, start: datetime, **changes: str) -> dict[str, str]:
    values = {
        "csrf_token": staff.csrf, "site": SITE, "title": "Atelier vélo", "kind": "workshop",
        "room": "cuisine", "starts_at": local_input(start),
        "ends_at": local_input(start + timedelta(hours=1)), "description": "On répare.",
        "tags": "Vélo, mécanique", "capacity": "12", "host": "Hugo",
    }  # fmt: skip
    return {**values, **changes}


def count(hub: RunningHub) -> int:
    with hub.runtime.sessions() as session:
        return int(session.scalar(select(func.count(Moment.id))) or 0)


def test_create_edit_refuse_cancel_and_restore(hub: RunningHub) -> None:
    staff = sign_in(hub.runtime.sessions, Role.STAFF)
    start = (datetime.now(UTC) + timedelta(hours=2)).replace(second=0, microsecond=0)
    with staff.client(hub.base_url) as client:
        empty = client.get("/staff/moments")
        assert empty.status_code == 200
        assert "Moments de la communauté" in empty.text
        assert 'href="/staff/moments" aria-current="page"' in empty.text
        assert 'href="/staff/nudges"' in empty.text

        created = client.post("/staff/moments", data=form(staff, start))
        assert created.status_code == 303
        assert created.headers["location"] == f"/staff/moments?msg=created#site-{SITE}"
        with hub.runtime.sessions.begin() as session:
            moment = session.scalars(select(Moment)).one()
            assert (moment.starts_at, moment.ends_at) == (start, start + timedelta(hours=1))
            assert (moment.room_id, moment.capacity, moment.host) == ("cuisine", 12, "Hugo")
            assert moment.tags == ["vélo", "mécanique"]
            moment_id = moment.id
            ana = add_member(session, "Ana")
            ben = add_member(session, "Ben")
            session.flush()
            join(session, moment_id, ana.id, datetime.now(UTC))
            join(session, moment_id, ben.id, datetime.now(UTC))
        listed = client.get(created.headers["location"]).text
        assert "Moment créé." in listed
        assert "Atelier vélo" in listed
        assert "Cuisine" in listed
        assert "2 / 12" in listed  # going / capacity, from the RSVPs
        assert "créé par l’équipe" in listed
        assert local_input(start)[11:] in listed  # the time, in the site's zone
        assert "Atelier vélo" in screen_titles(hub)

        editing = client.get("/staff/moments", params={"edit": moment_id}).text
        assert f'action="/staff/moments/{moment_id}/edit"' in editing
        assert 'value="Atelier vélo"' in editing
        assert f'value="{local_input(start)}"' in editing
        edited = client.post(
            f"/staff/moments/{moment_id}/edit",
            data=form(staff, start, title="Atelier réparation", room="open-space", capacity=""),
        )
        assert edited.headers["location"] == f"/staff/moments?msg=edited#site-{SITE}"
        with hub.runtime.sessions() as session:
            row = session.get(Moment, moment_id)
            assert row is not None
            assert (row.title, row.room_id, row.capacity) == (
                "Atelier réparation",
                "open-space",
                None,
            )

        # Refusals: the reason beside the form, in French, the values kept, nothing saved.
        backwards = form(
            staff, start, title="À l’envers", ends_at=local_input(start - timedelta(hours=1))
        )
        refused = client.post(f"/staff/moments/{moment_id}/edit", data=backwards)
        assert refused.status_code == 400
        assert "Un moment doit finir après avoir commencé" in refused.text
        assert 'value="À l’envers"' in refused.text
        refused_new = client.post("/staff/moments", data=backwards)
        assert refused_new.status_code == 400
        assert "Un moment doit finir après avoir commencé" in refused_new.text
        cellar = client.post("/staff/moments", data=form(staff, start, room="cave", title="Cave"))
        assert cellar.status_code == 400
        assert "Le site &#39;ekilibre&#39; n’a pas de salle &#39;cave&#39;" in cellar.text
        garbled = client.post("/staff/moments", data=form(staff, start, starts_at="demain"))
        assert garbled.status_code == 400
        assert "Début : indiquez une date et une heure." in garbled.text
        assert count(hub) == 1
        with hub.runtime.sessions() as session:
            row = session.get(Moment, moment_id)
            assert row is not None
            assert (row.title, row.ends_at) == ("Atelier réparation", start + timedelta(hours=1))

        cancelled = client.post(
            f"/staff/moments/{moment_id}/cancel", data={"csrf_token": staff.csrf}
        )
        assert cancelled.headers["location"] == f"/staff/moments?msg=cancelled#site-{SITE}"
        assert "Atelier réparation" not in screen_titles(hub)
        page = client.get("/staff/moments").text
        assert "annulé" in page
        assert f'action="/staff/moments/{moment_id}/restore"' in page
        restored = client.post(
            f"/staff/moments/{moment_id}/restore", data={"csrf_token": staff.csrf}
        )
        assert restored.headers["location"] == f"/staff/moments?msg=restored#site-{SITE}"
        assert "Atelier réparation" in screen_titles(hub)

        forged = client.post(f"/staff/moments/{moment_id}/cancel", data={"csrf_token": "x"})
        assert forged.status_code == 403
        missing = client.get("/staff/moments", params={"edit": 999999})
        assert missing.status_code == 404
        assert "Moment inconnu." in missing.text
        unknown = client.post("/staff/moments/999999/cancel", data={"csrf_token": staff.csrf})
        assert unknown.headers["location"] == "/staff/moments?msg=unknown_moment"
    assert "Atelier réparation" in screen_titles(hub)


class Feed(BaseHTTPRequestHandler):
    """Serves ``body`` (the test changes it) at any path."""

    body: ClassVar[bytes] = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/calendar; charset=utf-8")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: object) -> None:
        """Keep test output quiet."""


def ical(start: datetime) -> bytes:
    calendar = Calendar()
    calendar.add("prodid", "-//test//vivant//FR")
    calendar.add("version", "2.0")
    event = Event()
    event.add("uid", "brunch-1@test")
    event.add("summary", "Brunch du dimanche")
    event.add("location", "Cuisine")
    event.add("dtstart", start)
    event.add("dtend", start + timedelta(hours=2))
    calendar.add_component(event)
    data: bytes = calendar.to_ical()
    return data


def test_a_failing_feed_shows_its_error_and_keeps_its_moments(
    system_broker_url: str, topic_root: str, db_url: str
) -> None:
    start = (datetime.now(UTC) + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    Feed.body = ical(start)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Feed)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    url = f"http://127.0.0.1:{port}/agenda/secret-token-42/basic.ics"
    feeds = [{"url": url, "room": "accueil", "name": "Agenda de la communauté"}]
    try:
        with running_hub(
            config(system_broker_url, topic_root, db_url, calendar_feeds=feeds)
        ) as hub:
            staff = sign_in(hub.runtime.sessions, Role.STAFF)

            def imported() -> bool:
                with hub.runtime.sessions() as session:
                    return session.scalar(select(Moment)) is not None

            wait_until(imported, within=10, what="the feed's moment imported at start")
            with hub.runtime.sessions() as session:
                feed_id = session.scalars(select(CalendarFeed.id)).one()
            with staff.client(hub.base_url) as client:
                synced = client.post(
                    f"/staff/feeds/{feed_id}/sync", data={"csrf_token": staff.csrf}
                )
                assert synced.headers["location"] == f"/staff/moments?msg=synced#site-{SITE}"
                page = client.get(synced.headers["location"]).text
                assert "Calendrier synchronisé." in page
                assert "Le calendrier est à jour." in page
                assert "calendrier : Agenda de la communauté" in page
                assert "Brunch du dimanche" in page

                Feed.body = b"<!DOCTYPE html><html><body>Connexion</body></html>"
                client.post(f"/staff/feeds/{feed_id}/sync", data={"csrf_token": staff.csrf})
                page = client.get("/staff/moments").text
                assert "L’adresse affiche une page web, pas un calendrier" in page

                server.shutdown()
                server.server_close()
                failed = client.post(
                    f"/staff/feeds/{feed_id}/sync", data={"csrf_token": staff.csrf}
                )
                assert failed.headers["location"] == f"/staff/moments?msg=sync_failed#site-{SITE}"
                page = client.get(failed.headers["location"]).text
            assert "Le serveur du calendrier est injoignable" in page
            assert "Les moments déjà importés de ce calendrier restent tels quels." in page
            assert f"Détail : cannot reach http://127.0.0.1:{port}/…" in page
            assert "secret-token-42" not in page
            assert "Brunch du dimanche" in page
            assert "Brunch du dimanche" in screen_titles(hub)
            with hub.runtime.sessions() as session:
                brunch = session.scalars(select(Moment)).one()
                feed = session.get(CalendarFeed, feed_id)
                assert feed is not None
                assert brunch.cancelled_at is None
                assert brunch.starts_at == start
                assert feed.last_error is not None
                assert feed.last_ok_at is not None
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_typed_times_are_read_in_the_site_zone_across_the_clock_changes() -> None:
    paris = hub_config("mqtt://127.0.0.1:1883", "unused/v1", "sqlite://", timezone="Europe/Paris")
    site = paris.sites[0]
    winter = parse_local("2026-03-28T09:30", site, "start")
    summer = parse_local("2026-03-30T09:30", site, "start")
    assert (winter.astimezone(UTC).hour, summer.astimezone(UTC).hour) == (8, 7)
    with pytest.raises(FormError) as gap:  # 02:30 is skipped on 29 March in Paris
        parse_local("2026-03-29T02:30", site, "start")
    assert "does not exist" in gap.value.msgid
    twice = parse_local("2026-10-25T02:30", site, "end")  # the first of the two 02:30
    assert twice.astimezone(UTC) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    with pytest.raises(FormError):
        parse_local("25/10/2026 02:30", site, "end")
