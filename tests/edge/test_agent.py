"""The agent end to end against a real Mosquitto: taps in, wire messages out, nothing leaked."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.publish as publish
import pytest

import vivant
from edge.agent import EdgeAgent
from edge.clock import epoch_ms
from edge.health import HostProbes
from edge.sources.badge import FakeBadgeReader
from tests.edge.conftest import KEY, NODE, SITE, ConfigFactory, running, subscribed, wait_until
from tests.support.mosquitto import PrivateBroker
from vivant.wire.codec import decode_edge
from vivant.wire.credential import credential_for
from vivant.wire.payloads import Badge, Feedback, Telemetry
from vivant.wire.topics import EdgeKind, HubKind, Topics

pytestmark = pytest.mark.mosquitto

T0 = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)
UIDS = ["04A1B2C3D4E5F6", "04B2C3D4E5F607", "04C3D4E5F60718"]


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def fake(agent: EdgeAgent, reader_id: str = "entrance") -> FakeBadgeReader:
    reader = agent.readers[reader_id]
    assert isinstance(reader, FakeBadgeReader)
    return reader


def badges(payloads: list[bytes]) -> list[Badge]:
    decoded = [decode_edge(EdgeKind.BADGE, p) for p in payloads]
    assert all(isinstance(b, Badge) for b in decoded)
    return decoded  # type: ignore[return-value]


def send(broker: PrivateBroker, topic: str, payload: bytes, retain: bool = False) -> None:
    publish.single(topic, payload, qos=1, retain=retain, hostname="127.0.0.1", port=broker.port)


def leaks(uid: str, blob: bytes) -> bool:
    """Whether *blob* contains the UID in any usual spelling."""
    spellings = {uid, uid.lower(), ":".join(uid[i : i + 2] for i in range(0, len(uid), 2))}
    return bytes.fromhex(uid) in blob or any(s.encode() in blob for s in spellings)


async def test_taps_become_badge_messages_and_the_uid_never_leaves(
    broker: PrivateBroker, make_config: ConfigFactory, topic_root: str, tmp_path: Path
) -> None:
    config = make_config()
    agent = EdgeAgent(config, clock=lambda: at(0))
    with subscribed(broker.url, f"{topic_root}/#") as sub:
        async with running(agent):
            entrance, coffee = fake(agent), fake(agent, "coffee")
            entrance.tap(UIDS[0], at=at(1))
            entrance.tap("04:a1:b2:c3:d4:e5:f6", at=at(2))  # same card within 2 s: dropped
            entrance.tap(UIDS[1], at=at(3))
            coffee.tap(UIDS[0], at=at(4))
            got = await asyncio.to_thread(sub.wait_for, "/badge", lambda m: len(m) == 3)
            await wait_until(lambda: agent.outbox.depth() == 0)
        everything = [m.payload for m in sub.messages()]

    sent = sorted(badges([m.payload for m in got]), key=lambda b: b.ts)  # readers run side by side
    assert [(b.reader, b.room, b.ts) for b in sent] == [
        ("entrance", "lobby", epoch_ms(at(1))),
        ("entrance", "lobby", epoch_ms(at(3))),
        ("coffee", "kitchen", epoch_ms(at(4))),
    ]
    assert [b.credential for b in sent] == [credential_for(KEY, u) for u in UIDS[:2] + UIDS[:1]]
    assert len({b.id for b in sent}) == 3
    assert {m.topic for m in got} == {Topics(topic_root).node(SITE, NODE, EdgeKind.BADGE)}
    assert agent.stats.taps == 3
    assert agent.stats.debounced == 1

    stored = [f.read_bytes() for f in sorted(tmp_path.glob("outbox.sqlite3*"))]  # noqa: ASYNC240
    assert stored, "the outbox file exists"
    for uid in UIDS[:2]:
        assert not any(leaks(uid, p) for p in everything), "raw UID in a published payload"
        assert not any(leaks(uid, blob) for blob in stored), "raw UID in the outbox file"


async def test_status_online_while_running_offline_after_a_clean_stop(
    broker: PrivateBroker, make_config: ConfigFactory, topic_root: str
) -> None:
    status = Topics(topic_root).node(SITE, NODE, EdgeKind.STATUS)
    agent = EdgeAgent(make_config())
    with subscribed(broker.url, status) as sub:
        async with running(agent):
            await asyncio.to_thread(sub.wait_for, "/status", lambda m: len(m) == 1)
        got = await asyncio.to_thread(sub.wait_for, "/status", lambda m: len(m) == 2)
    assert [m.payload for m in got] == [b"online", b"offline"]
    with subscribed(broker.url, status) as late:
        retained = await asyncio.to_thread(late.wait_for, "/status", lambda m: len(m) == 1)
    assert retained[0].retain
    assert retained[0].payload == b"offline"


async def test_telemetry_is_retained_and_describes_the_node(
    broker: PrivateBroker, make_config: ConfigFactory, topic_root: str, tmp_path: Path
) -> None:
    (tmp_path / "temp").write_text("48312\n")
    (tmp_path / "throttled").write_text("0x50000\n")
    (tmp_path / "timesync").mkdir()
    (tmp_path / "timesync" / "synchronized").touch()
    probes = HostProbes(tmp_path / "temp", tmp_path / "throttled", tmp_path / "timesync")
    agent = EdgeAgent(make_config(telemetry_interval_s=1), clock=lambda: at(0), probes=probes)
    fake(agent).tap(UIDS[0], at=at(1))  # waits in the outbox until the agent connects
    topic = Topics(topic_root).node(SITE, NODE, EdgeKind.TELEMETRY)
    async with running(agent):
        await wait_until(lambda: agent.outbox.depth() == 0)
        # Once a telemetry message has gone out, a subscriber arriving later is greeted by it.
        with subscribed(broker.url, topic) as early:
            await asyncio.to_thread(early.wait_for, "/telemetry", lambda m: len(m) >= 1)
        with subscribed(broker.url, topic) as sub:
            got = await asyncio.to_thread(sub.wait_for, "/telemetry", lambda m: len(m) >= 2)
    first = decode_edge(EdgeKind.TELEMETRY, got[0].payload)
    assert isinstance(first, Telemetry)
    assert got[0].retain, "the retained value greets a late subscriber"
    assert first.version == vivant.__version__
    assert first.ts == epoch_ms(at(0))
    assert (first.cpu_temp_c, first.undervoltage, first.clock_synced) == (48.3, True, True)
    assert first.dropped == 0
    latest = decode_edge(EdgeKind.TELEMETRY, got[-1].payload)
    assert isinstance(latest, Telemetry)
    assert latest.outbox_depth == 0


def feedback_command(reader: str, badge_id: str, result: str, cid: str) -> bytes:
    body = {
        "action": "feedback",
        "id": cid,
        "ts": epoch_ms(datetime.now(UTC)),
        "reader": reader,
        "badge_id": badge_id,
        "result": result,
    }
    return json.dumps(body).encode()


async def test_feedback_commands_reach_the_reader_of_a_recent_tap(
    broker: PrivateBroker, make_config: ConfigFactory, topic_root: str
) -> None:
    agent = EdgeAgent(make_config())
    topic = Topics(topic_root).node(SITE, NODE, HubKind.COMMAND)
    with subscribed(broker.url, f"{topic_root}/+/+/badge") as sub:
        async with running(agent):
            fake(agent).tap(UIDS[0])
            got = await asyncio.to_thread(sub.wait_for, "/badge", lambda m: len(m) == 1)
            badge_id = badges([got[0].payload])[0].id
            for body in (
                feedback_command("entrance", "1.unknown", "unknown", "c0"),  # no such tap
                feedback_command("coffee", badge_id, "accepted", "c1"),  # another reader's tap
                feedback_command("nowhere", badge_id, "accepted", "c2"),  # no such reader
                feedback_command("entrance", badge_id, "accepted", "c3"),
            ):
                await asyncio.to_thread(send, broker, topic, body)
            await wait_until(lambda: agent.stats.commands == 4)
    assert fake(agent).feedback_log == [Feedback.ACCEPTED], "only the answer to the tap"
    assert fake(agent, "coffee").feedback_log == []
    assert (agent.stats.feedback_shown, agent.stats.feedback_ignored) == (1, 2)


async def test_config_from_the_hub_is_kept(
    broker: PrivateBroker, make_config: ConfigFactory, topic_root: str
) -> None:
    topic = Topics(topic_root).node(SITE, NODE, HubKind.CONFIG)
    body = {"ts": epoch_ms(T0), "rooms": ["lobby", "kitchen"], "ble_window_s": 8}
    agent = EdgeAgent(make_config())
    async with running(agent):
        # Retained, as the hub sends it: it also reaches a subscription made just after.
        await asyncio.to_thread(send, broker, topic, json.dumps(body).encode(), True)
        await wait_until(lambda: agent.node_config is not None)
    assert agent.node_config is not None
    assert agent.node_config.ble_window_s == 8


async def test_a_tap_before_the_clock_is_set_is_not_recorded(
    broker: PrivateBroker, make_config: ConfigFactory
) -> None:
    agent = EdgeAgent(make_config())
    async with running(agent):
        fake(agent).tap(UIDS[0], at=datetime(1970, 1, 1, 0, 2, tzinfo=UTC))  # Pi before NTP
        await wait_until(lambda: agent.recorder.stats.unrecorded == 1)
        assert agent.outbox.depth() == 0


async def test_no_tap_is_lost_across_a_broker_restart(
    broker: PrivateBroker, make_config: ConfigFactory, topic_root: str
) -> None:
    agent = EdgeAgent(make_config())
    reader = fake(agent, "coffee")  # no debounce: every tap counts
    topic = Topics(topic_root).node(SITE, NODE, EdgeKind.BADGE)
    taps: list[tuple[str, datetime]] = []

    def tap(count: int) -> None:
        for _ in range(count):
            n = len(taps)
            taps.append((UIDS[n % 3], at(n * 0.5)))
            reader.tap(*taps[-1])

    with subscribed(broker.url, topic, client_id="restart-sub", clean_session=False) as sub:
        async with running(agent):
            tap(40)
            await asyncio.sleep(0.05)  # some are in flight when the broker goes away
            await asyncio.to_thread(broker.stop)
            for _ in range(10):  # the broker is away for about a second; taps keep coming
                tap(3)
                await asyncio.sleep(0.1)
            await asyncio.to_thread(broker.start)
            tap(20)
            got = await asyncio.to_thread(
                sub.wait_for, "/badge", lambda m: len({x.payload for x in m}) >= 90, 10.0
            )
            await wait_until(lambda: agent.outbox.depth() == 0)

    unique: dict[str, Badge] = {}
    for badge in badges([m.payload for m in got]):
        unique.setdefault(badge.id, badge)
    received = list(unique.values())
    assert len(received) == len(taps) == 90
    assert [(b.credential, b.ts) for b in received] == [
        (credential_for(KEY, uid), epoch_ms(when)) for uid, when in taps
    ], "every tap exactly once, in order, with its original time"
    assert agent.link.stats.connection_losses == 1


async def test_several_agents_share_a_process(
    broker: PrivateBroker, make_config: ConfigFactory, topic_root: str, tmp_path: Path
) -> None:
    first = EdgeAgent(make_config())
    second = EdgeAgent(
        make_config(node="rooftop-pi", outbox={"path": str(tmp_path / "rooftop.sqlite3")})
    )
    with subscribed(broker.url, f"{topic_root}/+/+/badge") as sub:
        async with running(first), running(second):
            fake(first).tap(UIDS[0], at=at(1))
            fake(second).tap(UIDS[1], at=at(2))
            got = await asyncio.to_thread(sub.wait_for, "/badge", lambda m: len(m) == 2)
    assert sorted(m.topic.split("/")[-2] for m in got) == ["entrance-pi", "rooftop-pi"]


def test_readers_must_match_the_configuration(make_config: ConfigFactory) -> None:
    config = make_config()
    with pytest.raises(ValueError, match="not in the configuration"):
        EdgeAgent(config, readers={"garage": FakeBadgeReader("garage")})
    with pytest.raises(ValueError, match="has id"):
        EdgeAgent(config, readers={"entrance": FakeBadgeReader("coffee")})
    replaced = FakeBadgeReader("entrance")
    agent = EdgeAgent(config, readers={"entrance": replaced})
    assert agent.readers["entrance"] is replaced
    assert isinstance(agent.readers["coffee"], FakeBadgeReader)
