"""Secrets never in logs: the filter itself, then a full run of a hub whose every log line (at
DEBUG, uvicorn's access log included) is searched for each secret and signed token it used."""

from __future__ import annotations

import asyncio
import http.server
import json
import logging
import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import paho.mqtt.publish as publish
import pytest
from fastapi import FastAPI
from icalendar import Calendar, Event

from edge.agent import EdgeAgent
from edge.config import EdgeConfig
from edge.sources.badge import FakeBadgeReader
from hub import log_redaction
from hub.accounts import Role, add_user
from hub.config import HubConfig
from hub.db.models import Consent
from hub.log_redaction import REDACTED, RedactSecrets, secret_values
from hub.members import add_member
from hub.privacy import link_token
from hub.rsvp import rsvp_url
from hub.screen_auth import screen_url
from hub.web.privacy import PrivacyDesk
from tests.edge.conftest import edge_config_data, running
from tests.edge.conftest import wait_until as edge_wait
from tests.hub.channels.conftest import SmtpReceiver, smtp_receiver
from tests.support.accounts import api_token
from tests.support.factories import moment_soon, reachable_member
from tests.support.hub_server import NODE, SCREEN, SITE, hub_config, running_hub
from tests.support.mosquitto import free_port
from tests.support.waiting import wait_until

__all__ = ["smtp_receiver"]  # the fixture, for this module

MQTT_PASSWORD = "mqtt-pw-Xq7vR2kLm9"
INFLUX_TOKEN = "influx-tok-Zr5TfW8yHc3NpQ"
SMTP_PASSWORD = "smtp-pw-Jd4GsV6bLe"
FEED_TOKEN = "feed-tok-Kw2MxP9qRt"
FEED_PATH_SECRET = "private-8f3a9c1e77d2b6"
SECRET_KEY = "hub-secret-key-Yh3Nc8Vb2Lq6Ws9Df4Gk7Jp"
USER_PASSWORD = "user-pw-Tn6Bz1Qw8Ea"
WRONG_PASSWORD = "wrong-pw-Uc3Mv7Xs2Ho"
MEMBER_HOOK_PASSWORD = "member-hook-pw-Rb5Ly9"
EDGE_PASSWORD = "edge-pw-Gm4Wq8Zs1"
CREDENTIAL_KEY = "credential-key-Pv7Hn2Ck5Xd9Lt3Rf"
UID = "04A1B2C3D4E5F6"
SIGNED = re.compile(r"[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{4,12}\.[A-Za-z0-9_-]{20,}")


def test_the_filter_blanks_links_query_tokens_url_passwords_and_configured_secrets() -> None:
    redactor = RedactSecrets(["a-configured-secret"])
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/rsvp/eyJtZW1iZXIiOjF9.aBcD12.sig-nature_0123456789abcdef",
         "1.1", 200), None,
    )  # fmt: skip
    assert redactor.filter(record)
    assert isinstance(record.args, tuple)
    assert len(record.args) == 5  # the access formatter unpacks it
    assert record.getMessage() == f'127.0.0.1:5000 - "GET /rsvp/{REDACTED} HTTP/1.1" 200'
    cases = {
        "/privacy/abcdefgh12345/export.json": f"/privacy/{REDACTED}/export.json",
        "/privacy/request": "/privacy/request",
        "/screens/s/h/state?token=abc.def&lang=en": f"/screens/s/h/state?token={REDACTED}&lang=en",
        "connecting to mqtt://hub:pa55word@broker:1883": f"connecting to mqtt://hub:{REDACTED}@broker:1883",
        "Authorization: Bearer vvt_abcdef123": f"Authorization: Bearer {REDACTED}",
        "token vvt_abcdef123 used": f"token vvt_{REDACTED} used",
        "key is a-configured-secret!": f"key is {REDACTED}!",
        "module hub.web.auth at 12.5 s": "module hub.web.auth at 12.5 s",
    }  # fmt: skip
    for text, expected in cases.items():
        assert redactor.redact(text) == expected


def test_secret_values_walks_the_configuration_and_splits_urls(tmp_path: Path) -> None:
    data = hub_config("mqtt://127.0.0.1:1883", "t/v1", f"sqlite:///{tmp_path / 'h.db'}").model_dump(
        mode="json"
    )
    data["mqtt"].update(username="hub", password=MQTT_PASSWORD)
    data["sites"][0]["calendar_feeds"] = [
        {"url": f"https://cal.example/{FEED_PATH_SECRET}/basic.ics?token={FEED_TOKEN}",
         "room": "accueil", "name": "Agenda"}
    ]  # fmt: skip
    values = secret_values(HubConfig.model_validate(data))
    assert MQTT_PASSWORD in values
    assert f"/{FEED_PATH_SECRET}/basic.ics" in values
    assert f"token={FEED_TOKEN}" in values


class FeedServer(http.server.ThreadingHTTPServer):
    """Serves one iCal feed at a private path with a token, like a calendar provider."""

    body = b""
    requests = 0
    writes = 0


class FeedHandler(http.server.BaseHTTPRequestHandler):
    server: FeedServer

    def do_GET(self) -> None:
        self.server.requests += 1
        ok = self.path == f"/{FEED_PATH_SECRET}/basic.ics?token={FEED_TOKEN}"
        self.send_response(200 if ok else 404)
        self.send_header("Content-Type", "text/calendar")
        self.end_headers()
        if ok:
            self.wfile.write(self.server.body)

    def do_POST(self) -> None:
        """Time-series writes: refused, like a server whose token was revoked."""
        self.server.writes += 1
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        answer = b'{"code":"unauthorized","message":"unauthorized access"}'
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: this server's own log is not the hub's."""


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    calendar = Calendar()
    calendar.add("prodid", "-//test//vivant//FR")
    calendar.add("version", "2.0")
    event = Event()
    start = (datetime.now(UTC) + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    event.add("uid", "afterwork-1@test")
    event.add("summary", "Afterwork sur le toit")
    event.add("dtstart", start)
    event.add("dtend", start + timedelta(hours=2))
    calendar.add_component(event)
    server = FeedServer(("127.0.0.1", 0), FeedHandler)
    server.body = calendar.to_ical()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def run_edge(broker_url: str, topic_root: str, tmp_path: Path) -> None:
    """An edge node of the site (MQTT password, credential key) reporting one badge tap."""
    data = edge_config_data(broker_url, topic_root, tmp_path / "outbox.sqlite3")
    data.update(site=SITE, node=NODE, rooms=["accueil"], credential_key=CREDENTIAL_KEY)
    data["mqtt"].update(username=f"{SITE}-{NODE}", password=EDGE_PASSWORD)
    data["badge_readers"] = [{"id": "entrance", "room": "accueil", "kind": "fake"}]

    async def tap_once() -> None:
        agent = EdgeAgent(EdgeConfig.model_validate(data))
        async with running(agent):
            reader = agent.readers["entrance"]
            assert isinstance(reader, FakeBadgeReader)
            reader.tap(UID)
            await edge_wait(lambda: agent.outbox.depth() == 0, within_s=10)

    asyncio.run(tap_once())


def scenario_config(
    broker_url: str, topic_root: str, db_url: str, smtp: SmtpReceiver, feed: FeedServer,
    tmp_path: Path,
) -> HubConfig:  # fmt: skip
    data = hub_config(
        broker_url, topic_root, db_url, client_id=f"hub-{topic_root[:9]}", port=free_port()
    ).model_dump(mode="json")
    data["mqtt"].update(username="vivant-hub", password=MQTT_PASSWORD)
    data["secret_key"] = SECRET_KEY
    data["timeseries"] = {
        "url": f"http://127.0.0.1:{feed.server_address[1]}",  # refuses the token: spooled
        "token": INFLUX_TOKEN,
        "flush_interval_s": 0.2,
        "retry_min_s": 0.2,
        "spool_path": str(tmp_path / "spool.db"),
    }
    data["privacy"] = {
        "email_url": f"mailto://vivant:{SMTP_PASSWORD}@127.0.0.1:{smtp.port}"
        "?from=vivant@ekilibre.example&mode=insecure",
    }
    port = feed.server_address[1]
    data["sites"][0]["calendar_feeds"] = [
        {"url": f"http://127.0.0.1:{port}/{FEED_PATH_SECRET}/basic.ics?token={FEED_TOKEN}",
         "room": "accueil", "name": "Agenda de la communauté"}
    ]  # fmt: skip
    return HubConfig.model_validate(data)


@pytest.mark.timeout(120)
def test_a_full_run_logs_no_secret_and_no_signed_token(
    system_broker_url: str,
    topic_root: str,
    tmp_path: Path,
    smtp_receiver: SmtpReceiver,
    feed_server: FeedServer,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    config = scenario_config(
        system_broker_url, topic_root, f"sqlite:///{tmp_path / 'hub.db'}", smtp_receiver,
        feed_server, tmp_path,
    )  # fmt: skip
    caplog.set_level(logging.DEBUG)
    # httpcore's traces at DEBUG are this test's own client (the hub does not use httpx here).
    caplog.set_level(logging.INFO, logger="httpcore")
    uvicorn_loggers = [logging.getLogger("uvicorn"), logging.getLogger("uvicorn.access")]
    uninstall: list[object] = []

    def configured() -> None:
        # What `vivant hub` does once uvicorn has set its loggers up; then listen to them too
        # (uvicorn's loggers do not propagate to the root logger that caplog listens to).
        uninstall.append(log_redaction.install(secret_values(config)))
        for logger in uvicorn_loggers:
            logger.addHandler(caplog.handler)

    used: list[str] = []
    try:
        with running_hub(config, log_level="debug", on_configured=configured) as hub:
            signer = hub.runtime.signer
            assert signer is not None
            with hub.runtime.sessions.begin() as session:
                add_user(session, "accueil@ekilibre.example", USER_PASSWORD, Role.STAFF, name="A")
                member = reachable_member(
                    session, "Maëlle",
                    consents=[Consent.MESSAGES, Consent.SCREEN_DISPLAY, Consent.STAFF_VISIBLE],
                    apprise_url=f"json://hook:{MEMBER_HOOK_PASSWORD}@127.0.0.1:9/in",
                )  # fmt: skip
                member.email = "maelle@example.fr"
                other = add_member(session, "Bruno", email="bruno@example.fr")
                moment = moment_soon(session, config.sites[0], in_minutes=90)
                session.flush()
                ids = (member.id, other.id, moment.id)
            token = api_token(hub.runtime.sessions, Role.ADMIN)
            privacy_token = link_token(signer, ids[0])
            rsvp = rsvp_url(signer, hub.base_url, ids[0], ids[2])
            screen = screen_url(hub.base_url, signer, config.sites[0], config.sites[0].screens[0])
            used += [token, privacy_token, rsvp.rsplit("/", 1)[1], screen.split("token=")[1]]
            wait_until(lambda: feed_server.requests > 0, within=15, what="the feed synced")
            reading = {"id": "s1", "ts": int(time.time() * 1000), "room": "accueil",
                       "kind": "co2", "value": 612.0}  # fmt: skip
            publish.single(f"{topic_root}/{SITE}/{NODE}/sensor", json.dumps(reading), qos=1,
                           hostname="127.0.0.1", port=1883)  # fmt: skip
            wait_until(lambda: feed_server.writes > 0, within=15, what="a time-series write")
            edge = threading.Thread(target=run_edge, args=(system_broker_url, topic_root, tmp_path))
            edge.start()
            edge.join(timeout=30)
            assert not edge.is_alive()
            with httpx.Client(base_url=hub.base_url, timeout=10) as client:
                bearer = {"Authorization": f"Bearer {token}"}
                assert client.get(f"/api/sites/{SITE}/moments", headers=bearer).is_success
                assert client.get("/openapi.json", headers=bearer).is_success
                wrong = {"Authorization": "Bearer vvt_not-a-real-token-1234567890"}
                assert client.get("/api/nudges", headers=wrong).status_code == 401
                # Sign in, once wrong and once right, through the real form.
                for password, status in ((WRONG_PASSWORD, 401), (USER_PASSWORD, 303)):
                    form = client.get("/login")
                    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
                    assert csrf is not None
                    answer = client.post(
                        "/login",
                        data={"email": "accueil@ekilibre.example", "password": password,
                              "csrf_token": csrf.group(1)},
                    )  # fmt: skip
                    assert answer.status_code == status
                # Member links, the screen, a link request (e-mailed through SMTP with a password).
                assert client.get(f"/privacy/{privacy_token}").is_success
                assert client.get(f"/privacy/{privacy_token}/export.json").is_success
                assert client.get(rsvp).is_success
                assert client.post(rsvp, data={"action": "join"}).is_success
                assert client.get(screen).is_success
                assert client.get(screen.replace(f"/{SCREEN}?", f"/{SCREEN}/state?")).is_success
                assert client.post("/privacy/request", data={"email": "maelle@example.fr"})
                app = hub.server.config.app
                assert isinstance(app, FastAPI)
                desk: PrivacyDesk = app.state.privacy
                wait_until(lambda: desk.sent + desk.failed > 0, within=15, what="the link e-mail")
            time.sleep(1.0)  # time-series flushes to a server that is down, and their retries
    finally:
        for undo in uninstall:
            assert callable(undo)
            undo()
        for logger in uvicorn_loggers:
            logger.removeHandler(caplog.handler)

    captured = capfd.readouterr()
    text = "\n".join([caplog.text, captured.out, captured.err])
    access = [line for line in text.splitlines() if '" 200' in line or '" 303' in line]
    assert any("/rsvp/" in line for line in access), "the access log was not captured"
    assert any("/privacy/" in line for line in access)
    secrets = [MQTT_PASSWORD, INFLUX_TOKEN, SMTP_PASSWORD, FEED_TOKEN, FEED_PATH_SECRET,
               SECRET_KEY, USER_PASSWORD, WRONG_PASSWORD, MEMBER_HOOK_PASSWORD, EDGE_PASSWORD,
               CREDENTIAL_KEY, UID, *used]  # fmt: skip
    leaked = [s for s in secrets if s in text]
    assert leaked == [], f"secrets in the logs: {leaked}"
    assert SIGNED.findall(text) == []
