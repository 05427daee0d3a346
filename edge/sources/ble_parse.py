"""Reading tag ids out of BLE advertisements: iBeacon, Eddystone-UID, fixed addresses.

Ids follow the wire contract's ``TagId`` (ESPresense's scheme, lowercase hex):

* **iBeacon** (Apple): manufacturer data of company ``0x004C`` starting ``02 15``, then a
  16-byte proximity UUID, a big-endian major and minor, and the calibrated TX power.
  Id ``iBeacon:<uuid with dashes>-<major>-<minor>`` (major and minor in decimal). Apple uses
  the same company id for its own phones' Continuity messages; only the ``02 15`` prefix is
  an iBeacon.
* **Eddystone-UID** (Google): service data of UUID ``0xFEAA`` whose frame type is ``0x00``, then
  the TX power at 0 m, a 10-byte namespace and a 6-byte instance. Id
  ``eddystone:<namespace>-<instance>``. URL, TLM and EID frames carry no stable id.
* **Fixed address**: a public address or a random *static* one (top bits ``0b11``), as cheap
  tags (Tile-like key fobs, NutTag) use. Id ``mac:<12 hex digits>``. A phone's resolvable
  private address is not fixed: see :mod:`edge.sources.irk`.

Only ids are produced here; whether one is enrolled, and so may be reported, is decided by
:mod:`edge.sources.ble_window`. Nothing here keeps state.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from typing import Final, Literal

APPLE: Final = 0x004C
EDDYSTONE_UUID: Final = "0000feaa-0000-1000-8000-00805f9b34fb"
_IBEACON_PREFIX: Final = b"\x02\x15"
_IBEACON_LENGTH: Final = 23  # 02 15 + uuid(16) + major(2) + minor(2) + tx power(1)
_EDDYSTONE_UID_FRAME: Final = 0x00
_EDDYSTONE_UID_MIN_LENGTH: Final = 18  # frame(1) + tx(1) + namespace(10) + instance(6)

AddressKind = Literal["public", "static", "resolvable", "non_resolvable"]


def ibeacon_id(manufacturer_data: Mapping[int, bytes]) -> str | None:
    """The iBeacon tag id in Apple manufacturer data, if any."""
    data = manufacturer_data.get(APPLE)
    if data is None or len(data) < _IBEACON_LENGTH or not data.startswith(_IBEACON_PREFIX):
        return None
    proximity = uuid.UUID(bytes=bytes(data[2:18]))
    major = int.from_bytes(data[18:20], "big")
    minor = int.from_bytes(data[20:22], "big")
    return f"iBeacon:{proximity}-{major}-{minor}"


def eddystone_id(service_data: Mapping[str, bytes]) -> str | None:
    """The Eddystone-UID tag id in service data, if any."""
    data = service_data.get(EDDYSTONE_UUID)
    if data is None or len(data) < _EDDYSTONE_UID_MIN_LENGTH or data[0] != _EDDYSTONE_UID_FRAME:
        return None
    return f"eddystone:{bytes(data[2:12]).hex()}-{bytes(data[12:18]).hex()}"


def mac_id(address: bytes) -> str:
    """The ``mac:`` tag id of a 6-byte address."""
    return f"mac:{address.hex()}"


def address_kind(address: bytes, address_type: str | None) -> AddressKind:
    """What kind of address a device advertises from.

    *address_type* is BlueZ's ``AddressType`` (``public`` or ``random``) when known; without it
    the top two bits decide, which mistakes a public address for a random one one time in four:
    harmless, since an IRK then simply does not resolve it.
    """
    if address_type == "public":
        return "public"
    top = address[0] >> 6
    if top == 0b11:
        return "static"
    if top == 0b01:
        return "resolvable"
    if address_type == "random":
        return "non_resolvable"
    return "public"


def payload_ids(
    manufacturer_data: Mapping[int, bytes], service_data: Mapping[str, bytes]
) -> Iterator[str]:
    """Tag ids carried in an advertisement's payload (iBeacon, then Eddystone-UID)."""
    beacon = ibeacon_id(manufacturer_data)
    if beacon is not None:
        yield beacon
    eddystone = eddystone_id(service_data)
    if eddystone is not None:
        yield eddystone
