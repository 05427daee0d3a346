"""Host probes read what the machine has and answer ``None`` for the rest."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.health import HostProbes


def probes(tmp_path: Path) -> HostProbes:
    return HostProbes(tmp_path / "temp", tmp_path / "throttled", tmp_path / "timesync")


def test_nothing_known_on_a_bare_machine(tmp_path: Path) -> None:
    bare = probes(tmp_path)
    assert (bare.cpu_temp_c(), bare.undervoltage(), bare.clock_synced()) == (None, None, None)


@pytest.mark.parametrize(
    ("text", "expected"), [("51234\n", 51.2), ("-5000", -5.0), ("garbage", None)]
)
def test_cpu_temperature(tmp_path: Path, text: str, expected: float | None) -> None:
    (tmp_path / "temp").write_text(text)
    assert probes(tmp_path).cpu_temp_c() == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0x0", False), ("0x1", True), ("0x50000", True), ("0x20002", False), ("nope", None)],
)
def test_undervoltage_now_or_since_boot(tmp_path: Path, text: str, expected: bool | None) -> None:
    (tmp_path / "throttled").write_text(text)
    assert probes(tmp_path).undervoltage() is expected


def test_clock_sync_from_timesyncd(tmp_path: Path) -> None:
    (tmp_path / "timesync").mkdir()
    assert probes(tmp_path).clock_synced() is False
    (tmp_path / "timesync" / "synchronized").touch()
    assert probes(tmp_path).clock_synced() is True
