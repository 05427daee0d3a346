"""The lobby page over real HTTP: local assets only, French, no member data, survives restarts."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import httpx
import paho.mqtt.publish as publish
import pytest

from hub.db.models import Consent
from hub.members import add_member
from tests.support.factories import moment_soon
from tests.support.hub_server import NODE, SITE, hub_config, running_hub
from tests.support.mosquitto import free_port
from tests.support.sse import SseClient
from vivant.wire import credential_for

KEY = "screen-test-credential-key"


@pytest.fixture
def config_args(system_broker_url: str, topic_root: str, tmp_path: Path) -> dict[str, object]:
    return {
        "broker_url": system_broker_url,
        "topic_root": topic_root,
        "db_url": f"sqlite:///{tmp_path / 'hub.db'}",
        "client_id": f"hub-{topic_root[:9]}",
        "port": free_port(),
    }


async def test_page_is_french_self_contained_and_carries_no_member_data(
    config_args: dict[str, object],
) -> None:
    with running_hub(hub_config(**config_args)) as hub:  # type: ignore[arg-type]
        with hub.runtime.sessions.begin() as session:
            add_member(session, "Zébulon", consents=[Consent.SCREEN_DISPLAY], badges=["a" * 32])
            moment_soon(
                session, hub.config.sites[0], in_minutes=30, title="Afterwork", kind="afterwork"
            )
        async with httpx.AsyncClient(base_url=hub.base_url) as client:
            page = await client.get(f"/screens/{SITE}/hall")
            assert page.status_code == 200
            html = page.text
            assert '<html lang="fr">' in html
            assert "Aujourd’hui à éKilibre" in html
            assert "Zébulon" not in html
            # Every asset is served by the hub: no CDN, no absolute URL at all.
            assets = re.findall(r'(?:src|href)="([^"]+)"', html)
            assert assets
            assert all(a.startswith("/static/") for a in assets)
            for asset in assets:
                assert (await client.get(asset)).status_code == 200
            state = (await client.get(f"/screens/{SITE}/hall/state")).json()
            assert [m["title"] for m in state["moments"]] == ["Afterwork"]
            assert state["moments"][0]["kind_label"] == "Afterwork"
            assert state["here_label"] == "0 coworker présent en ce moment"
            assert "Zébulon" not in json.dumps(state)
            assert (await client.get(f"/screens/{SITE}/nope")).status_code == 404
            assert (await client.get("/screens/nowhere/hall")).status_code == 404


async def test_stream_recovers_after_hub_restart(
    config_args: dict[str, object], system_broker_url: str, topic_root: str
) -> None:
    """A screen that reconnects (as EventSource does) after a restart gets a new boot id and
    greetings again, with no reload; the database keeps the members."""
    config = hub_config(**config_args)  # type: ignore[arg-type]
    with running_hub(config) as hub:
        with hub.runtime.sessions.begin() as session:
            add_member(
                session,
                "Inès",
                consents=[Consent.SCREEN_DISPLAY],
                badges=[credential_for(KEY, "0102")],
            )
        async with SseClient(f"{hub.screen_url}/events").open() as first:
            pass
        first_boot = first.hello["boot"]
    with running_hub(config) as hub:
        async with SseClient(f"{hub.screen_url}/events").open() as sse:
            assert sse.hello["boot"] != first_boot
            body = {"id": "after-restart", "ts": int(time.time() * 1000), "room": "accueil",
                    "reader": "porte", "credential": credential_for(KEY, "0102")}  # fmt: skip
            publish.single(f"{topic_root}/{SITE}/{NODE}/badge", json.dumps(body), qos=1,
                           hostname="127.0.0.1", port=1883)  # fmt: skip
            greeting = (await sse.next("greeting")).json()
    assert greeting["title"] == "Bonjour Inès !"


async def test_english_screen(config_args: dict[str, object]) -> None:
    config = hub_config(**config_args)  # type: ignore[arg-type]
    data = config.model_dump(mode="json")
    data["sites"][0]["screens"][0]["language"] = "en"
    data["mqtt"].pop("password", None)
    english = type(config).model_validate(data)
    with running_hub(english) as hub:
        async with httpx.AsyncClient(base_url=hub.base_url) as client:
            html = (await client.get(f"/screens/{SITE}/hall")).text
            state = (await client.get(f"/screens/{SITE}/hall/state")).json()
    assert '<html lang="en">' in html
    assert "Today at éKilibre" in html
    assert state["here_label"] == "0 coworkers here now"
