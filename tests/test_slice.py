"""The foundation slice end to end, on real brokers: a badge tap at an edge agent reaches the
lobby screen of its site through Mosquitto and the hub."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from edge.agent import EdgeAgent
from edge.config import EdgeConfig
from edge.sources.badge import BadgeRead, FakeBadgeReader
from hub.db.models import BadgeTap, Consent, PresenceSession
from hub.members import add_member
from tests.support.factories import moment_soon
from tests.support.hub_server import SITE, RunningHub, hub_config, running_hub
from tests.support.lobby_node import READER, lobby_reader_config
from tests.support.mosquitto import PrivateBroker
from tests.support.sse import SseClient
from tests.support.waiting import eventually
from vivant.wire import credential_for

KEY = "slice-test-credential-key"
CAMILLE = "04A1B2C3D4E5F6"


def edge_config(broker_url: str, topic_root: str, tmp_path: Path) -> EdgeConfig:
    return lobby_reader_config(
        broker_url, topic_root, tmp_path, key=KEY, client_id=f"edge-{topic_root[:9]}", leds=False
    )


def seed(hub: RunningHub, uids: dict[str, str]) -> None:
    with hub.runtime.sessions.begin() as session:
        for name, uid in uids.items():
            add_member(
                session, name, consents=[Consent.SCREEN_DISPLAY], badges=[credential_for(KEY, uid)]
            )
        moment_soon(session, hub.config.sites[0], in_minutes=10)


@contextlib.asynccontextmanager
async def running_agent(config: EdgeConfig, reader: FakeBadgeReader) -> AsyncIterator[EdgeAgent]:
    agent = EdgeAgent(config, readers={READER: reader})
    task = asyncio.create_task(agent.run())
    try:
        async with asyncio.timeout(10):
            await agent.wait_connected()
        yield agent
    finally:
        agent.stop()
        await task


async def test_badge_tap_greets_member_on_lobby_screen(
    system_broker_url: str, topic_root: str, tmp_path: Path
) -> None:
    config = hub_config(system_broker_url, topic_root, f"sqlite:///{tmp_path / 'hub.db'}",
                        client_id=f"hub-{topic_root[:9]}")  # fmt: skip
    reader = FakeBadgeReader(READER)
    with running_hub(config) as hub:
        seed(hub, {"Camille": CAMILLE})
        async with (
            running_agent(edge_config(system_broker_url, topic_root, tmp_path), reader),
            SseClient(hub.events_url).open() as sse,
        ):
            # How fast is a figure of benchmarks.tap_to_greeting, not a timed assertion here.
            reader.tap(CAMILLE)
            event = await sse.next("greeting", within=10)
            # The reader is answered (LED / buzzer) through the hub's command topic.
            await eventually(lambda: reader.feedback_log, what="reader feedback")
        greeting = event.json()
        assert greeting["title"] == "Bonjour Camille !"
        assert greeting["moments"][0]["title"] == "Petit-déjeuner des coworkers"
        assert greeting["moments"][0]["when"] in {"Dans 9 min", "Dans 10 min"}
        with hub.runtime.sessions() as session:
            presence = session.scalars(select(PresenceSession)).one()
        assert (presence.site_id, presence.arrival_source) == (SITE, "badge")
        assert [f.value for f in reader.feedback_log] == ["accepted"]


async def test_every_tap_reaches_hub_exactly_once_in_order_across_broker_restart(
    broker: PrivateBroker, topic_root: str, tmp_path: Path
) -> None:
    config = hub_config(broker.url, topic_root, f"sqlite:///{tmp_path / 'hub.db'}")
    reader = FakeBadgeReader(READER)
    uids = {f"Membre{i}": f"0A0B0C{i:02X}" for i in range(5)}
    taps: list[BadgeRead] = []

    async def tap_for(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            taps.append(reader.tap(list(uids.values())[len(taps) % len(uids)]))
            await asyncio.sleep(0.05)

    with running_hub(config) as hub:
        seed(hub, uids)
        async with running_agent(edge_config(broker.url, topic_root, tmp_path), reader):
            await tap_for(1.0)
            await asyncio.to_thread(broker.stop)
            await tap_for(2.0)  # the broker is down: taps wait in the edge's outbox
            await asyncio.to_thread(broker.start)
            await tap_for(1.0)
            deadline = time.monotonic() + 30
            while True:
                with hub.runtime.sessions() as session:
                    rows = session.scalars(select(BadgeTap).order_by(BadgeTap.id)).all()
                if len(rows) >= len(taps) or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.2)
    assert len(taps) > 40
    sent = [(int(t.at.timestamp() * 1000), credential_for(KEY, t.uid)) for t in taps]
    received = [(int(r.observed_at.timestamp() * 1000), r.credential) for r in rows]
    assert received == sent  # every tap, once, in order, with its original time
    assert len({r.msg_id for r in rows}) == len(rows)


@pytest.mark.parametrize("consent", [True, False])
async def test_screen_shows_first_name_only_with_consent(
    system_broker_url: str, topic_root: str, tmp_path: Path, consent: bool
) -> None:
    config = hub_config(system_broker_url, topic_root, f"sqlite:///{tmp_path / 'hub.db'}",
                        client_id=f"hub-{topic_root[:9]}")  # fmt: skip
    reader = FakeBadgeReader(READER)
    with running_hub(config) as hub:
        with hub.runtime.sessions.begin() as session:
            add_member(
                session,
                "Salomé",
                consents=[Consent.SCREEN_DISPLAY] if consent else [],
                badges=[credential_for(KEY, CAMILLE)],
            )
        async with (
            running_agent(edge_config(system_broker_url, topic_root, tmp_path), reader),
            SseClient(hub.events_url).open() as sse,
        ):
            reader.tap(CAMILLE)
            event = await sse.next("greeting")
    assert ("Salomé" in event.data) is consent
    assert event.json()["title"] == ("Bonjour Salomé !" if consent else "Bienvenue !")
