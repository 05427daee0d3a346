"""Faults on a real Mosquitto: broker outages, SIGKILL, a full outbox, and what must never leak."""

from __future__ import annotations

import asyncio
import logging
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from gpiozero.pins.mock import MockFactory

from edge.agent import EdgeAgent, Hardware
from edge.clock import epoch_ms
from edge.config import EdgeConfig
from edge.sources.badge import FakeBadgeReader
from edge.sources.ble_fake import BleReplay, load_recording
from tests.edge.child_agent import UIDS, k_of
from tests.edge.conftest import (
    KEY,
    Received,
    edge_config_data,
    running,
    subscribed,
    wait_until,
)
from tests.support.mosquitto import PrivateBroker
from vivant.wire.codec import decode_edge
from vivant.wire.credential import credential_for
from vivant.wire.payloads import Badge, Sensor, Telemetry
from vivant.wire.topics import EdgeKind

pytestmark = pytest.mark.mosquitto

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parent / "data" / "advertisements.jsonl"
T0 = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)


def unique(messages: list[Received]) -> list[Received]:
    """First arrival of each message id (QoS 1 may deliver twice), in arrival order."""
    seen: dict[str, Received] = {}
    for message in messages:
        decoded = decode_edge(EdgeKind(message.topic.rsplit("/", 1)[1]), message.payload)
        assert not isinstance(decoded, Telemetry)
        seen.setdefault(decoded.id, message)
    return list(seen.values())


def badges(messages: list[Received]) -> list[Badge]:
    out = [decode_edge(EdgeKind.BADGE, m.payload) for m in unique(messages)]
    return [b for b in out if isinstance(b, Badge)]


def doors(messages: list[Received]) -> list[Sensor]:
    out = [decode_edge(EdgeKind.SENSOR, m.payload) for m in unique(messages)]
    return [s for s in out if isinstance(s, Sensor) and s.kind.value == "door"]


def seq(message_id: str) -> int:
    return int(message_id.split(".")[0], 16)


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    made = MockFactory()
    yield made
    made.reset()


def door_config(broker: PrivateBroker, topic_root: str, tmp_path: Path, **extra: Any) -> EdgeConfig:
    data = edge_config_data(broker.url, topic_root, tmp_path / "outbox.sqlite3")
    data["gpio"] = {"doors": [{"id": "door", "room": "lobby", "pin": 17}]}
    data.update(extra)
    return EdgeConfig.model_validate(data)


async def test_nothing_is_lost_while_the_broker_is_down(
    broker: PrivateBroker, topic_root: str, tmp_path: Path, factory: MockFactory
) -> None:
    now = [T0]
    config = door_config(broker, topic_root, tmp_path)
    agent = EdgeAgent(config, clock=lambda: now[0], hardware=Hardware(pin_factory=factory))
    taps: list[tuple[str, datetime]] = []
    door_changes: list[tuple[float, datetime]] = [(1, T0)]  # open at start (pull-up)

    def observe(count: int) -> None:
        reader = agent.readers["coffee"]
        assert isinstance(reader, FakeBadgeReader)
        door: Any = factory.pin(17)
        for _ in range(count):
            now[0] = T0 + timedelta(milliseconds=250 * (len(taps) + 1))
            taps.append((UIDS[len(taps) % 3], now[0]))
            reader.tap(*taps[-1])
            if door.state:
                door.drive_low()
                door_changes.append((0, now[0]))
            else:
                door.drive_high()
                door_changes.append((1, now[0]))

    with subscribed(
        broker.url, f"{topic_root}/#", client_id="outage-sub", clean_session=False
    ) as sub:
        async with running(agent):
            observe(30)
            await asyncio.sleep(0.05)  # some are in flight when the broker goes away
            await asyncio.to_thread(broker.stop)
            for _ in range(10):  # away for about a second; badges and sensors keep coming
                observe(4)
                await asyncio.sleep(0.1)
            assert agent.outbox.depth() > 0, "the outbox holds them meanwhile"
            await asyncio.to_thread(broker.start)
            observe(10)
            await asyncio.to_thread(
                sub.wait_for, "/badge", lambda m: len(badges(m)) >= len(taps), 15.0
            )
            await asyncio.to_thread(
                sub.wait_for, "/sensor", lambda m: len(doors(m)) >= len(door_changes), 15.0
            )
            await wait_until(lambda: agent.outbox.depth() == 0)
        got_badges, got_doors = badges(sub.messages("/badge")), doors(sub.messages("/sensor"))

    assert [(b.credential, b.ts) for b in got_badges] == [
        (credential_for(KEY, uid), epoch_ms(when)) for uid, when in taps
    ], "every tap exactly once, in order, with its original time"
    assert [(d.value, d.ts) for d in got_doors] == [
        (value, epoch_ms(when)) for value, when in door_changes
    ], "every door change exactly once, in order, with its original time"
    assert agent.link.stats.connection_losses == 1


def write_config(path: Path, broker: PrivateBroker, topic_root: str, tmp_path: Path) -> Path:
    data = edge_config_data(broker.url, topic_root, tmp_path / "outbox.sqlite3")
    data["gpio"] = {"doors": [{"id": "door", "room": "lobby", "pin": 17}]}
    data["shutdown_flush_s"] = 5.0
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def child(config: Path, first: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.edge.child_agent", str(config), str(first)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_sigkill_mid_stream_then_restart_loses_and_repeats_nothing(
    broker: PrivateBroker, topic_root: str, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "edge.yaml", broker, topic_root, tmp_path)
    with subscribed(
        broker.url, f"{topic_root}/#", client_id="kill-sub", clean_session=False
    ) as sub:
        first = child(config, 0)
        try:
            sub.wait_for("/badge", lambda m: len(m) >= 150, within_s=15)
            first.send_signal(signal.SIGKILL)  # mid-stream: messages in flight, a commit maybe
            assert first.wait(5) == -signal.SIGKILL
        finally:
            first.kill()
        broker.stop()  # and the broker goes away too while the node restarts
        second = child(config, 100_000)
        try:
            wait_for_outbox(tmp_path, second)
            broker.start()
            sub.wait_for(
                "/badge",
                lambda m: (
                    max((b.ts for b in badges(m)), default=0) > 0
                    and any(k_of(b.ts) >= 100_060 for b in badges(m))
                ),
                within_s=20,
            )
            second.send_signal(signal.SIGTERM)  # a clean stop: flushes what is left
            assert second.wait(15) == 0
        finally:
            second.kill()
        got_badges, got_doors = badges(sub.messages("/badge")), doors(sub.messages("/sensor"))

    ks = [k_of(b.ts) for b in got_badges]
    before = [k for k in ks if k < 100_000]
    after = [k for k in ks if k >= 100_000]
    assert before == list(range(len(before))), "the first run: a prefix of its taps, in order"
    assert after == list(range(100_000, 100_000 + len(after))), "the second run: all, in order"
    assert ks == before + after
    assert len(before) >= 150
    for badge in got_badges:
        assert badge.credential == credential_for(KEY, UIDS[k_of(badge.ts) % 3]), "original time"
    ids = [b.id for b in got_badges]
    assert len(set(ids)) == len(ids)
    assert len({i.split(".")[1] for i in ids}) == 1, "one outbox file"
    door_ks = [k_of(d.ts) for d in got_doors]
    assert all(d.value == (k_of(d.ts) % 2 == 0) for d in got_doors)
    assert door_ks == sorted(door_ks)
    all_seqs = sorted(seq(i) for i in ids + [d.id for d in got_doors])
    assert all_seqs == list(range(1, len(all_seqs) + 1)), "every committed message arrived once"


def wait_for_outbox(tmp_path: Path, process: subprocess.Popen[bytes]) -> None:
    """Let the restarted agent record a while with the broker away."""
    import time

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        assert process.poll() is None, "the agent runs without its broker"
        if (tmp_path / "outbox.sqlite3-wal").exists():
            time.sleep(0.8)
            return
        time.sleep(0.05)
    raise AssertionError("the restarted agent did not open its outbox")


async def test_a_full_outbox_drops_the_oldest_and_says_so(
    broker: PrivateBroker, topic_root: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="edge.outbox")
    data = edge_config_data(broker.url, topic_root, tmp_path / "outbox.sqlite3")
    data["outbox"]["max_messages"] = 20
    data["telemetry_interval_s"] = 1
    agent = EdgeAgent(EdgeConfig.model_validate(data))
    with subscribed(
        broker.url, f"{topic_root}/#", client_id="full-sub", clean_session=False
    ) as sub:
        await asyncio.to_thread(broker.stop)  # the subscription waits in the broker's session
        task = asyncio.create_task(agent.run())
        try:
            reader = agent.readers["coffee"]
            assert isinstance(reader, FakeBadgeReader)
            taps = [T0 + timedelta(seconds=i) for i in range(50)]
            for i, when in enumerate(taps):
                reader.tap(UIDS[i % 3], at=when)
            await wait_until(lambda: agent.stats.taps == 50)
            assert agent.outbox.depth() == 20
            await asyncio.to_thread(broker.start)
            got = await asyncio.to_thread(
                sub.wait_for, "/badge", lambda m: len(badges(m)) >= 20, 10.0
            )
            telemetry = await asyncio.to_thread(
                sub.wait_for, "/telemetry", lambda m: any(dropped(x) == 30 for x in m), 10.0
            )
            await wait_until(lambda: agent.outbox.depth() == 0)
        finally:
            agent.stop()
            await task
    assert [b.ts for b in badges(got)] == [epoch_ms(t) for t in taps[30:]], "the newest 20 kept"
    assert any(dropped(m) == 30 for m in telemetry)
    warnings = [r.getMessage() for r in caplog.records if "full or too old" in r.getMessage()]
    assert len(warnings) == 1, "logged at once, then at most once a minute"


def dropped(message: Received) -> int | None:
    decoded = decode_edge(EdgeKind.TELEMETRY, message.payload)
    return decoded.dropped if isinstance(decoded, Telemetry) else None


def spellings(address: str) -> list[bytes]:
    """Ways a Bluetooth address could end up in a payload or a file."""
    raw = bytes.fromhex(address.replace(":", ""))
    text = address.replace(":", "")
    forms = {address, address.lower(), text, text.lower(), address.replace(":", "-")}
    return [raw, raw[::-1], *(f.encode() for f in forms)]


def uid_spellings(uid: str) -> list[bytes]:
    pairs = [uid[i : i + 2] for i in range(0, len(uid), 2)]
    forms = {uid, uid.lower(), ":".join(pairs), ":".join(pairs).lower(), " ".join(pairs)}
    return [bytes.fromhex(uid), *(f.encode() for f in forms)]


async def test_unknown_devices_and_raw_uids_never_leave_or_touch_the_disk(
    broker: PrivateBroker, topic_root: str, tmp_path: Path
) -> None:
    data = edge_config_data(broker.url, topic_root, tmp_path / "outbox.sqlite3")
    data["ble"] = {
        "room": "kitchen",
        "window_s": 0.1,
        "enrolled_tags": ["mac:c2a1b2c3d4e5", "irk:camille-phone"],
        "irks": [{"id": "camille-phone", "key": "ec0234a357c8ad05341010a60a397d9b"}],
    }
    replay = BleReplay()
    agent = EdgeAgent(
        EdgeConfig.model_validate(data), hardware=Hardware(ble_backend=replay.backend())
    )
    recording = load_recording(DATA)
    enrolled_addresses = {"C2:A1:B2:C3:D4:E5"}
    strangers = {ad.address for ad in recording} - enrolled_addresses
    on_disk: list[bytes] = []
    with subscribed(broker.url, f"{topic_root}/#") as sub:
        async with running(agent):
            await wait_until(lambda: replay.running == 1)
            for ad in recording:
                replay.advertise(ad)
            reader = agent.readers["entrance"]
            assert isinstance(reader, FakeBadgeReader)
            for uid in UIDS:
                reader.tap(uid)
            await asyncio.to_thread(sub.wait_for, "/badge", lambda m: len(m) == 3)
            await asyncio.to_thread(
                sub.wait_for, "/ble", lambda m: any(b'"tags":[{' in x.payload for x in m)
            )
            on_disk += [f.read_bytes() for f in tmp_path.rglob("outbox.sqlite3*")]  # noqa: ASYNC240
        on_disk += [f.read_bytes() for f in tmp_path.rglob("outbox.sqlite3*")]  # noqa: ASYNC240
        published = [m.topic.encode() + b" " + m.payload for m in sub.messages()]
    assert len(strangers) >= 8, "iBeacon, phones, public, non-resolvable, too weak, …"
    assert any(b"irk:camille-phone" in p for p in published), "the enrolled phone, by id only"
    for blob in published + on_disk:
        for address in strangers | {"70:81:94:0D:FB:AA", "4A:1B:2C:A4:90:BB"}:
            for form in spellings(address):
                assert form not in blob, f"{address} leaked"
        assert b"Galaxy" not in blob, "a device name leaked"
        for uid in UIDS:
            for form in uid_spellings(uid):
                assert form not in blob, "a raw badge UID leaked"
