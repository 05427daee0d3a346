"""A bleak backend without a radio: recorded or synthetic advertisements, played on demand.

bleak lets a caller choose the scanner backend (``BleakScanner(backend=...)``); this module ships
one, as gpiozero ships its ``MockFactory``, so the agent, ``vivant edge --simulate`` and the tests
run the real :class:`~edge.sources.ble.BleScanner` code on a laptop:

* :class:`Advertisement` is one recorded advertisement; :func:`load_recording` reads a JSON-lines
  recording (bytes in hex) and :meth:`Advertisement.to_json` writes one.
* :class:`BleReplay` is the radio environment. :meth:`BleReplay.backend` gives the scanner class
  to pass to bleak; every scanner started from it hears what :meth:`BleReplay.advertise`
  broadcasts, with BlueZ's platform data (``AddressType``) as the real backend gives it.
  Faults are scripted: :meth:`BleReplay.fail_next_start` (``org.bluez.Error.InProgress``…),
  ``passive_supported = False`` (a BlueZ without advertisement monitors), :meth:`BleReplay.silence`
  (an adapter reset under a running scan).
* :func:`synthetic_advertisements` makes a plausible room for demos: the enrolled tags (phones
  with IRKs rotate their private address) and a crowd of unknown devices.

The scanner fails loudly on any attribute the fake does not implement.
"""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn

from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.exc import BleakError

from edge.sources.ble_parse import APPLE, EDDYSTONE_UUID
from edge.sources.irk import ah


@dataclass(frozen=True, slots=True)
class Advertisement:
    """One advertisement as a BlueZ scanner reports it."""

    address: str
    rssi: int
    address_type: str = "public"
    manufacturer_data: Mapping[int, bytes] = field(default_factory=dict)
    service_data: Mapping[str, bytes] = field(default_factory=dict)
    local_name: str | None = None
    at_s: float = 0.0
    """Offset in the recording, seconds (used by :meth:`BleReplay.play`)."""

    def to_json(self) -> str:
        """One line of a recording."""
        return json.dumps(
            {
                "at_s": self.at_s,
                "address": self.address,
                "address_type": self.address_type,
                "rssi": self.rssi,
                "manufacturer_data": {str(k): v.hex() for k, v in self.manufacturer_data.items()},
                "service_data": {k: v.hex() for k, v in self.service_data.items()},
                "local_name": self.local_name,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, line: str) -> Advertisement:
        """Parse one line of a recording."""
        data = json.loads(line)
        return cls(
            address=data["address"],
            rssi=int(data["rssi"]),
            address_type=data.get("address_type", "public"),
            manufacturer_data={
                int(k): bytes.fromhex(v) for k, v in data.get("manufacturer_data", {}).items()
            },
            service_data={k: bytes.fromhex(v) for k, v in data.get("service_data", {}).items()},
            local_name=data.get("local_name"),
            at_s=float(data.get("at_s", 0.0)),
        )


def load_recording(path: Path) -> list[Advertisement]:
    """Read a JSON-lines recording (blank lines and ``#`` comments skipped)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [Advertisement.from_json(x) for x in lines if x.strip() and not x.startswith("#")]


class BleReplay:
    """A radio environment shared by the scanners made from :meth:`backend`."""

    def __init__(self) -> None:
        self._running: list[ReplayScanner] = []
        self._failures: deque[BaseException] = deque()
        self.passive_supported = True
        """Whether a passive scan may start (False: BlueZ without advertisement monitors)."""
        self.silent = False
        """While true, running scanners hear nothing (an adapter reset under the scan)."""
        self.starts: list[str] = []
        """Scanning mode of every successful start, in order."""
        self.stops = 0

    def backend(self) -> type[ReplayScanner]:
        """The scanner class to give bleak (``BleakScanner(backend=...)``)."""
        return type("ReplayScanner", (ReplayScanner,), {"replay": self})

    @property
    def running(self) -> int:
        """Scanners started and not stopped."""
        return len(self._running)

    def fail_next_start(self, error: BaseException) -> None:
        """Make the next start raise *error* (queued: call it twice for two failures)."""
        self._failures.append(error)

    def silence(self, silent: bool = True) -> None:
        """Stop (or resume) delivering advertisements while scanners believe they run."""
        self.silent = silent

    def advertise(self, advertisement: Advertisement) -> int:
        """Deliver one advertisement to every running scanner; returns how many heard it."""
        if self.silent:
            return 0
        for scanner in list(self._running):
            scanner.deliver(advertisement)
        return len(self._running)

    async def play(
        self, advertisements: list[Advertisement], *, speed: float = 1.0, repeat: bool = False
    ) -> None:
        """Deliver a recording at its own pace (``at_s``), *speed* times faster."""
        if speed <= 0:
            raise ValueError("speed must be positive")
        loop = asyncio.get_running_loop()
        origin = advertisements[0].at_s if advertisements else 0.0
        while True:
            begin = loop.time()
            for advertisement in advertisements:
                due = begin + (advertisement.at_s - origin) / speed
                await asyncio.sleep(max(0.0, due - loop.time()))
                self.advertise(advertisement)
            if not repeat:
                return
            await asyncio.sleep(0)

    def _start(self, scanner: ReplayScanner) -> None:
        if self._failures:
            raise self._failures.popleft()
        if scanner.mode == "passive" and not self.passive_supported:
            raise BleakError(
                "passive scanning on Linux requires BlueZ >= 5.56 with --experimental enabled "
                "and Linux kernel >= 5.10"
            )
        self._running.append(scanner)
        self.starts.append(scanner.mode)

    def _stop(self, scanner: ReplayScanner) -> None:
        if scanner in self._running:
            self._running.remove(scanner)
            self.stops += 1


class ReplayScanner(BaseBleakScanner):
    """A bleak scanner backend fed by a :class:`BleReplay` (use :meth:`BleReplay.backend`)."""

    replay: ClassVar[BleReplay]

    def __init__(
        self,
        detection_callback: Any,
        service_uuids: list[str] | None,
        scanning_mode: str,
        *,
        bluez: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        self.mode = scanning_mode
        if scanning_mode == "passive" and not (bluez or {}).get("or_patterns"):
            raise BleakError("passive scanning mode requires bluez or_patterns")

    async def start(self) -> None:
        """Start hearing the replay (may raise a scripted failure)."""
        self.seen_devices = {}
        self.replay._start(self)

    async def stop(self) -> None:
        """Stop hearing the replay."""
        self.replay._stop(self)
        self.seen_devices = {}

    def deliver(self, advertisement: Advertisement) -> None:
        """Hand one advertisement to bleak's callbacks, as the BlueZ backend would."""
        path = "/org/bluez/hci0/dev_" + advertisement.address.replace(":", "_")
        props = {"Address": advertisement.address, "AddressType": advertisement.address_type}
        data = AdvertisementData(
            local_name=advertisement.local_name,
            manufacturer_data=dict(advertisement.manufacturer_data),
            service_data=dict(advertisement.service_data),
            service_uuids=[],
            tx_power=None,
            rssi=advertisement.rssi,
            platform_data=(path, props),
        )
        if not self.is_allowed_uuid(data.service_uuids):
            return
        device = self.create_or_update_device(
            path, advertisement.address, advertisement.local_name, {"path": path}, data
        )
        self.call_detection_callbacks(device, data)

    if not TYPE_CHECKING:  # hidden from mypy, which would otherwise accept any attribute

        def __getattr__(self, name: str) -> NoReturn:
            raise AttributeError(
                f"ReplayScanner does not implement {name!r}: add it to edge/sources/ble_fake.py"
            )


# -- building advertisements -------------------------------------------------------------------


def ibeacon(address: str, proximity: str, major: int, minor: int, rssi: int) -> Advertisement:
    """An iBeacon advertisement (TX power -59 dBm at 1 m)."""
    payload = (
        b"\x02\x15"
        + uuid.UUID(proximity).bytes
        + major.to_bytes(2, "big")
        + minor.to_bytes(2, "big")
        + (-59).to_bytes(1, "big", signed=True)
    )
    return Advertisement(address, rssi, "random", manufacturer_data={APPLE: payload})


def eddystone_uid(address: str, namespace: str, instance: str, rssi: int) -> Advertisement:
    """An Eddystone-UID advertisement."""
    frame = b"\x00" + (-20).to_bytes(1, "big", signed=True) + bytes.fromhex(namespace)
    frame += bytes.fromhex(instance) + b"\x00\x00"
    return Advertisement(address, rssi, "random", service_data={EDDYSTONE_UUID: frame})


def resolvable_address(irk: bytes, rng: random.Random) -> str:
    """A fresh resolvable private address of the phone holding *irk*."""
    prand = bytearray(rng.randbytes(3))
    prand[0] = (prand[0] & 0x3F) | 0x40
    return _text(bytes(prand) + ah(irk, bytes(prand)))


def random_address(rng: random.Random) -> tuple[str, str]:
    """An unknown device: a resolvable or non-resolvable private address, or a public one."""
    raw = bytearray(rng.randbytes(6))
    roll = rng.random()
    if roll < 0.6:
        raw[0] = (raw[0] & 0x3F) | 0x40  # a phone's private address
        return _text(bytes(raw)), "random"
    if roll < 0.8:
        raw[0] &= 0x3F  # non-resolvable private
        return _text(bytes(raw)), "random"
    return _text(bytes(raw)), "public"


def _text(raw: bytes) -> str:
    return ":".join(f"{b:02X}" for b in raw)


def tag_advertisement(
    tag: str, rssi: int, rng: random.Random, irks: Mapping[str, bytes]
) -> Advertisement | None:
    """An advertisement that identifies as enrolled *tag* (``None`` for an IRK we lack)."""
    scheme, _, value = tag.partition(":")
    if scheme == "iBeacon":
        proximity, major, minor = value[:36], *value[37:].split("-")
        return ibeacon(random_address(rng)[0], proximity, int(major), int(minor), rssi)
    if scheme == "eddystone":
        namespace, instance = value.split("-")
        return eddystone_uid(random_address(rng)[0], namespace, instance, rssi)
    if scheme == "mac":
        return Advertisement(_text(bytes.fromhex(value)), rssi, "public")
    if scheme == "irk" and value in irks:
        return Advertisement(resolvable_address(irks[value], rng), rssi, "random")
    return None


def synthetic_advertisements(
    enrolled: list[str],
    irks: Mapping[str, bytes],
    *,
    crowd: int = 12,
    seed: int | None = None,
    rate_hz: float = 10.0,
) -> Iterator[Advertisement]:
    """An endless stream: enrolled tags near the scanner and *crowd* unknown devices."""
    rng = random.Random(seed)  # noqa: S311 - a simulation, not security
    crowd_addresses = [random_address(rng) for _ in range(crowd)]
    at_s = 0.0
    while True:
        at_s += rng.expovariate(rate_hz)
        if enrolled and rng.random() < 0.4:
            made = tag_advertisement(rng.choice(enrolled), rng.randint(-85, -55), rng, irks)
            if made is not None:
                yield Advertisement(
                    made.address,
                    made.rssi,
                    made.address_type,
                    made.manufacturer_data,
                    made.service_data,
                    at_s=at_s,
                )
                continue
        if crowd_addresses:
            if rng.random() < 0.01:  # a phone rotates its private address
                crowd_addresses[rng.randrange(len(crowd_addresses))] = random_address(rng)
            address, kind = rng.choice(crowd_addresses)
            yield Advertisement(address, rng.randint(-98, -60), kind, at_s=at_s)
