"""BLE presence: a bleak scanner that runs for months, folded into one ``ble`` message per window.

Scanning (BlueZ through bleak, imported only when a node has a ``ble:`` section):

* **Passive** scanning sends no scan requests: less radio, and phones are not asked for their
  scan response. BlueZ offers it only through its advertisement monitor API (BlueZ 5.56+, with
  ``--experimental``, kernel 5.10+), which also needs "or patterns"; ours match the flags every
  connectable device and beacon advertises, Apple manufacturer data and Eddystone service data.
  With ``scanning_mode: auto`` (the default) a passive scan that BlueZ refuses falls back to an
  active one, once, with a warning.
* BlueZ errors never stop the agent. A start that fails (``org.bluez.Error.InProgress``,
  "operation already in progress", when another discovery is starting; ``NotReady`` while the
  adapter resets) is retried with backoff. A scan that stops delivering while it believes it
  runs (the adapter was reset or bluetoothd restarted under it) is detected by silence: a
  coworking space always has a phone advertising, so ``silence_s`` without any advertisement
  restarts the scan.
* The scan is also restarted when the anonymous-counting salt is replaced (at least daily):
  bleak keeps every address it heard in ``seen_devices`` until scanning restarts.

Each window (``window_s``, 5 s by default, the hub's ``ble_window_s`` once its config arrived)
ends with a :class:`~edge.sources.base.BleReport` built by
:class:`~edge.sources.ble_window.BleWindowAggregator`, which holds the privacy rule.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from edge.clock import Clock, utc_now
from edge.source_settings import BleSettings
from edge.sources.base import BleReport, Sink, Source
from edge.sources.ble_window import BleWindowAggregator
from edge.sources.irk import IrkResolver
from vivant.wire.payloads import NodeConfig

if TYPE_CHECKING:
    from bleak.backends.device import BLEDevice
    from bleak.backends.scanner import AdvertisementData, BaseBleakScanner

log = logging.getLogger(__name__)

SILENCE_S: Final = 60.0
_RETRY_MIN_S: Final = 1.0
_RETRY_MAX_S: Final = 30.0
# Flags values seen in practice: LE General/Limited Discoverable, BR/EDR not supported, and the
# "simultaneous LE and BR/EDR" bits phones set.
_PASSIVE_FLAGS: Final = (0x02, 0x04, 0x05, 0x06, 0x0A, 0x12, 0x18, 0x1A, 0x1B, 0x1E)


@dataclass
class BleStats:
    """What the scanner did since it started."""

    advertisements: int = 0
    windows: int = 0
    starts: int = 0
    start_failures: int = 0
    silence_restarts: int = 0
    mode: str | None = None
    """Scanning mode in use (``passive`` or ``active``), ``None`` before the first start."""


class BleScanner(Source):
    """Scans continuously and reports one window at a time."""

    name = "ble"

    def __init__(
        self,
        settings: BleSettings,
        *,
        backend: type[BaseBleakScanner] | None = None,
        clock: Clock = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
        silence_s: float = SILENCE_S,
        retry_min_s: float = _RETRY_MIN_S,
    ) -> None:
        """Prepare a scanner; *backend* replaces BlueZ (a replaying fake in tests and demos)."""
        self.settings = settings
        self._backend = backend
        self._clock = clock
        self._monotonic = monotonic
        self._silence_s = silence_s
        self._retry_min_s = retry_min_s
        self._window_s = settings.window_s
        self._mode = "passive" if settings.scanning_mode != "active" else "active"
        self.aggregator = BleWindowAggregator(
            settings.enrolled_tags,
            IrkResolver({irk.id: irk.key_bytes() for irk in settings.irks}),
            min_rssi=settings.min_rssi,
            salt_rotation_s=settings.salt_rotation_h * 3600,
            monotonic=monotonic,
        )
        self.stats = BleStats()
        self._last_heard = monotonic()
        self._restart = asyncio.Event()
        self._rotations_seen = 0

    @property
    def window_s(self) -> float:
        """Current window length, seconds."""
        return self._window_s

    def configure(self, node_config: NodeConfig) -> None:
        """Take the hub's enrolled tags and window length (from the next advertisement on)."""
        self.set_enrolled(node_config.enrolled_tags)
        if node_config.ble_window_s != self._window_s:
            log.info("BLE window now %.1f s (was %.1f s)", node_config.ble_window_s, self._window_s)
            self._window_s = node_config.ble_window_s

    def set_enrolled(self, tags: Iterable[str]) -> None:
        """Replace the tags reported by id."""
        tags = frozenset(tags)
        if tags != self.aggregator.enrolled:
            log.info("BLE: %d enrolled tag(s)", len(tags))
            self.aggregator.set_enrolled(tags)
        irk_ids = {tag.removeprefix("irk:") for tag in tags if tag.startswith("irk:")}
        known = {irk.id for irk in self.settings.irks}
        for missing in sorted(irk_ids - known):
            log.warning("BLE: irk:%s is enrolled but this node has no IRK for it", missing)

    async def run(self, sink: Sink) -> None:
        """Scan and report windows until cancelled."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self._scan_forever())
            group.create_task(self._windows(sink))

    # -- windows -----------------------------------------------------------------------------

    async def _windows(self, sink: Sink) -> None:
        started = self._monotonic()
        deadline = started + self._window_s
        while True:
            await asyncio.sleep(max(0.0, deadline - self._monotonic()))
            now = self._monotonic()
            summary = self.aggregator.close_window(next_window_s=self._window_s)
            self.stats.windows += 1
            sink.ble(
                BleReport(
                    room=self.settings.room,
                    at=self._clock(),
                    window_s=round(min(3600.0, max(0.001, now - started)), 3),
                    tags=summary.tags,
                    anonymous=summary.anonymous,
                )
            )
            if self.aggregator.salt_rotations != self._rotations_seen:
                self._rotations_seen = self.aggregator.salt_rotations
                self._restart.set()  # so bleak forgets the addresses it holds
            started = now
            deadline = max(deadline + self._window_s, now + self._window_s / 2)

    # -- scanning ----------------------------------------------------------------------------

    async def _scan_forever(self) -> None:
        failures = 0
        while True:
            try:
                scanner = self._new_scanner(self._mode)
                await scanner.start()
            except Exception as error:
                if self._mode == "passive" and self.settings.scanning_mode == "auto":
                    log.warning("BLE: passive scanning refused (%s); scanning actively", error)
                    self._mode = "active"
                    continue
                failures += 1
                self.stats.start_failures += 1
                delay = min(_RETRY_MAX_S, self._retry_min_s * 2 ** (failures - 1))
                log.warning("BLE scan could not start (%s); retrying in %.1f s", error, delay)
                await asyncio.sleep(delay)
                continue
            failures = 0
            self.stats.starts += 1
            self.stats.mode = self._mode
            log.info("BLE scan started (%s)", self._mode)
            try:
                await self._watch()
            finally:
                with contextlib.suppress(Exception):
                    await scanner.stop()

    async def _watch(self) -> None:
        """Return when the scan must be restarted: silence, or a salt rotation."""
        self._restart.clear()
        self._last_heard = self._monotonic()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._restart.wait(), timeout=min(5.0, self._silence_s))
            if self._restart.is_set():
                log.debug("BLE scan restarting (salt replaced)")
                return
            silent = self._monotonic() - self._last_heard
            if silent >= self._silence_s:
                self.stats.silence_restarts += 1
                log.warning("BLE: nothing heard for %.0f s; restarting the scan", silent)
                return

    def _new_scanner(self, mode: str) -> Any:
        from bleak import BleakScanner

        bluez: dict[str, Any] = {}
        if self.settings.adapter is not None:
            bluez["adapter"] = self.settings.adapter
        if mode == "passive":
            bluez["or_patterns"] = passive_patterns()
        return BleakScanner(
            self._on_advertisement,
            scanning_mode="passive" if mode == "passive" else "active",
            bluez=bluez,  # type: ignore[arg-type]
            backend=self._backend,
        )

    def _on_advertisement(self, device: BLEDevice, adv: AdvertisementData) -> None:
        self._last_heard = self._monotonic()
        self.stats.advertisements += 1
        self.aggregator.observe(
            device.address,
            adv.rssi,
            adv.manufacturer_data,
            adv.service_data,
            address_type(adv.platform_data),
        )


def address_type(platform_data: tuple[Any, ...]) -> str | None:
    """BlueZ's ``AddressType`` (``public`` / ``random``) from bleak's platform data, if present."""
    if len(platform_data) >= 2 and isinstance(platform_data[1], dict):
        value = platform_data[1].get("AddressType")
        return value if isinstance(value, str) else None
    return None


def passive_patterns() -> list[Any]:
    """BlueZ advertisement-monitor patterns matching what we look for (and most devices)."""
    from bleak.args.bluez import OrPattern
    from bleak.assigned_numbers import AdvertisementDataType

    patterns = [OrPattern(0, AdvertisementDataType.FLAGS, bytes([f])) for f in _PASSIVE_FLAGS]
    patterns.append(OrPattern(0, AdvertisementDataType.MANUFACTURER_SPECIFIC_DATA, b"\x4c\x00"))
    patterns.append(OrPattern(0, AdvertisementDataType.SERVICE_DATA_UUID16, b"\xaa\xfe"))
    return patterns
