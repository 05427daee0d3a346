"""Cheap host health probes for telemetry: SoC temperature, under-voltage, clock sync.

Each probe reads one small kernel or systemd file and answers ``None`` when the machine does not
have it (a laptop, a container), so telemetry reports what is known and nothing invented.

* Temperature: ``/sys/class/thermal/thermal_zone0/temp`` (millidegrees Celsius); on a Raspberry Pi
  zone 0 is the SoC.
* Under-voltage: the Raspberry Pi firmware's ``get_throttled`` bit mask; bit 0 is "under-voltage
  now", bit 16 "under-voltage has occurred since boot" (a weak power supply corrupts SD cards).
* Clock: ``systemd-timesyncd`` creates ``/run/systemd/timesync/synchronized`` once NTP answered.
  A Pi has no real-time clock, so until then its timestamps are wrong; the hub wants to know.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

THERMAL_ZONE = Path("/sys/class/thermal/thermal_zone0/temp")
THROTTLED = Path("/sys/devices/platform/soc/soc:firmware/get_throttled")
TIMESYNC_DIR = Path("/run/systemd/timesync")

_UNDERVOLTAGE_NOW = 1 << 0
_UNDERVOLTAGE_OCCURRED = 1 << 16


@dataclass(frozen=True, slots=True)
class HostProbes:
    """Where the probes read; tests point them at temporary files."""

    thermal_zone: Path = THERMAL_ZONE
    throttled: Path = THROTTLED
    timesync_dir: Path = TIMESYNC_DIR

    def cpu_temp_c(self) -> float | None:
        """SoC temperature in °C, or ``None`` if unknown."""
        text = _read(self.thermal_zone)
        try:
            return round(int(text) / 1000, 1) if text is not None else None
        except ValueError:
            return None

    def undervoltage(self) -> bool | None:
        """Whether the power supply sagged since boot (Raspberry Pi only), else ``None``."""
        text = _read(self.throttled)
        try:
            flags = int(text, 16) if text is not None else None
        except ValueError:
            return None
        return None if flags is None else bool(flags & (_UNDERVOLTAGE_NOW | _UNDERVOLTAGE_OCCURRED))

    def clock_synced(self) -> bool | None:
        """Whether systemd-timesyncd has synchronised the clock; ``None`` without timesyncd."""
        if not self.timesync_dir.is_dir():
            return None
        return (self.timesync_dir / "synchronized").exists()


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
