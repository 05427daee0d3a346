"""The lobby page in a real browser (Chromium through Playwright) against a real hub and Mosquitto:
badges make greetings appear, taps arriving together are queued, announcements show, and the page
lives through a hub restart without a reload. Screenshots go to ``test-artifacts/``."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import paho.mqtt.publish as publish
import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from hub.config import HubConfig
from hub.db.models import Consent, Moment
from hub.members import add_member
from hub.presence import on_site_count
from hub.screen_announce import announce
from tests.support.browser import screenshot
from tests.support.factories import moment_soon
from tests.support.hub_server import (
    NODE,
    SITE,
    SITE_ZONE,
    RunningHub,
    hub_config,
    running_hub,
    start_hub,
)
from tests.support.mosquitto import free_port
from tests.support.waiting import wait_until
from vivant.wire import credential_for

KEY = "browser-test-credential-key"
CAMILLE, INES = "04A1B2C3D4E5F6", "04FFEE010203"


@pytest.fixture
def config(system_broker_url: str, topic_root: str, tmp_path: Path) -> HubConfig:
    base = hub_config(
        system_broker_url, topic_root, f"sqlite:///{tmp_path / 'hub.db'}",
        client_id=f"hub-{topic_root[:9]}", port=free_port(),
    )  # fmt: skip
    data = base.model_dump(mode="json")
    data["mqtt"].pop("password", None)
    data["greeting_seconds"] = 3
    data["sites"].append(
        {
            "id": "rooftop-viry",
            "name": "Le Rooftop de Viry",
            "timezone": SITE_ZONE,
            "rooms": [{"id": "rooftop", "name": "Rooftop", "kind": "community"}],
        }
    )
    return HubConfig.model_validate(data)


def seed(hub: RunningHub) -> None:
    """Two members (Camille shown by name, Inès too) and a day of moments at both sites."""
    here, rooftop = hub.config.sites
    with hub.runtime.sessions.begin() as session:
        for name, uid in (("Camille", CAMILLE), ("Inès", INES)):
            add_member(
                session, name, consents=[Consent.SCREEN_DISPLAY], badges=[credential_for(KEY, uid)]
            )
        moment_soon(session, here, in_minutes=-20, lasting=60, title="Petit-déjeuner des coworkers")
        moment_soon(
            session, here, in_minutes=25, lasting=90, title="Atelier : pitcher en 3 minutes",
            kind="workshop", room_id="open-space",
        )  # fmt: skip
        moment_soon(
            session, here, in_minutes=26 * 60, title="Déjeuner partagé", kind="lunch",
        )  # fmt: skip
        moment_soon(
            session, rooftop, in_minutes=5 * 60, title="Afterwork sur le toit",
            kind="afterwork", room_id="rooftop",
        )  # fmt: skip


def tap(hub: RunningHub, uid: str, tap_id: str) -> None:
    """What the entrance reader's edge agent publishes for a tap."""
    body = {"id": tap_id, "ts": int(time.time() * 1000), "room": "accueil", "reader": "porte",
            "credential": credential_for(KEY, uid)}  # fmt: skip
    publish.single(f"{hub.config.mqtt.topic_root}/{SITE}/{NODE}/badge", json.dumps(body), qos=1,
                   hostname="127.0.0.1", port=1883)  # fmt: skip


def open_screen(page: Page, hub: RunningHub, **query: str) -> None:
    extra = "".join(f"&{k}={v}" for k, v in query.items())
    page.goto(hub.screen_url + extra)
    expect(page.locator("body")).to_have_attribute("data-connected", "true", timeout=10_000)
    expect(page.locator("body")).to_have_attribute("data-ready", "true")


def test_badge_greets_and_a_second_badge_is_queued(page: Page, config: HubConfig) -> None:
    card, title = page.locator("#card"), page.locator("#card-title")
    with running_hub(config) as hub:
        seed(hub)
        open_screen(page, hub)
        expect(page.locator("#panel-title")).to_have_text("Aujourd’hui à éKilibre")
        expect(page.locator("#moments .title").first).to_have_text("Petit-déjeuner des coworkers")
        expect(page.locator("#here-count")).to_have_text("0")

        tap(hub, CAMILLE, "browser-1")
        expect(title).to_have_text("Bonjour Camille !", timeout=5_000)
        tap(hub, INES, "browser-2")  # while Camille's card is on screen
        expect(page.locator("#card-waiting")).to_have_text("+1")
        expect(title).to_have_text("Bonjour Camille !")
        expect(page.locator("#card-subtitle")).to_have_text("Aujourd’hui, près de vous")
        expect(page.locator("#card-moments .title").first).to_have_text(
            "Petit-déjeuner des coworkers"
        )
        expect(page.locator("#card-qr svg")).to_be_visible()
        expect(page.locator("#card-qr-label")).to_have_text("Scannez pour vous inscrire")
        # Drawn by the page from the modules (hub.qr.qr_modules): a square of 17 + 4 × version
        # modules, its top row starting with a finder pattern's 7 dark modules, then a light one.
        expect(page.locator("#card-qr svg")).to_have_attribute(
            "viewBox", re.compile(r"0 0 (2[159]|3[37]) \1")
        )
        path = page.locator("#card-qr svg path").get_attribute("d") or ""
        assert path.startswith("M0 0h7v1h-7zM")
        assert not path.startswith("M0 0h8")
        page.wait_for_timeout(600)  # the card's arrival animation
        screenshot(page, "lobby-greeting-fr-1080p")

        expect(title).to_have_text("Bonjour Inès !", timeout=5_000)
        expect(page.locator("#card-waiting")).to_be_hidden()
        expect(card).to_be_hidden(timeout=5_000)
        # Back to idle, with both members counted.
        wait_until(lambda: count_here(hub) == 2, what="two members on site")
        expect(page.locator("#here-count")).to_have_text("2", timeout=5_000)
        expect(page.locator("#here")).to_have_text("coworkers présents en ce moment")
        expect(page.locator("#next-title")).to_have_text("Atelier : pitcher en 3 minutes")
        page.wait_for_timeout(600)
        screenshot(page, "lobby-idle-fr-1080p")

        # The page source never held the members: only the live DOM did, while shown.
        source = page.evaluate("document.documentElement.outerHTML")
        assert "Camille" not in source
        assert "Inès" not in source


def count_here(hub: RunningHub) -> int:
    with hub.runtime.sessions() as session:
        return on_site_count(session, SITE)


def test_idle_rotates_panels_and_shows_announcements(page: Page, config: HubConfig) -> None:
    with running_hub(config) as hub:
        seed(hub)
        page.clock.install()  # the page's timers run on a clock the test moves
        open_screen(page, hub)
        panel_title = page.locator("#panel-title")
        expect(panel_title).to_have_text("Aujourd’hui à éKilibre")
        expect(page.locator("#dots li")).to_have_count(3)
        page.clock.run_for(12_600)
        expect(panel_title).to_have_text("Bientôt à éKilibre")
        expect(page.locator("#moments .day").first).not_to_be_empty()
        page.clock.run_for(12_600)
        expect(panel_title).to_have_text("Dans nos autres espaces")
        expect(page.locator("#moments .meta").first).to_contain_text("Le Rooftop de Viry")
        page.wait_for_timeout(100)
        screenshot(page, "lobby-sisters-fr-1080p")

        with hub.runtime.sessions() as session:
            moment_id = session.scalars(
                select(Moment.id).where(Moment.title == "Atelier : pitcher en 3 minutes")
            ).one()
        announce(hub.runtime, SITE, moment_id)  # from this (non-loop) thread, like a dispatcher
        expect(page.locator("#card")).to_have_attribute("data-kind", "announcement")
        expect(page.locator("#card-title")).to_have_text("Atelier : pitcher en 3 minutes")
        expect(page.locator("#card-subtitle")).to_have_text(
            re.compile(r"^Open space, dans (24|25) min$")
        )
        expect(page.locator("#card-eyebrow")).to_have_text("À ne pas manquer")
        page.wait_for_timeout(700)  # the card's arrival animation (CSS runs on real time)
        screenshot(page, "lobby-announcement-fr-1080p")


def test_page_lives_through_a_hub_restart(page: Page, config: HubConfig) -> None:
    hub = start_hub(config)
    try:
        seed(hub)
        open_screen(page, hub)
        first_boot = page.locator("body").get_attribute("data-boot")
        page.evaluate("window.__notReloaded = true")
        hub.stop()
        expect(page.locator("body")).to_have_attribute("data-connected", "false", timeout=10_000)
        hub = start_hub(config)
        body = page.locator("body")
        expect(body).to_have_attribute("data-connected", "true", timeout=15_000)
        assert body.get_attribute("data-boot") != first_boot
        tap(hub, CAMILLE, "after-restart")
        expect(page.locator("#card-title")).to_have_text("Bonjour Camille !", timeout=5_000)
        assert page.evaluate("window.__notReloaded") is True
    finally:
        hub.stop()


def test_english_light_screen_4k(page: Page, config: HubConfig) -> None:
    data: dict[str, Any] = config.model_dump(mode="json")
    data["mqtt"].pop("password", None)
    data["sites"][0]["screens"][0].update(language="en", theme="light")
    with running_hub(HubConfig.model_validate(data)) as hub:
        seed(hub)
        page.set_viewport_size({"width": 3840, "height": 2160})
        open_screen(page, hub)
        expect(page.locator("#panel-title")).to_have_text("Today at éKilibre")
        expect(page.locator("#here")).to_have_text("coworkers here now")
        tap(hub, CAMILLE, "english-1")
        expect(page.locator("#card-title")).to_have_text("Hello Camille!", timeout=5_000)
        page.wait_for_timeout(600)
        screenshot(page, "lobby-greeting-en-light-4k")
        # Sizes follow the viewport: at 4K everything is twice its 1080p size, same layout.
        at_4k = font_sizes(page)
        page.set_viewport_size({"width": 1920, "height": 1080})
        at_1080p = font_sizes(page)
        assert at_4k == pytest.approx([2 * size for size in at_1080p], rel=0.01)
        # A squarer zone (a 5:4 monitor, an Anthias or Xibo layout): the idle screen still fits.
        expect(page.locator("#card")).to_be_hidden(timeout=5_000)
        page.set_viewport_size({"width": 1280, "height": 1024})
        for part in ("#panel", ".side", ".bottom", "#next"):
            box = page.locator(part).bounding_box()
            assert box is not None
            assert box["x"] + box["width"] <= 1280
            assert box["y"] + box["height"] <= 1024, part
        screenshot(page, "lobby-idle-en-light-5x4")


def font_sizes(page: Page) -> list[float]:
    sizes: list[float] = page.evaluate(
        """["card-title", "card-subtitle", "clock", "here-count", "panel-title"].map(
             (id) => parseFloat(getComputedStyle(document.getElementById(id)).fontSize))"""
    )
    return sizes
