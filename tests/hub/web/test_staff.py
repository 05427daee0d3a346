"""The staff dashboard over real HTTP and real Mosquitto: live updates, actions, enrolment."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.publish as publish
import pytest
from sqlalchemy import select

from hub.accounts import Role
from hub.config import HubConfig
from hub.db.models import (
    BadgeTap,
    Consent,
    Credential,
    NudgeRecord,
    NudgeTrigger,
    PresenceSession,
)
from hub.members import add_member
from hub.nudge_control import is_paused
from hub.presence import staff_check_in
from hub.web.auth import SESSION_COOKIE
from tests.support.accounts import SignedIn, sign_in
from tests.support.factories import moment_soon, reachable_member
from tests.support.hub_server import NODE, SITE, RunningHub, hub_config, running_hub
from tests.support.mosquitto import free_port
from tests.support.sse import Event, SseClient
from tests.support.waiting import wait_until
from vivant.wire import credential_for

KEY = "staff-test-credential-key"


@pytest.fixture
def hub(system_broker_url: str, topic_root: str, db_url: str) -> Iterator[RunningHub]:
    data: dict[str, Any] = hub_config(
        system_broker_url, topic_root, db_url, client_id=f"hub-{topic_root[:9]}", port=free_port()
    ).model_dump(mode="json")
    data["mqtt"].pop("password", None)
    data["live_tick_s"] = 0.5
    with running_hub(HubConfig.model_validate(data)) as running:
        yield running


def send(topic_root: str, kind: str, body: dict[str, Any]) -> None:
    body = {"id": f"{kind}-{time.time_ns()}", "ts": int(time.time() * 1000), **body}
    publish.single(f"{topic_root}/{SITE}/{NODE}/{kind}", json.dumps(body), qos=1,
                   hostname="127.0.0.1", port=1883)  # fmt: skip


def tap(topic_root: str, uid: str) -> None:
    send(topic_root, "badge", {"room": "accueil", "reader": "porte",
                               "credential": credential_for(KEY, uid)})  # fmt: skip


async def next_site_event(sse: SseClient, within: float = 10.0) -> dict[str, Any]:
    event: Event = await sse.next("site", within=within)
    data: dict[str, Any] = event.json()
    return data


def test_dashboard_page_works_without_javascript(hub: RunningHub) -> None:
    staff = sign_in(hub.runtime.sessions, Role.STAFF)
    with hub.runtime.sessions.begin() as session:
        add_member(session, "Camille", last_name="Durand", consents=[Consent.STAFF_VISIBLE])
    with staff.client(hub.base_url) as client:
        page = client.get("/staff")
        html = page.text
        assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', html)
        assert {a for a in assets} == {"/static/staff.css", "/static/staff.js"}
        for asset in assets:
            assert client.get(asset).status_code == 200
    assert page.status_code == 200
    assert '<html lang="fr">' in html
    assert "éKilibre" in html
    for text in ("Salles", "Qui est là", "Moments en cours", "Lecteurs et capteurs"):
        assert text in html
    assert 'action="/staff/check-in"' in html
    assert 'action="/staff/enrolments"' in html
    assert f'value="{staff.csrf}"' in html
    assert '<option value="' in html
    assert "Camille Durand" in html  # in the member picker
    assert 'http-equiv="refresh"' in html  # inside <noscript>: without JS the page refreshes
    assert not re.search(r"<script>|\sstyle=\"|\son[a-z]+=\"", html)  # no inline script or style


async def test_dashboard_updates_live_and_stops_after_logout(
    hub: RunningHub, topic_root: str
) -> None:
    staff = sign_in(hub.runtime.sessions, Role.STAFF)
    with hub.runtime.sessions.begin() as session:
        add_member(
            session, "Camille", consents=[Consent.STAFF_VISIBLE], badges=[credential_for(KEY, "01")]
        )
    cookie = {"Cookie": f"{SESSION_COOKIE}={staff.cookie}"}
    sse = SseClient(f"{hub.base_url}/staff/events", headers=cookie)
    async with sse.open():
        first = await next_site_event(sse)
        assert first["site"] == SITE
        assert first["on_site"] == 0
        # A door counter says three people came into the lobby.
        send(topic_root, "sensor", {"room": "accueil", "kind": "people_in", "value": 3})
        data = first
        while data["rooms"].get("accueil") != 3:
            data = await next_site_event(sse)
        assert 'data-room="accueil"' in data["html"]
        # Camille taps her badge: she is on site, by name (she allowed staff to see her).
        tap(topic_root, "01")
        while data["on_site"] != 1:
            data = await next_site_event(sse)
        assert "Camille" in data["html"]
        assert "depuis" in data["html"]
        # Signing out elsewhere ends the stream.
        with staff.client(hub.base_url) as client:
            client.post("/logout", data={"csrf_token": staff.csrf})
        await sse.next("signed-out", within=10)


async def test_each_dashboard_gets_its_own_csrf_token_in_the_shared_live_board(
    hub: RunningHub,
) -> None:
    """The live board is rendered once for every dashboard: the forms in it still carry the
    token of the session that reads it, never another's."""
    ines, jules = (
        sign_in(hub.runtime.sessions, Role.STAFF),
        sign_in(hub.runtime.sessions, Role.STAFF),
    )
    with hub.runtime.sessions.begin() as session:
        camille = add_member(session, "Camille", consents=[Consent.STAFF_VISIBLE])
        staff_check_in(session, camille.id, SITE, datetime.now(UTC))
    boards = []
    for staff in (ines, jules):
        cookie = {"Cookie": f"{SESSION_COOKIE}={staff.cookie}"}
        sse = SseClient(f"{hub.base_url}/staff/events", headers=cookie)
        async with sse.open():
            boards.append((await next_site_event(sse))["html"])
    for staff, html in zip((ines, jules), boards, strict=True):
        assert 'action="/staff/check-out"' in html  # a form (with a token) for Camille
        tokens = set(re.findall(r'name="csrf_token" value="([^"]+)"', html))
        assert tokens == {staff.csrf}
    with ines.client(hub.base_url) as client:  # the page itself too
        assert set(re.findall(r'name="csrf_token" value="([^"]+)"', client.get("/staff").text)) == {
            ines.csrf
        }


def test_check_in_and_out_by_hand(hub: RunningHub) -> None:
    staff = sign_in(hub.runtime.sessions, Role.STAFF)
    with hub.runtime.sessions.begin() as session:
        member = add_member(session, "Hugo", consents=[Consent.STAFF_VISIBLE]).id
    form = {"csrf_token": staff.csrf, "site": SITE, "member": str(member)}
    with staff.client(hub.base_url) as client:
        done = client.post("/staff/check-in", data=form)
        assert done.status_code == 303
        assert done.headers["location"] == f"/staff?msg=checked_in#site-{SITE}"
        page = client.get(done.headers["location"])
        assert "Arrivée enregistrée." in page.text
        assert "Hugo" in page.text
        assert (
            client.post("/staff/check-out", data=form)
            .headers["location"]
            .startswith("/staff?msg=checked_out")
        )
        again = client.post("/staff/check-out", data=form)
        assert "msg=not_on_site" in again.headers["location"]
        unknown = client.post("/staff/check-in", data={**form, "member": "999999"})
        assert "msg=unknown_member" in unknown.headers["location"]
        assert "Membre inconnu." in client.get(unknown.headers["location"]).text
        nowhere = client.post("/staff/check-in", data={**form, "site": "nowhere"})
        assert "msg=unknown_site" in nowhere.headers["location"]
        garbage = client.post("/staff/check-in", data={**form, "member": "abc"})
        assert garbage.status_code == 422
    with hub.runtime.sessions() as session:
        visit = session.scalars(select(PresenceSession)).one()
    assert (visit.arrival_source, visit.departure_source) == ("staff", "staff")


def test_enrol_a_badge_by_tapping_it(hub: RunningHub, topic_root: str) -> None:
    staff: SignedIn = sign_in(hub.runtime.sessions, Role.STAFF)
    with hub.runtime.sessions.begin() as session:
        member = add_member(session, "Zoé").id
    tap(topic_root, "0BEF0E")  # an unknown badge tapped before the enrolment: ignored

    def logged(uid: str) -> bool:
        with hub.runtime.sessions() as session:
            credential = credential_for(KEY, uid)
            return (
                session.scalar(select(BadgeTap).where(BadgeTap.credential == credential))
                is not None
            )

    wait_until(lambda: logged("0BEF0E"), within=10, what="the first tap in the badge log")
    form = {"csrf_token": staff.csrf, "site": SITE, "member": str(member), "node": NODE}
    with staff.client(hub.base_url) as client:
        started = client.post("/staff/enrolments", data=form)
        assert "msg=enrolment_started" in started.headers["location"]
        assert "en attente du badge" in client.get("/staff").text
        tap(topic_root, "04A0E0")

        def enrolled() -> bool:
            with hub.runtime.sessions() as session:
                return (
                    session.scalar(select(Credential).where(Credential.member_id == member))
                    is not None
                )

        wait_until(enrolled, within=10, what="the badge enrolled")
        assert "badge enregistré" in client.get("/staff").text
        bad_node = client.post("/staff/enrolments", data={**form, "node": "cave"})
        assert "msg=unknown_node" in bad_node.headers["location"]
    with hub.runtime.sessions() as session:
        credential = session.scalars(select(Credential)).one()
    assert credential.value == credential_for(KEY, "04A0E0")


async def test_pause_resume_and_announce_a_moment_now(hub: RunningHub) -> None:
    staff = sign_in(hub.runtime.sessions, Role.STAFF)
    site = hub.config.sites[0]
    with hub.runtime.sessions.begin() as session:
        hugo = reachable_member(session, "Hugo", consents=[Consent.MESSAGES, Consent.STAFF_VISIBLE])
        session.flush()
        staff_check_in(session, hugo.id, SITE, datetime.now(UTC))
        moment = moment_soon(session, site, in_minutes=40, title="Atelier vélo")
        session.flush()
        hugo_id, moment_id = hugo.id, moment.id
    with staff.client(hub.base_url) as client:
        page = client.get("/staff").text
        assert "Suspendre toutes les relances" in page
        assert "Atelier vélo" in page  # offered in « Annoncer un moment maintenant »
        paused = client.post("/staff/nudges/pause", data={"csrf_token": staff.csrf})
        assert paused.headers["location"].startswith("/staff?msg=paused")
        assert "Reprendre les relances" in client.get(paused.headers["location"]).text
        with hub.runtime.sessions() as session:
            assert is_paused(session)
        client.post("/staff/nudges/resume", data={"csrf_token": staff.csrf})
        with hub.runtime.sessions() as session:
            assert not is_paused(session)
        async with SseClient(hub.events_url).open() as sse:
            form = {"csrf_token": staff.csrf, "site": SITE, "moment": str(moment_id)}
            announced = client.post("/staff/moments/announce", data=form)
            card = (await sse.next("announcement")).json()
        assert announced.headers["location"].startswith("/staff?msg=announced")
        unknown = client.post("/staff/moments/announce", data={**form, "moment": "999999"})
        assert "msg=unknown_moment" in unknown.headers["location"]
    assert card["title"] == "Atelier vélo"
    with hub.runtime.sessions() as session:
        triggers = session.scalars(select(NudgeTrigger.key)).all()
        decided = session.scalars(select(NudgeRecord).where(NudgeRecord.member_id == hugo_id)).all()
    assert any(key.startswith(f"announce:{moment_id}:") for key in triggers)
    # Hugo went through the guardrails like any invitation: sent, held out or skipped, logged.
    assert [(r.rule, r.moment_id) for r in decided] == [("moment_soon", moment_id)]
