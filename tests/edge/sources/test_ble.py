"""The BLE scanner on a replayed radio: windows, privacy, and BlueZ faults survived."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from bleak.exc import BleakDBusError

from edge.source_settings import BleSettings
from edge.sources.ble import BleScanner, passive_patterns
from edge.sources.ble_fake import Advertisement, BleReplay, load_recording
from tests.edge.sources.sinks import ListSink
from tests.support.waiting import eventually
from vivant.wire.payloads import NodeConfig

DATA = Path(__file__).resolve().parents[1] / "data" / "advertisements.jsonl"
SPEC_IRK = "ec0234a357c8ad05341010a60a397d9b"
IBEACON = "iBeacon:e5ca1ade-f007-ba11-0000-000000000000-100-1"
EDDYSTONE = "eddystone:edd1ebeac04e5defa017-0123456789ab"
FIXED = "mac:c2a1b2c3d4e5"
PHONE = "irk:camille-phone"


def settings(**overrides: Any) -> BleSettings:
    data: dict[str, Any] = {
        "room": "cuisine",
        "window_s": 0.2,
        "enrolled_tags": [IBEACON, EDDYSTONE, FIXED, PHONE],
        "irks": [{"id": "camille-phone", "key": SPEC_IRK}],
    }
    data.update(overrides)
    return BleSettings.model_validate(data)


@contextlib.asynccontextmanager
async def scanning(scanner: BleScanner, sink: ListSink) -> AsyncIterator[BleScanner]:
    task = asyncio.create_task(scanner.run(sink))
    try:
        yield scanner
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def tags_of(sink: ListSink) -> set[str]:
    return {t.tag for w in sink.windows for t in w.tags}


async def test_a_recorded_room_becomes_windows_of_enrolled_tags_and_a_count() -> None:
    replay, sink = BleReplay(), ListSink()
    scanner = BleScanner(settings(), backend=replay.backend())
    async with scanning(scanner, sink):
        await eventually(lambda: replay.running == 1, what="scan started")
        for advertisement in load_recording(DATA):
            replay.advertise(advertisement)
        await eventually(lambda: any(w.tags for w in sink.windows), what="a window with tags")
    window = next(w for w in sink.windows if w.tags)
    assert [(t.tag, t.rssi, t.n) for t in window.tags] == [
        (IBEACON, -62.0, 5),
        (PHONE, -66.5, 4),
        (EDDYSTONE, -71.0, 3),
        (FIXED, -81.0, 2),
    ]
    assert window.anonymous == 4
    assert window.room == "cuisine"
    assert 0.1 < window.window_s < 1.0
    assert replay.starts == ["passive"], "passive where BlueZ supports it"
    assert scanner.stats.advertisements == len(load_recording(DATA))


async def test_windows_keep_coming_when_nothing_is_heard() -> None:
    replay, sink = BleReplay(), ListSink()
    async with scanning(BleScanner(settings(window_s=0.05), backend=replay.backend()), sink):
        await eventually(lambda: len(sink.windows) >= 3)
    assert all(w.tags == () and w.anonymous == 0 for w in sink.windows)
    stamps = [w.at for w in sink.windows]
    assert stamps == sorted(stamps)


async def test_active_scanning_when_bluez_refuses_passive() -> None:
    replay, sink = BleReplay(), ListSink()
    replay.passive_supported = False
    scanner = BleScanner(settings(), backend=replay.backend())
    async with scanning(scanner, sink):
        await eventually(lambda: replay.running == 1)
    assert replay.starts == ["active"]
    assert scanner.stats.mode == "active"


async def test_explicit_passive_mode_keeps_trying_passive() -> None:
    replay, sink = BleReplay(), ListSink()
    replay.passive_supported = False
    scanner = BleScanner(
        settings(scanning_mode="passive"), backend=replay.backend(), retry_min_s=0.01
    )
    async with scanning(scanner, sink):
        await eventually(lambda: scanner.stats.start_failures >= 2)
        replay.passive_supported = True
        await eventually(lambda: replay.running == 1)
    assert replay.starts == ["passive"]


async def test_bluez_errors_restart_the_scan_not_the_agent() -> None:
    replay, sink = BleReplay(), ListSink()
    replay.fail_next_start(
        BleakDBusError("org.bluez.Error.InProgress", ["Operation already in progress"])
    )
    replay.fail_next_start(BleakDBusError("org.bluez.Error.NotReady", ["Resource Not Ready"]))
    scanner = BleScanner(
        settings(scanning_mode="active"), backend=replay.backend(), retry_min_s=0.01
    )
    async with scanning(scanner, sink):
        await eventually(lambda: replay.running == 1)
        replay.advertise(Advertisement("C2:A1:B2:C3:D4:E5", -70, "random"))
        await eventually(lambda: FIXED in tags_of(sink))
    assert scanner.stats.start_failures == 2
    assert scanner.stats.starts == 1


async def test_a_scan_gone_silent_is_restarted() -> None:
    replay, sink = BleReplay(), ListSink()
    scanner = BleScanner(settings(scanning_mode="active"), backend=replay.backend(), silence_s=0.3)
    async with scanning(scanner, sink):
        await eventually(lambda: replay.running == 1)
        replay.silence()  # the adapter was reset under the scan
        await eventually(lambda: scanner.stats.silence_restarts >= 1, within=3)
        replay.silence(False)
        await eventually(lambda: replay.running == 1)
        replay.advertise(Advertisement("C2:A1:B2:C3:D4:E5", -70, "random"))
        await eventually(lambda: FIXED in tags_of(sink))
    assert len(replay.starts) >= 2
    assert replay.stops >= 1, "the old scan was stopped before the new one"


async def test_the_scan_restarts_when_the_salt_is_replaced() -> None:
    replay, sink = BleReplay(), ListSink()
    scanner = BleScanner(settings(window_s=0.05, salt_rotation_h=0.0001), backend=replay.backend())
    async with scanning(scanner, sink):
        await eventually(lambda: scanner.aggregator.salt_rotations >= 1, within=3)
        await eventually(lambda: len(replay.starts) >= 2)


async def test_the_hub_config_changes_enrolled_tags_and_window_live() -> None:
    replay, sink = BleReplay(), ListSink()
    scanner = BleScanner(settings(window_s=0.1), backend=replay.backend())
    async with scanning(scanner, sink):
        await eventually(lambda: replay.running == 1)
        scanner.configure(
            NodeConfig(
                ts=1_741_944_600_000, rooms=["cuisine"], enrolled_tags=[FIXED], ble_window_s=0.3
            )
        )
        for advertisement in load_recording(DATA):
            replay.advertise(advertisement)
        await eventually(lambda: any(w.tags for w in sink.windows))
        await eventually(lambda: sink.windows[-1].window_s > 0.25, within=3)
    assert tags_of(sink) == {FIXED}, "the phone and beacons are no longer enrolled"
    assert scanner.window_s == 0.3


def test_passive_patterns_cover_flags_apple_and_eddystone() -> None:
    patterns = passive_patterns()
    contents = {(p.ad_data_type, p.content_of_pattern) for p in patterns}
    assert (0x01, b"\x06") in contents
    assert (0xFF, b"\x4c\x00") in contents
    assert (0x16, b"\xaa\xfe") in contents


def test_the_fake_fails_loudly_on_what_it_does_not_implement() -> None:
    scanner_class = BleReplay().backend()
    scanner = scanner_class(None, None, "active", bluez={})
    missing = "set_scanning_filter"
    with pytest.raises(AttributeError, match="does not implement"):
        getattr(scanner, missing)
