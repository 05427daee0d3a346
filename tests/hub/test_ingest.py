"""Ingest over the real Mosquitto: bad input is rejected and counted, good input still greeted."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import httpx
import paho.mqtt.publish as publish
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from hub.broadcast import Broadcaster
from hub.config import HubConfig
from hub.db.models import BadgeTap, Consent, PresenceSession, SeenMessage
from hub.inbox import Inbound, Inbox
from hub.ingest import Ingestor
from hub.members import add_member
from hub.metrics import HubMetrics
from tests.support.factories import moment_soon
from tests.support.hub_server import NODE, SITE, RunningHub, hub_config, running_hub
from tests.support.sse import SseClient
from tests.support.waiting import wait_until
from vivant.wire import credential_for

KEY = "test-site-key"
UID = "04A1B2C3D4E5F6"


def now_ms() -> int:
    return int(time.time() * 1000)


def badge_payload(msg_id: str, uid: str = UID, **overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "id": msg_id,
        "ts": now_ms(),
        "room": "accueil",
        "reader": "porte",
        "credential": credential_for(KEY, uid),
    }
    body.update(overrides)
    return body


def window_payload(msg_id: str, **overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "id": msg_id, "ts": now_ms(), "room": "accueil", "window_s": 5, "anonymous": 1,
    }  # fmt: skip
    body.update(overrides)
    return body


def reading_payload(msg_id: str, **overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "id": msg_id, "ts": now_ms(), "room": "accueil", "kind": "co2", "value": 600.0,
    }  # fmt: skip
    body.update(overrides)
    return body


def send(url: str, topic: str, payload: bytes | str, qos: int = 1) -> None:
    parts = urlsplit(url)
    publish.single(topic, payload, qos=qos, hostname=parts.hostname or "", port=parts.port or 1883)


def rejected(hub: RunningHub, reason: str) -> float:
    value = hub.runtime.metrics.registry.get_sample_value(
        "vivant_messages_rejected_total", {"reason": reason}
    )
    return value or 0.0


@pytest.fixture
def hub(system_broker_url: str, topic_root: str, db_url: str) -> Iterator[RunningHub]:
    config = hub_config(system_broker_url, topic_root, db_url, client_id=f"hub-{topic_root[:9]}")
    with running_hub(config) as running:
        site = config.sites[0]
        with running.runtime.sessions.begin() as session:
            add_member(
                session,
                "Camille",
                consents=[Consent.SCREEN_DISPLAY],
                badges=[credential_for(KEY, UID)],
            )
            add_member(session, "Discret", badges=[credential_for(KEY, "0A0B0C0D")])
            moment_soon(session, site, in_minutes=20)
        yield running


async def test_tap_greets_member_by_first_name_with_todays_moment(
    hub: RunningHub, system_broker_url: str, topic_root: str
) -> None:
    topic = f"{topic_root}/{SITE}/{NODE}/badge"
    async with SseClient(hub.events_url).open() as sse:
        send(system_broker_url, topic, json.dumps(badge_payload("t1")))
        # Latency is a figure of benchmarks.tap_to_greeting, not a timed assertion here.
        greeting = (await sse.next("greeting", within=10)).json()
    assert greeting["title"] == "Bonjour Camille !"
    assert [m["title"] for m in greeting["moments"]] == ["Petit-déjeuner des coworkers"]
    assert greeting["moments"][0]["room"] == "Cuisine"
    with hub.runtime.sessions() as session:
        sessions = session.scalars(select(PresenceSession)).all()
    assert [(s.site_id, s.arrival_source, s.departed_at) for s in sessions] == [
        (SITE, "badge", None)
    ]


async def test_member_without_screen_consent_gets_a_generic_welcome(
    hub: RunningHub, system_broker_url: str, topic_root: str
) -> None:
    topic = f"{topic_root}/{SITE}/{NODE}/badge"
    async with SseClient(hub.events_url).open() as sse:
        send(system_broker_url, topic, json.dumps(badge_payload("t1", uid="0A0B0C0D")))
        event = await sse.next("greeting")
    assert event.json()["title"] == "Bienvenue !"
    assert "Discret" not in event.data


@pytest.mark.parametrize(
    ("topic_suffix", "payload", "reason"),
    [
        (f"{SITE}/{NODE}/badge", b"{not json", "malformed_json"),
        (f"{SITE}/{NODE}/badge", json.dumps(badge_payload("x", ts="yesterday")), "invalid_payload"),
        (f"{SITE}/{NODE}/badge", json.dumps({"id": "x", "room": "accueil"}), "invalid_payload"),
        (f"{SITE}/{NODE}/badge", json.dumps(badge_payload("x", pad="z" * 17_000)), "too_large"),
        (f"{SITE}/intrus/badge", json.dumps(badge_payload("x")), "unknown_node"),
        (f"autre-site/{NODE}/badge", json.dumps(badge_payload("x")), "unknown_node"),
        (f"{SITE}/{NODE}/teleport", json.dumps(badge_payload("x")), "unknown_topic"),
        (f"{SITE}/{NODE}/badge/extra", json.dumps(badge_payload("x")), "unknown_topic"),
        (f"{SITE}/{NODE}/badge", json.dumps(badge_payload("x", room="cuisine")), "room_mismatch"),
        (f"{SITE}/{NODE}/status", b"sleeping", "invalid_payload"),
        # BLE windows and sensor readings are screened by the MQTT worker (hub.admission)
        (f"{SITE}/{NODE}/ble", b"{not json", "malformed_json"),
        (f"{SITE}/{NODE}/ble", json.dumps(window_payload("x", room="cuisine")), "room_mismatch"),
        (f"{SITE}/intrus/sensor", json.dumps(reading_payload("x")), "unknown_node"),
        (f"{SITE}/{NODE}/sensor", json.dumps(reading_payload("x", value=-1)), "invalid_payload"),
    ],
)
async def test_bad_input_is_rejected_by_reason_and_next_tap_still_greets(
    hub: RunningHub,
    system_broker_url: str,
    topic_root: str,
    topic_suffix: str,
    payload: bytes | str,
    reason: str,
) -> None:
    async with SseClient(hub.events_url).open() as sse:
        send(system_broker_url, f"{topic_root}/{topic_suffix}", payload)
        wait_until(lambda: rejected(hub, reason) == 1)
        send(
            system_broker_url, f"{topic_root}/{SITE}/{NODE}/badge", json.dumps(badge_payload("ok"))
        )
        greeting = (await sse.next("greeting")).json()
    assert greeting["title"] == "Bonjour Camille !"
    with hub.runtime.sessions() as session:
        assert session.scalar(select(func.count(BadgeTap.id))) == 1
    async with httpx.AsyncClient() as client:
        metrics = (await client.get(f"{hub.base_url}/metrics")).text
    assert f'vivant_messages_rejected_total{{reason="{reason}"}} 1.0' in metrics


async def test_redelivered_message_is_applied_once(
    hub: RunningHub, system_broker_url: str, topic_root: str
) -> None:
    topic = f"{topic_root}/{SITE}/{NODE}/badge"
    body = json.dumps(badge_payload("same-id"))
    async with SseClient(hub.events_url).open() as sse:
        send(system_broker_url, topic, body)
        send(system_broker_url, topic, body)
        send(system_broker_url, topic, json.dumps(badge_payload("other-id")))
        await sse.next("greeting")
        await sse.next("greeting")
    duplicates = hub.runtime.metrics.registry.get_sample_value("vivant_messages_duplicate_total")
    assert duplicates == 1
    with hub.runtime.sessions() as session:
        assert session.scalars(select(BadgeTap.msg_id).order_by(BadgeTap.id)).all() == [
            "same-id",
            "other-id",
        ]


async def test_unknown_badge_is_logged_and_answered_unknown(
    hub: RunningHub, system_broker_url: str, topic_root: str
) -> None:
    topic = f"{topic_root}/{SITE}/{NODE}/badge"
    send(system_broker_url, topic, json.dumps(badge_payload("u1", uid="DEADBEEF")))

    def tap_logged() -> bool:
        with hub.runtime.sessions() as session:
            return session.scalar(select(func.count(BadgeTap.id))) == 1

    wait_until(tap_logged, what="badge tap in the log")
    with hub.runtime.sessions() as session:
        tap = session.scalars(select(BadgeTap)).one()
        assert (tap.outcome, tap.member_id) == ("unknown", None)
        assert session.scalar(select(func.count(PresenceSession.id))) == 0


def test_seen_pairs_are_stored_as_the_orm_reads_them_and_pruned(
    site_config: HubConfig, sessions: sessionmaker[Session]
) -> None:
    """The deduplication insert bypasses the ORM for speed: its rows must read back as aware
    UTC datetimes on both databases, and the window must forget them."""
    clock = [datetime(2026, 3, 29, 0, 59, 59, tzinfo=UTC)]
    metrics = HubMetrics()
    ingestor = Ingestor(
        site_config, sessions, Inbox(100), Broadcaster(), metrics,
        ack=lambda _b: None, publish=lambda *_a: None, clock=lambda: clock[0],
    )  # fmt: skip
    topic = f"vivant/v1/{SITE}/{NODE}/ble"
    body = {"id": "w1", "ts": now_ms(), "room": "accueil", "window_s": 5, "anonymous": 2}
    at = clock[0].timestamp()
    message = Inbound(topic, json.dumps(body).encode(), 1, 1, False, at, time.monotonic())
    ingestor.apply([message, message])  # a repeat inside the batch is a duplicate too
    ingestor.apply([message])  # and so is a redelivery later
    assert metrics.registry.get_sample_value("vivant_messages_duplicate_total") == 2
    with sessions() as session:
        seen = session.scalars(select(SeenMessage)).one()
    assert (seen.site_id, seen.node_id, seen.msg_id) == (SITE, NODE, "w1")
    assert seen.seen_at == clock[0]
    clock[0] += timedelta(hours=site_config.ingest.dedup_window_h, seconds=1)
    assert ingestor.prune_seen() == 1
