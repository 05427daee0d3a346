"""Tag ids out of advertisements: iBeacon, Eddystone-UID, address kinds."""

from __future__ import annotations

import pytest

from edge.sources.ble_fake import eddystone_uid, ibeacon
from edge.sources.ble_parse import (
    APPLE,
    EDDYSTONE_UUID,
    address_kind,
    eddystone_id,
    ibeacon_id,
    mac_id,
    payload_ids,
)
from vivant.wire.payloads import TagReading


def test_ibeacon() -> None:
    beacon = ibeacon("5A:01:02:03:04:05", "E5CA1ADE-F007-BA11-0000-000000000000", 100, 1, -60)
    tag = ibeacon_id(beacon.manufacturer_data)
    assert tag == "iBeacon:e5ca1ade-f007-ba11-0000-000000000000-100-1"
    TagReading(tag=tag, rssi=-60, n=1)  # a valid wire TagId


def test_apple_data_that_is_not_an_ibeacon() -> None:
    continuity = {APPLE: bytes.fromhex("1005031c0a2b3c")}  # an iPhone's "nearby" message
    assert ibeacon_id(continuity) is None
    assert ibeacon_id({APPLE: b"\x02\x15" + bytes(10)}) is None  # truncated
    assert ibeacon_id({0x0059: bytes(23)}) is None  # another company


def test_eddystone_uid() -> None:
    beacon = eddystone_uid("6B:11:22:33:44:55", "edd1ebeac04e5defa017", "0123456789ab", -70)
    tag = eddystone_id(beacon.service_data)
    assert tag == "eddystone:edd1ebeac04e5defa017-0123456789ab"
    TagReading(tag=tag, rssi=-70, n=1)


def test_other_eddystone_frames_have_no_id() -> None:
    assert eddystone_id({EDDYSTONE_UUID: b"\x10\xec\x03example"}) is None  # URL frame
    assert eddystone_id({EDDYSTONE_UUID: b"\x20\x00" + bytes(12)}) is None  # TLM frame
    assert eddystone_id({EDDYSTONE_UUID: b"\x00\xec\x01"}) is None  # truncated UID


def test_a_payload_can_carry_both() -> None:
    beacon = ibeacon("5A:01:02:03:04:05", "e5ca1ade-f007-ba11-0000-000000000000", 1, 2, -60)
    eddy = eddystone_uid("6B:11:22:33:44:55", "edd1ebeac04e5defa017", "0123456789ab", -70)
    ids = list(payload_ids(beacon.manufacturer_data, eddy.service_data))
    assert ids == [
        "iBeacon:e5ca1ade-f007-ba11-0000-000000000000-1-2",
        "eddystone:edd1ebeac04e5defa017-0123456789ab",
    ]


@pytest.mark.parametrize(
    ("address", "address_type", "kind"),
    [
        ("00:1A:7D:DA:71:13", "public", "public"),
        ("70:81:94:0D:FB:AA", "public", "public"),  # BlueZ knows better than the bits
        ("C2:A1:B2:C3:D4:E5", "random", "static"),
        ("70:81:94:0D:FB:AA", "random", "resolvable"),
        ("1F:2E:3D:4C:5B:6A", "random", "non_resolvable"),
        ("70:81:94:0D:FB:AA", None, "resolvable"),
        ("1F:2E:3D:4C:5B:6A", None, "public"),
    ],
)
def test_address_kinds(address: str, address_type: str | None, kind: str) -> None:
    raw = bytes.fromhex(address.replace(":", ""))
    assert address_kind(raw, address_type) == kind


def test_mac_id_is_lowercase_hex() -> None:
    assert mac_id(bytes.fromhex("C2A1B2C3D4E5")) == "mac:c2a1b2c3d4e5"
