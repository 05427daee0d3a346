"""A sink that keeps what sources report, for tests."""

from __future__ import annotations

from edge.sources.base import BleReport, SensorReading


class ListSink:
    """Collects readings and BLE windows in order."""

    def __init__(self) -> None:
        self.readings: list[SensorReading] = []
        self.windows: list[BleReport] = []

    def sensor(self, reading: SensorReading) -> None:
        """Keep a reading."""
        self.readings.append(reading)

    def ble(self, report: BleReport) -> None:
        """Keep a window."""
        self.windows.append(report)

    def values(self, kind: str) -> list[float]:
        """Values of the readings of one kind, in order."""
        return [r.value for r in self.readings if r.kind == kind]
