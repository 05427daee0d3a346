"""The lobby page over real HTTP: its token, local assets only, French, no member data, the idle
panels, greetings with a QR code, announcements, and a stream that survives restarts."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote
from zoneinfo import ZoneInfo

import httpx
import paho.mqtt.publish as publish
import pytest

from hub.config import HubConfig
from hub.db.models import Consent
from hub.members import add_member
from hub.rsvp import join
from hub.screen_announce import announce, announcement_view
from hub.screen_auth import screen_token
from hub.signing import Purpose
from hub.web import screens
from tests.support.factories import moment_soon
from tests.support.hub_server import NODE, SCREEN, SITE, SITE_ZONE, hub_config, running_hub
from tests.support.mosquitto import free_port
from tests.support.sse import SseClient
from vivant.wire import credential_for

KEY = "screen-test-credential-key"


@pytest.fixture
def config_args(system_broker_url: str, topic_root: str, tmp_path: Path) -> dict[str, Any]:
    return {
        "broker_url": system_broker_url,
        "topic_root": topic_root,
        "db_url": f"sqlite:///{tmp_path / 'hub.db'}",
        "client_id": f"hub-{topic_root[:9]}",
        "port": free_port(),
    }


def changed(config: HubConfig, edit: Any) -> HubConfig:
    """A copy of *config* after *edit* changed its JSON form."""
    data = config.model_dump(mode="json")
    data["mqtt"].pop("password", None)
    edit(data)
    return HubConfig.model_validate(data)


def tap(topic_root: str, uid: str, tap_id: str) -> None:
    body = {"id": tap_id, "ts": int(time.time() * 1000), "room": "accueil", "reader": "porte",
            "credential": credential_for(KEY, uid)}  # fmt: skip
    publish.single(f"{topic_root}/{SITE}/{NODE}/badge", json.dumps(body), qos=1,
                   hostname="127.0.0.1", port=1883)  # fmt: skip


async def test_page_is_french_self_contained_and_carries_no_member_data(
    config_args: dict[str, Any],
) -> None:
    with running_hub(hub_config(**config_args)) as hub:
        with hub.runtime.sessions.begin() as session:
            add_member(session, "Zébulon", consents=[Consent.SCREEN_DISPLAY], badges=["a" * 32])
            moment_soon(
                session, hub.config.sites[0], in_minutes=30, title="Afterwork", kind="afterwork"
            )
        async with httpx.AsyncClient() as client:
            page = await client.get(hub.screen_url)
            assert page.status_code == 200
            assert page.headers["cache-control"] == "no-store"
            html = page.text
            assert '<html lang="fr">' in html
            assert "Aujourd’hui à éKilibre" in html
            assert 'class="theme-dark"' in html
            assert "Zébulon" not in html
            # The page keeps its token for the state and the stream.
            assert f"/state?token={hub.screen_token}" in html
            assert f"/events?token={hub.screen_token}" in html
            # Every asset is served by the hub: no CDN, no absolute URL at all.
            assets = re.findall(r'(?:src|href)="([^"]+)"', html)
            assert assets
            assert all(a.startswith("/static/") for a in assets)
            for asset in assets:
                assert (await client.get(hub.base_url + asset)).status_code == 200
            state = (await client.get(hub.state_url)).json()
            today = state["panels"][0]
            assert today["kind"] == "today"
            assert [m["title"] for m in today["moments"]] == ["Afterwork"]
            assert today["moments"][0]["kind_label"] == "Afterwork"
            assert state["next"]["title"] == "Afterwork"
            assert state["next"]["room"] == "Cuisine"
            assert state["here_label"] == "0 coworker présent en ce moment"
            assert state["here_caption"] == "coworker présent en ce moment"
            assert "Zébulon" not in json.dumps(state)


async def test_a_screen_needs_its_own_valid_token(config_args: dict[str, Any]) -> None:
    config = changed(
        hub_config(**config_args),
        lambda d: d["sites"][0]["screens"].append({"id": "cafe", "token_version": 2}),
    )
    with running_hub(config) as hub:
        assert hub.runtime.signer is not None
        site = hub.config.sites[0]
        cafe = site.screen("cafe")
        assert cafe is not None
        base = f"{hub.base_url}/screens/{SITE}"
        cafe_token = screen_token(hub.runtime.signer, site, cafe)
        stale = hub.runtime.signer.dumps(Purpose.SCREEN, {"site": SITE, "screen": "cafe", "v": 1})
        rsvp = hub.runtime.signer.dumps(Purpose.RSVP, {"site": SITE, "screen": SCREEN, "v": 1})
        async with httpx.AsyncClient() as client:
            for path in ("", "/state", "/events"):
                assert (await client.get(f"{base}/{SCREEN}{path}")).status_code == 401
                for wrong in (cafe_token, stale, rsvp, "garbage", hub.screen_token[:-3] + "AAA"):
                    response = await client.get(f"{base}/{SCREEN}{path}", params={"token": wrong})
                    assert response.status_code == 403, (path, wrong)
            assert (await client.get(f"{base}/{SCREEN}/state?token={hub.screen_token}")).is_success
            assert (await client.get(f"{base}/cafe/state", params={"token": cafe_token})).is_success
            # Revoked: version 1 of the café screen no longer opens it.
            assert (await client.get(f"{base}/cafe", params={"token": stale})).status_code == 403
            unknown = await client.get(f"{base}/nope", params={"token": hub.screen_token})
            assert unknown.status_code == 404
            nowhere = await client.get(f"{hub.base_url}/screens/nowhere/{SCREEN}")
            assert nowhere.status_code == 404


async def test_idle_panels_show_the_coming_days_and_sister_sites(
    config_args: dict[str, Any],
) -> None:
    def add_rooftop(data: dict[str, Any]) -> None:
        data["sites"].append(
            {
                "id": "rooftop-viry",
                "name": "Le Rooftop de Viry",
                "timezone": SITE_ZONE,
                "rooms": [{"id": "rooftop", "name": "Rooftop", "kind": "community"}],
            }
        )

    config = changed(hub_config(**config_args), add_rooftop)
    with running_hub(config) as hub:
        here, rooftop = hub.config.sites
        with hub.runtime.sessions.begin() as session:
            moment_soon(session, here, in_minutes=26 * 60, title="Atelier vélo", kind="workshop")
            moment_soon(session, here, in_minutes=-30, title="Petit-déjeuner")
            moment_soon(
                session, rooftop, in_minutes=90, title="Afterwork", kind="afterwork",
                room_id="rooftop",
            )  # fmt: skip
            moment_soon(
                session, rooftop, in_minutes=-120, lasting=30, title="Fini", room_id="rooftop"
            )
        async with httpx.AsyncClient() as client:
            state = (await client.get(hub.state_url)).json()
    panels = {p["kind"]: p for p in state["panels"]}
    assert [m["title"] for m in panels["today"]["moments"]] == ["Petit-déjeuner"]
    assert panels["today"]["moments"][0]["status"] == "now"
    assert panels["upcoming"]["title"] == "Bientôt à éKilibre"
    upcoming = panels["upcoming"]["moments"]
    assert [m["title"] for m in upcoming] == ["Atelier vélo"]
    local = datetime.now(ZoneInfo(SITE_ZONE))
    starts = local + timedelta(hours=26)
    if starts.date() == local.date() + timedelta(days=1):
        assert upcoming[0]["day"] == "Demain"
    else:  # late in the evening, 26 h later is the day after tomorrow: its weekday and date
        assert re.fullmatch(r"[a-z]+ \d{1,2} [a-zéû]+", upcoming[0]["day"])
    assert panels["sisters"]["title"] == "Dans nos autres espaces"
    assert [(m["title"], m["site"]) for m in panels["sisters"]["moments"]] == [
        ("Afterwork", "Le Rooftop de Viry")
    ]
    # The next moment is the next one to start here (the breakfast is already on).
    assert state["next"]["title"] == "Atelier vélo"


async def test_greeting_has_a_qr_code_to_join_the_first_moment(
    config_args: dict[str, Any], topic_root: str
) -> None:
    config = changed(
        hub_config(**config_args),
        lambda d: d["http"].update(public_url="https://vivant.ekilibre.example"),
    )
    with running_hub(config) as hub:
        with hub.runtime.sessions.begin() as session:
            shown = add_member(session, "Camille", consents=[Consent.SCREEN_DISPLAY],
                               badges=[credential_for(KEY, "0B")])  # fmt: skip
            add_member(session, "Timide", badges=[credential_for(KEY, "0A")])
            moment = moment_soon(session, hub.config.sites[0], in_minutes=20)
            session.flush()
            join(session, moment.id, shown.id, datetime.now(UTC))
            moment_id = moment.id
        async with SseClient(hub.events_url).open() as sse:
            tap(topic_root, "0B", "qr-1")
            raw = (await sse.next("greeting")).data
            raw_code = (await sse.next("greeting-qr")).data  # right after its card
            tap(topic_root, "0A", "qr-2")
            raw_shy = (await sse.next("greeting")).data
            tap(topic_root, "0B", "qr-3")
            # What comes after the shy card is the next card: no code for it came between.
            after_shy = await asyncio.wait_for(sse.events.get(), 5)
    greeting = json.loads(raw)
    assert greeting["kind"] == "greeting"
    assert greeting["title"] == "Bonjour Camille !"
    assert [m["title"] for m in greeting["moments"]] == ["Petit-déjeuner des coworkers"]
    first = greeting["moments"][0]
    assert (first["going_count"], first["going_names"]) == (1, ["Camille"])
    qr = greeting["qr"]
    assert qr == {"label": "Scannez pour vous inscrire", "moment": "Petit-déjeuner des coworkers"}
    code = json.loads(raw_code)
    assert set(code) == {"id", "size", "modules"}
    assert code["id"] == greeting["id"]  # the code of this card
    assert code["size"] == 37  # version 5: the sealed link is short (tests/hub/test_qr.py)
    assert len(base64.b64decode(code["modules"])) == (37 * 37 + 7) // 8
    # The member's id is not in the events in clear: only inside the QR code's picture (what
    # the code links to is checked in tests/hub/test_screen_view.py).
    assert "rsvp" not in raw
    assert "rsvp" not in raw_code
    assert set(greeting) == {"kind", "id", "title", "subtitle", "moments", "qr"}
    assert re.fullmatch(r"[0-9a-f]{32}", greeting["id"])  # the greeting's own id
    assert first["id"] == moment_id
    # A member who did not allow their name: no name, and no QR code anyone could photograph.
    shy_greeting = json.loads(raw_shy)
    assert shy_greeting["title"] == "Bienvenue !"
    assert "Timide" not in raw_shy
    assert shy_greeting["qr"] is None
    assert after_shy.name == "greeting"
    assert json.loads(after_shy.data)["title"] == "Bonjour Camille !"


async def test_announcement_reaches_the_screens_in_their_language(
    config_args: dict[str, Any],
) -> None:
    with running_hub(hub_config(**config_args)) as hub:
        with hub.runtime.sessions.begin() as session:
            moment = moment_soon(session, hub.config.sites[0], in_minutes=10.5, title="Petit-déj")
            session.flush()
            moment_id = moment.id
        async with SseClient(hub.events_url).open() as sse:
            # From another thread, as a dispatcher worker would.
            await asyncio.to_thread(announce, hub.runtime, SITE, moment_id)
            card = (await sse.next("announcement")).json()
            # An unknown moment is not announced; the stream goes on.
            announce(hub.runtime.broadcaster, SITE, 999_999)
            announce(hub.runtime, SITE, moment_id)
            again = (await sse.next("announcement")).json()
    assert card["kind"] == "announcement"
    assert card["title"] == "Petit-déj"
    assert card["subtitle"] in {"Cuisine, dans 10 min", "Cuisine, dans 9 min"}
    assert card["eyebrow"] == "À ne pas manquer"
    assert re.fullmatch(r"\d\d:\d\d–\d\d:\d\d", card["detail"])
    assert again["id"] != card["id"]


async def test_many_screens_share_one_rendering_of_an_event(
    config_args: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[int] = []

    def counted(*args: Any) -> dict[str, Any] | None:
        reads.append(1)
        return announcement_view(*args)

    monkeypatch.setattr(screens, "announcement_view", counted)
    with running_hub(hub_config(**config_args)) as hub:
        with hub.runtime.sessions.begin() as session:
            moment = moment_soon(session, hub.config.sites[0], in_minutes=30)
            session.flush()
            moment_id = moment.id
        clients = [SseClient(hub.events_url) for _ in range(5)]
        async with contextlib.AsyncExitStack() as stack:
            for client in clients:
                await stack.enter_async_context(client.open())
            announce(hub.runtime, SITE, moment_id)
            cards = [(await client.next("announcement")).data for client in clients]
    assert len(set(cards)) == 1
    assert reads == [1]


async def test_stream_recovers_after_hub_restart(
    config_args: dict[str, Any], topic_root: str
) -> None:
    """A screen that reconnects (as EventSource does) after a restart gets a new boot id and
    greetings again, with no reload; the database keeps the members and the token stays good."""
    config = hub_config(**config_args)
    with running_hub(config) as hub:
        with hub.runtime.sessions.begin() as session:
            add_member(
                session,
                "Inès",
                consents=[Consent.SCREEN_DISPLAY],
                badges=[credential_for(KEY, "0102")],
            )
        events_url = hub.events_url
        async with SseClient(events_url).open() as first:
            pass
        first_boot = first.hello["boot"]
    with running_hub(config) as hub:
        async with SseClient(events_url).open() as sse:
            assert sse.hello["boot"] != first_boot
            assert sse.hello["version"]
            tap(topic_root, "0102", "after-restart")
            greeting = (await sse.next("greeting")).json()
    assert greeting["title"] == "Bonjour Inès !"


async def test_english_light_screen(config_args: dict[str, Any]) -> None:
    def english(data: dict[str, Any]) -> None:
        data["sites"][0]["screens"][0].update(language="en", theme="light")

    with running_hub(changed(hub_config(**config_args), english)) as hub:
        async with httpx.AsyncClient() as client:
            html = (await client.get(hub.screen_url)).text
            state = (await client.get(hub.state_url)).json()
    assert '<html lang="en">' in html
    assert 'class="theme-light"' in html
    assert "Today at éKilibre" in html
    assert state["here_label"] == "0 coworkers here now"
    assert state["next"] is None
    assert [p["kind"] for p in state["panels"]] == ["today"]
    assert state["panels"][0]["empty"] == "No more moments today. See you tomorrow!"


def test_token_in_url_is_url_safe(config_args: dict[str, Any]) -> None:
    with running_hub(hub_config(**config_args)) as hub:
        assert unquote(hub.screen_token) == hub.screen_token
