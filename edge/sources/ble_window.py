"""Folding BLE advertisements into one report per window, under the contract's privacy rule.

Every advertisement heard goes through :meth:`BleWindowAggregator.observe`:

1. Weaker than ``min_rssi``: ignored (a device three rooms away says nothing about this one).
2. An enrolled tag (its iBeacon or Eddystone id, its fixed address, or its private address
   resolved through an enrolled IRK): its RSSI is added to that tag's samples.
3. Anything else: only *counted*. Its address is turned into a keyed hash under a salt that
   exists only in this process's memory, the hash goes into a set so a device advertising ten
   times is counted once, and the set is emptied at the end of the window. The salt is replaced
   at the last window boundary before it would turn ``salt_rotation_s`` old (24 h at most, the
   CNIL's limit for pseudonymised Wi-Fi/BLE identifiers), so no salt ever outlives it and not
   even this process can link two days' hashes. No address, hash or name is stored or sent.

At the end of a window (:meth:`BleWindowAggregator.close_window`) each tag's RSSI is smoothed
with the median of its samples: one advertisement in five can come 10-20 dB low because of
multipath fading or a body in the way, which drags a mean down but not a median.

Cost per advertisement is a few dictionary look-ups and one 8-byte BLAKE2b; an IRK costs one AES
block per unknown private address per window (answers are cached, keyed by the salted hash,
until the window ends), so 100 advertisements a second stay well under 1 % of a Pi's core.
"""

from __future__ import annotations

import hashlib
import secrets
import statistics
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from edge.sources.ble_parse import address_kind, mac_id, payload_ids
from edge.sources.irk import IrkResolver, address_bytes

MAX_TAGS_PER_WINDOW: Final = 512  # BleWindow.tags max_length
MAX_RSSI: Final = 20  # TagReading.rssi upper bound
_MAX_SAMPLES_PER_TAG: Final = 2048
_MAX_ANONYMOUS: Final = 100_000  # BleWindow.anonymous upper bound
_SALT_BYTES: Final = 16
_HASH_BYTES: Final = 8


@dataclass(frozen=True, slots=True)
class TagSummary:
    """One enrolled tag over a window: smoothed RSSI (dBm) and how many advertisements."""

    tag: str
    rssi: float
    n: int


@dataclass(frozen=True, slots=True)
class WindowSummary:
    """What one window heard: enrolled tags by id (strongest first) and a count of the rest."""

    tags: tuple[TagSummary, ...]
    anonymous: int


class BleWindowAggregator:
    """Accumulates one window of advertisements; not thread-safe (the event loop owns it)."""

    def __init__(
        self,
        enrolled: Iterable[str],
        resolver: IrkResolver,
        *,
        min_rssi: int = -100,
        salt_rotation_s: float = 24 * 3600,
        monotonic: Callable[[], float] = time.monotonic,
        new_salt: Callable[[int], bytes] = secrets.token_bytes,
    ) -> None:
        self._enrolled = frozenset(enrolled)
        self._resolver = resolver
        self._min_rssi = min_rssi
        self._salt_rotation_s = salt_rotation_s
        self._monotonic = monotonic
        self._new_salt = new_salt
        self._salt = new_salt(_SALT_BYTES)
        self._salt_born = monotonic()
        self._samples: dict[str, list[int]] = {}
        self._anonymous: set[bytes] = set()
        self._known: dict[bytes, str | None] = {}  # salted hash -> enrolled tag, this window
        self.salt_rotations = 0
        """How many times the salt was replaced."""

    @property
    def enrolled(self) -> frozenset[str]:
        """Tag ids reported by id."""
        return self._enrolled

    def set_enrolled(self, enrolled: Iterable[str]) -> None:
        """Replace the enrolled tags (the hub's config changed); applies from now on."""
        self._enrolled = frozenset(enrolled)
        self._known.clear()

    def observe(
        self,
        address: str,
        rssi: int,
        manufacturer_data: Mapping[int, bytes],
        service_data: Mapping[str, bytes],
        address_type: str | None = None,
    ) -> None:
        """Account for one advertisement."""
        if not self._min_rssi <= rssi <= MAX_RSSI:  # BlueZ says 127 when it does not know
            return
        tag = self._enrolled_tag(address, manufacturer_data, service_data, address_type)
        if tag is None:
            return
        samples = self._samples.setdefault(tag, [])
        if len(samples) < _MAX_SAMPLES_PER_TAG:
            samples.append(rssi)

    def _enrolled_tag(
        self,
        address: str,
        manufacturer_data: Mapping[int, bytes],
        service_data: Mapping[str, bytes],
        address_type: str | None,
    ) -> str | None:
        """The enrolled tag this advertisement belongs to, or ``None`` after counting it."""
        enrolled = self._enrolled
        for payload_tag in payload_ids(manufacturer_data, service_data):
            if payload_tag in enrolled:
                return payload_tag
        raw = address_bytes(address)
        if raw is None:  # not a Bluetooth address (never on BlueZ): count it only
            self._count(hashlib.blake2b(address.encode(), key=self._salt, digest_size=8).digest())
            return None
        digest = hashlib.blake2b(raw, key=self._salt, digest_size=_HASH_BYTES).digest()
        if digest in self._known:
            tag = self._known[digest]
        else:
            tag = self._address_tag(raw, address_type)
            self._known[digest] = tag
        if tag is None:
            self._count(digest)
        return tag

    def _address_tag(self, raw: bytes, address_type: str | None) -> str | None:
        kind = address_kind(raw, address_type)
        if kind in ("public", "static"):
            tag = mac_id(raw)
            return tag if tag in self._enrolled else None
        if kind == "resolvable":
            enrolled_id = self._resolver.resolve(raw)
            if enrolled_id is not None and f"irk:{enrolled_id}" in self._enrolled:
                return f"irk:{enrolled_id}"
        return None

    def _count(self, digest: bytes) -> None:
        if len(self._anonymous) < _MAX_ANONYMOUS:
            self._anonymous.add(digest)

    def close_window(self, next_window_s: float = 0.0) -> WindowSummary:
        """Summarise the window, forget it, and replace the salt if it is due.

        *next_window_s* is the length of the window about to start: the salt is replaced now if
        it would otherwise reach ``salt_rotation_s`` before that window closes.
        """
        tags = sorted(
            (
                TagSummary(tag, round(float(statistics.median(samples)), 1), len(samples))
                for tag, samples in self._samples.items()
            ),
            key=lambda t: (-t.rssi, t.tag),
        )[:MAX_TAGS_PER_WINDOW]
        summary = WindowSummary(tuple(tags), len(self._anonymous))
        self._samples = {}
        self._anonymous = set()
        self._known = {}
        if self._monotonic() - self._salt_born + next_window_s >= self._salt_rotation_s:
            self.rotate_salt()
        return summary

    def rotate_salt(self) -> None:
        """Replace the salt now (at a window boundary, so no window mixes two salts)."""
        self._salt = self._new_salt(_SALT_BYTES)
        self._salt_born = self._monotonic()
        self._known = {}
        self.salt_rotations += 1
