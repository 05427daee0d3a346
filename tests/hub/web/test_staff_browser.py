"""The staff pages in a real browser (Chromium through Playwright) against a real hub and Mosquitto:
signing in and out through the form, a refused role, the dashboard's live counts, a hub restart
lived through without a reload, and no Content-Security-Policy violation on the way. Screenshots
of the dashboard and of the sign-in page go to ``test-artifacts/``."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.publish as publish
import pytest
from playwright.sync_api import ConsoleMessage, Page, expect

from hub.accounts import Role, add_user, open_session
from hub.attendance import mark_attendance
from hub.config import HubConfig
from hub.db.models import Consent
from hub.members import add_member
from hub.presence import staff_check_in
from hub.web.auth import SESSION_COOKIE
from tests.support.accounts import PASSWORD
from tests.support.browser import screenshot
from tests.support.factories import moment_soon
from tests.support.hub_server import NODE, SITE, RunningHub, hub_config, running_hub, start_hub
from tests.support.mosquitto import free_port

EMAIL = "lea.martin@ekilibre.example.fr"
SENSOR_NODE = "cuisine-capteurs"


@pytest.fixture
def config(system_broker_url: str, topic_root: str, tmp_path: Path) -> HubConfig:
    base = hub_config(
        system_broker_url, topic_root, f"sqlite:///{tmp_path / 'hub.db'}",
        client_id=f"hub-{topic_root[:9]}", port=free_port(),
    )  # fmt: skip
    data: dict[str, Any] = base.model_dump(mode="json")
    data["mqtt"].pop("password", None)
    data["live_tick_s"] = 0.5
    # A second node, never heard from: the dashboard flags it.
    data["sites"][0]["nodes"].append({"id": SENSOR_NODE, "rooms": ["cuisine"]})
    return HubConfig.model_validate(data)


@dataclass
class Console:
    """What the page said in its console, and the errors it threw."""

    messages: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def watch(self, page: Page) -> None:
        def on_console(message: ConsoleMessage) -> None:
            url = message.location.get("url", "")
            if message.type not in ("error", "warning") or expected_failure(message.text, url):
                return
            self.messages.append(f"{message.type}: {message.text} ({url})")

        page.on("console", on_console)
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    def assert_clean(self) -> None:
        """No CSP violation (Chromium reports them as console errors), no error at all."""
        assert self.messages == []
        assert self.errors == []


def expected_failure(text: str, url: str) -> bool:
    """Responses that are meant to fail: the browser's own favicon request (the pages declare
    none), and the sign-in page answering a wrong password with 401."""
    path = urlsplit(url).path
    return text.startswith("Failed to load resource") and (
        (path == "/favicon.ico" and "404" in text) or (path == "/login" and "401" in text)
    )


@pytest.fixture
def console(page: Page) -> Console:
    watched = Console()
    watched.watch(page)
    return watched


def publish_node(hub: RunningHub, node: str, kind: str, payload: str, retain: bool = False) -> None:
    """What an edge node publishes on the real broker."""
    publish.single(
        f"{hub.config.mqtt.topic_root}/{SITE}/{node}/{kind}", payload, qos=1, retain=retain,
        hostname="127.0.0.1", port=1883,
    )  # fmt: skip


def people_in(hub: RunningHub, room: str, value: int, node: str = NODE) -> None:
    """A door counter's reading for *room*."""
    body = {"id": f"sensor-{time.time_ns()}", "ts": int(time.time() * 1000), "room": room,
            "kind": "people_in", "value": value}  # fmt: skip
    publish_node(hub, node, "sensor", json.dumps(body))


def node_health(hub: RunningHub, node: str, outbox: int) -> None:
    """A node's retained status and telemetry."""
    publish_node(hub, node, "status", "online", retain=True)
    telemetry = {"ts": int(time.time() * 1000), "version": "0.4.0", "uptime_s": 86_400,
                 "outbox_depth": outbox, "dropped": 0}  # fmt: skip
    publish_node(hub, node, "telemetry", json.dumps(telemetry), retain=True)


def sign_in_browser(page: Page, hub: RunningHub, role: Role = Role.STAFF) -> None:
    """Put a fresh account's session cookie in the page's browser context."""
    with hub.runtime.sessions.begin() as session:
        user = add_user(session, f"{role.value}.{time.time_ns()}@ekilibre.example.fr", PASSWORD,
                        role, name="Léa Martin")  # fmt: skip
        cookie = open_session(session, user)
    page.context.add_cookies([{"name": SESSION_COOKIE, "value": cookie, "url": hub.base_url}])


def live_count(page: Page, room: str) -> Any:
    return page.locator(f'#live-{SITE} tr[data-room="{room}"] td.count')


def seed_busy_day(hub: RunningHub) -> None:
    """Members on site (three shown by name, one who does not share), a moment on, two nodes."""
    now = datetime.now(UTC)
    site = hub.config.sites[0]
    with hub.runtime.sessions.begin() as session:
        on_site = [
            add_member(session, first, last_name=last, consents=[Consent.STAFF_VISIBLE])
            for first, last in (("Camille", "Durand"), ("Inès", "Benali"), ("Hugo", "Lefèvre"))
        ]
        on_site.append(add_member(session, "Noé"))  # no consent: counted, never named
        add_member(session, "Zoé", last_name="Petit", consents=[Consent.STAFF_VISIBLE])
        for minutes, member in zip((95, 62, 31, 12), on_site, strict=True):
            staff_check_in(session, member.id, SITE, now - timedelta(minutes=minutes))
        moment = moment_soon(
            session, site, in_minutes=-25, lasting=75, title="Petit-déjeuner des coworkers"
        )
        moment_soon(
            session, site, in_minutes=40, lasting=90, title="Atelier : pitcher en 3 minutes",
            kind="workshop", room_id="open-space",
        )  # fmt: skip
        session.flush()
        for member in on_site[:2]:
            mark_attendance(session, moment, member.id, now)
    node_health(hub, NODE, outbox=0)
    node_health(hub, SENSOR_NODE, outbox=240)  # its network is slow: a backlog to look at


@pytest.fixture
def clean_retained(config: HubConfig) -> Iterator[None]:
    """Retained node messages published by a test are removed from the shared broker after it."""
    yield
    for node in (NODE, SENSOR_NODE):
        for kind in ("status", "telemetry"):
            publish.single(
                f"{config.mqtt.topic_root}/{SITE}/{node}/{kind}", None, qos=1, retain=True,
                hostname="127.0.0.1", port=1883,
            )  # fmt: skip


def test_sign_in_wrong_password_and_sign_out(
    page: Page, config: HubConfig, console: Console
) -> None:
    with running_hub(config) as hub:
        with hub.runtime.sessions.begin() as session:
            add_user(session, EMAIL, PASSWORD, Role.STAFF, name="Léa Martin")

        # Signed out, the dashboard sends to the sign-in page, in French.
        page.goto(f"{hub.base_url}/staff")
        expect(page).to_have_url(f"{hub.base_url}/login?next=%2Fstaff")
        expect(page.locator("html")).to_have_attribute("lang", "fr")
        expect(page.locator("h1")).to_have_text("Se connecter à Vivant")
        screenshot(page, "staff-login-fr-1080p")

        # A wrong password: a clear message, no way in.
        page.get_by_label("Adresse e-mail").fill(EMAIL)
        page.get_by_label("Mot de passe").fill("not the password")
        page.get_by_role("button", name="Se connecter").click()
        expect(page.locator("#login-error")).to_have_text(
            "Adresse e-mail ou mot de passe incorrect."
        )
        expect(page).to_have_url(f"{hub.base_url}/login")

        # The right one lands on the dashboard asked for first.
        page.get_by_label("Mot de passe").fill(PASSWORD)
        page.get_by_role("button", name="Se connecter").click()
        expect(page).to_have_url(f"{hub.base_url}/staff")
        expect(page.locator(".who")).to_contain_text("Léa Martin")
        expect(page.locator("#live-status")).to_have_text("En direct", timeout=10_000)
        console.assert_clean()

        page.get_by_role("button", name="Se déconnecter").click()
        expect(page.locator(".notice")).to_have_text("Vous êtes déconnecté·e.")
        page.goto(f"{hub.base_url}/staff")
        expect(page).to_have_url(f"{hub.base_url}/login?next=%2Fstaff")
        # Nor does the browser's Back button show the dashboard again (it is not cached).
        page.go_back()  # the "signed out" page
        page.go_back()  # the dashboard's place in history: asked again, refused again
        expect(page).to_have_url(f"{hub.base_url}/login?next=%2Fstaff")
        expect(page.locator("h1")).to_have_text("Se connecter à Vivant")
        console.assert_clean()


def test_staff_cannot_open_the_admin_pages(page: Page, config: HubConfig) -> None:
    with running_hub(config) as hub:
        sign_in_browser(page, hub, Role.STAFF)
        response = page.goto(f"{hub.base_url}/admin/users")
        assert response is not None
        assert response.status == 403
        expect(page.locator("h1")).to_have_text("Accès refusé")
        expect(page.locator(".bar nav")).not_to_contain_text("Comptes")


@pytest.mark.usefixtures("clean_retained")
def test_dashboard_counts_change_live(page: Page, config: HubConfig, console: Console) -> None:
    with running_hub(config) as hub:
        seed_busy_day(hub)
        sign_in_browser(page, hub)
        page.goto(f"{hub.base_url}/staff")
        page.evaluate("window.__notReloaded = true")
        expect(page.locator("#live-status")).to_have_text("En direct", timeout=10_000)
        expect(page.locator(f'#live-{SITE} tr[data-node="{NODE}"] td').first).to_have_text(
            "en ligne", timeout=10_000
        )
        count = live_count(page, "accueil")
        # A door counter says seven people came into the lobby.
        people_in(hub, "accueil", 7)
        expect(count).to_have_attribute("data-count", "7", timeout=10_000)
        expect(count).to_have_text("7")
        people_in(hub, "cuisine", 5, node=SENSOR_NODE)
        expect(live_count(page, "cuisine")).to_have_attribute("data-count", "5", timeout=10_000)
        expect(page.locator(f"#live-{SITE} .summary .figure")).to_have_text("4")
        people = page.locator(f"#live-{SITE} .people-list .name")
        expect(people).to_have_text(["Camille Durand", "Inès Benali", "Hugo Lefèvre"])
        expect(page.locator(f"#live-{SITE} .people")).not_to_contain_text("Noé")
        expect(page.locator(f"#live-{SITE} .moments li")).to_contain_text(
            "Petit-déjeuner des coworkers"
        )
        assert page.evaluate("window.__notReloaded") is True
        page.mouse.move(0, 0)
        screenshot(page, "staff-dashboard-fr-1080p")
        page.emulate_media(color_scheme="dark")  # the desk's system may be in dark mode
        screenshot(page, "staff-dashboard-dark-fr-1080p")
        console.assert_clean()

        # The lobby page of the same hub keeps to its CSP too.
        page.goto(hub.screen_url)
        expect(page.locator("body")).to_have_attribute("data-connected", "true", timeout=10_000)
        expect(page.locator("body")).to_have_attribute("data-ready", "true")
        console.assert_clean()


def test_dashboard_lives_through_a_hub_restart(page: Page, config: HubConfig) -> None:
    hub = start_hub(config)
    try:
        sign_in_browser(page, hub)  # the session is in the database: it outlives the restart
        page.goto(f"{hub.base_url}/staff")
        status = page.locator("#live-status")
        expect(status).to_have_text("En direct", timeout=10_000)
        page.evaluate("window.__notReloaded = true")
        hub.stop()
        expect(status).to_have_text("Reconnexion…", timeout=10_000)
        expect(status).to_have_class("live-status offline")
        hub = start_hub(config)
        expect(status).to_have_text("En direct", timeout=15_000)
        people_in(hub, "accueil", 4)
        expect(live_count(page, "accueil")).to_have_attribute("data-count", "4", timeout=10_000)
        assert page.evaluate("window.__notReloaded") is True
    finally:
        hub.stop()
