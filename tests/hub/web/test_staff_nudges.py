"""The staff page of the nudges over real HTTP, on SQLite and PostgreSQL: the readable dry run
for a chosen time, the pause, and the dry-run switch that only a manager may flip."""

from __future__ import annotations

import html
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from hub.accounts import Role
from hub.config import HubConfig
from hub.db.models import Consent, PresenceSource
from hub.members import add_member
from hub.moments import add_moment
from hub.nudge_control import is_dry_run, is_paused
from hub.presence import arrive
from tests.support.accounts import sign_in
from tests.support.hub_server import SITE, RunningHub, hub_config, running_hub
from tests.support.mosquitto import free_port


@pytest.fixture
def hub(system_broker_url: str, topic_root: str, db_url: str) -> Iterator[RunningHub]:
    data = hub_config(
        system_broker_url, topic_root, db_url, client_id=f"hub-{topic_root[:9]}", port=free_port()
    ).model_dump(mode="json")
    data["mqtt"].pop("password", None)
    data["nudges"] = {"enabled": False}  # only the preview runs: nothing fires by itself
    with running_hub(HubConfig.model_validate(data)) as running:
        yield running


def dry_run_text(page: str) -> str:
    """The dry-run lines of the page, unescaped."""
    start = page.index('<pre class="dry-run-lines" id="dry-run-lines">')
    end = page.index("</pre>", start)
    return html.unescape(page[start:end].split(">", 1)[1])


def test_dry_run_lines_for_a_chosen_time_and_the_pause(hub: RunningHub) -> None:
    site = hub.config.sites[0]
    at = datetime(2026, 3, 10, 9, 50, tzinfo=site.zone)  # a Tuesday, before a breakfast
    with hub.runtime.sessions.begin() as session:
        add_moment(
            session, site, room_id="cuisine", title="Petit-déjeuner", kind="breakfast",
            starts_at=at + timedelta(minutes=10), ends_at=at + timedelta(hours=1),
        )  # fmt: skip
        camille = add_member(session, "Camille", consents=[Consent.MESSAGES], now=at)
        arrive(session, camille.id, SITE, at - timedelta(hours=1), PresenceSource.BADGE)
    staff = sign_in(hub.runtime.sessions, Role.STAFF)
    with staff.client(hub.base_url) as client:
        now_page = client.get("/staff/nudges")
        assert now_page.status_code == 200
        assert 'href="/staff/nudges" aria-current="page"' in now_page.text
        assert dry_run_text(now_page.text).startswith("éKilibre — ")

        page = client.get("/staff/nudges", params={"at": "2026-03-10T09:50"}).text
        lines = dry_run_text(page).splitlines()
        assert lines[0] == "éKilibre — 10/03/2026 09:50"
        assert "Moment imminent (moment_soon)" in lines
        # Camille allowed messages but gave no address: the page says why nothing goes.
        assert (
            "  Camille : pas d’envoi — pas de consentement pour ce canal (apprise, email)" in lines
        )
        assert 'value="2026-03-10T09:50"' in page

        paused = client.post(
            "/staff/nudges/pause", data={"csrf_token": staff.csrf, "next": "/staff/nudges"}
        )
        assert paused.headers["location"] == "/staff/nudges?msg=paused"
        page = client.get("/staff/nudges", params={"at": "2026-03-10T09:50"}).text
        assert "Toutes les relances sont suspendues" in page
        assert "  Camille : pas d’envoi — envois en pause" in dry_run_text(page)
        resumed = client.post(
            "/staff/nudges/resume", data={"csrf_token": staff.csrf, "next": "/staff/nudges"}
        )
        assert resumed.headers["location"] == "/staff/nudges?msg=resumed"
        elsewhere = client.post(
            "/staff/nudges/pause", data={"csrf_token": staff.csrf, "next": "https://evil.example"}
        )
        assert elsewhere.status_code == 422
        with hub.runtime.sessions() as session:
            assert not is_paused(session)

        bad = client.get("/staff/nudges", params={"at": "hier"})
        assert bad.status_code == 400
        assert "Indiquez une date et une heure à examiner." in bad.text


def test_only_a_manager_switches_the_dry_run_mode(hub: RunningHub) -> None:
    staff = sign_in(hub.runtime.sessions, Role.STAFF)
    manager = sign_in(hub.runtime.sessions, Role.MANAGER)
    with staff.client(hub.base_url) as client:
        page = client.get("/staff/nudges").text
        assert "Seul un ou une manager peut changer le mode simulation." in page
        assert 'action="/staff/nudges/dry-run-mode"' not in page
        refused = client.post(
            "/staff/nudges/dry-run-mode", data={"csrf_token": staff.csrf, "mode": "on"}
        )
        assert refused.status_code == 403
    with hub.runtime.sessions() as session:
        assert not is_dry_run(session)
    with manager.client(hub.base_url) as client:
        page = client.get("/staff/nudges").text
        assert 'action="/staff/nudges/dry-run-mode"' in page
        assert "Mode simulation désactivé" in page
        on = client.post(
            "/staff/nudges/dry-run-mode", data={"csrf_token": manager.csrf, "mode": "on"}
        )
        assert on.headers["location"] == "/staff/nudges?msg=dry_run_on"
        with hub.runtime.sessions() as session:
            assert is_dry_run(session)
        page = client.get(on.headers["location"]).text
        assert "Mode simulation activé : les règles décident et expliquent" in page
        assert "Désactiver le mode simulation" in page
        off = client.post(
            "/staff/nudges/dry-run-mode", data={"csrf_token": manager.csrf, "mode": "off"}
        )
        assert off.headers["location"] == "/staff/nudges?msg=dry_run_off"
        odd = client.post(
            "/staff/nudges/dry-run-mode", data={"csrf_token": manager.csrf, "mode": "maybe"}
        )
        assert odd.status_code == 422
    with hub.runtime.sessions() as session:
        assert not is_dry_run(session)


def test_the_time_to_look_at_is_read_in_the_chosen_site_zone(
    system_broker_url: str, topic_root: str, tmp_path: Path
) -> None:
    data = hub_config(
        system_broker_url, topic_root, f"sqlite:///{tmp_path / 'hub.db'}",
        client_id=f"hub-{topic_root[:9]}", port=free_port(), timezone="Europe/Paris",
    ).model_dump(mode="json")  # fmt: skip
    data["mqtt"].pop("password", None)
    data["nudges"] = {"enabled": False}
    data["sites"].append(
        {"id": "brooklyn", "name": "Brooklyn", "timezone": "America/New_York",
         "rooms": [{"id": "loft", "name": "Loft", "kind": "community"}]}
    )  # fmt: skip
    with running_hub(HubConfig.model_validate(data)) as hub:
        staff = sign_in(hub.runtime.sessions, Role.STAFF)
        with staff.client(hub.base_url) as client:
            query = {"at": "2026-03-10T09:50", "zone": "brooklyn"}
            page = client.get("/staff/nudges", params=query)
    assert '<option value="brooklyn" selected>Brooklyn (America/New_York)</option>' in page.text
    lines = dry_run_text(page.text).splitlines()
    # 09:50 in New York (summer time since 8 March) is 14:50 in Paris (winter time until 29 March).
    assert "Brooklyn — 10/03/2026 09:50" in lines
    assert "éKilibre — 10/03/2026 14:50" in lines
