"""Observations into outbox messages: payloads, order, and what is refused before storing."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from edge.clock import epoch_ms
from edge.outbox import Outbox
from edge.recorder import Recorder
from edge.sources.badge import BadgeRead
from edge.sources.base import BleReport, SensorReading
from edge.sources.ble_window import TagSummary
from vivant.wire.codec import decode_edge
from vivant.wire.credential import credential_for
from vivant.wire.payloads import Badge, BleWindow, Sensor
from vivant.wire.topics import EdgeKind, Topics

T0 = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)
KEY = "recorder-test-credential-key"


@contextlib.asynccontextmanager
async def recording(tmp_path: Path) -> AsyncIterator[tuple[Recorder, Outbox, list[str]]]:
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    woken: list[str] = []
    badges: list[str] = []
    recorder = Recorder(
        outbox,
        Topics("t/vivant/v1"),
        site="viry",
        node="entree",
        credential_key=KEY,
        wake=lambda: woken.append("wake"),
        on_badge=lambda message_id, reader: badges.append(f"{reader}:{message_id}"),
    )
    writer = asyncio.create_task(recorder.run())
    try:
        yield recorder, outbox, badges
        await recorder.drain()
        assert len(woken) == outbox.depth(), "the link is woken for every stored message"
    finally:
        writer.cancel()
        await asyncio.gather(writer, return_exceptions=True)
        outbox.close()


def reading(kind: str, value: float, at: datetime = T0) -> SensorReading:
    return SensorReading(room="cuisine", kind=kind, value=value, at=at, source="air")


async def test_every_kind_of_observation_in_order(tmp_path: Path) -> None:
    async with recording(tmp_path) as (recorder, outbox, badges):
        recorder.badge(BadgeRead(uid="04a1b2c3", reader="porte", at=T0), "accueil")
        recorder.sensor(reading("co2", 812, T0 + timedelta(seconds=1)))
        recorder.ble(
            BleReport(
                "cuisine",
                T0 + timedelta(seconds=5),
                5.0,
                (TagSummary("mac:c2a1b2c3d4e5", -71.5, 3),),
                4,
            )
        )
        await recorder.drain()
        entries = outbox.pending()
    kinds = [EdgeKind(e.topic.rsplit("/", 1)[1]) for e in entries]
    assert kinds == [EdgeKind.BADGE, EdgeKind.SENSOR, EdgeKind.BLE]
    badge, sensor, window = (decode_edge(k, e.payload) for k, e in zip(kinds, entries, strict=True))
    assert isinstance(badge, Badge)
    assert (badge.ts, badge.credential) == (epoch_ms(T0), credential_for(KEY, "04A1B2C3"))
    assert b"04A1B2C3" not in entries[0].payload.upper()
    assert badges == [f"porte:{badge.id}"]
    assert isinstance(sensor, Sensor)
    assert (sensor.kind.value, sensor.value, sensor.room) == ("co2", 812, "cuisine")
    assert isinstance(window, BleWindow)
    assert (window.window_s, window.anonymous, window.tags[0].rssi) == (5.0, 4, -71.5)


@pytest.mark.parametrize(
    ("made", "counter"),
    [
        (reading("radon", 50), "unsupported"),  # a kind a newer sensor knows, v1 does not
        (reading("temperature", 140), "invalid"),
        (reading("motion", 0.5), "invalid"),
        (reading("co2", 700, datetime(1970, 1, 1, 0, 2, tzinfo=UTC)), "unrecorded"),
    ],
)
async def test_what_the_hub_would_reject_is_not_stored(
    tmp_path: Path, made: SensorReading, counter: str
) -> None:
    async with recording(tmp_path) as (recorder, outbox, _):
        recorder.sensor(made)
        await recorder.drain()
        assert outbox.depth() == 0
    stats = recorder.stats
    counts = {
        "unsupported": sum(stats.unsupported.values()),
        "invalid": stats.invalid,
        "unrecorded": stats.unrecorded,
    }
    assert counts[counter] == 1
    assert sum(counts.values()) == 1
