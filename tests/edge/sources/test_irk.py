"""IRK resolution against the Bluetooth Core spec's sample data (Vol 3, Part H, D.7)."""

from __future__ import annotations

import random

import pytest

from edge.sources.ble_fake import resolvable_address
from edge.sources.irk import IrkResolver, address_bytes, ah, is_resolvable

SPEC_IRK = bytes.fromhex("ec0234a357c8ad05341010a60a397d9b")
SPEC_PRAND = bytes.fromhex("708194")
SPEC_HASH = bytes.fromhex("0dfbaa")


def test_ah_matches_the_spec_sample() -> None:
    assert ah(SPEC_IRK, SPEC_PRAND) == SPEC_HASH


def test_the_spec_address_resolves_to_its_enrolled_phone() -> None:
    resolver = IrkResolver({"other": bytes(16), "camille-phone": SPEC_IRK})
    address = address_bytes("70:81:94:0D:FB:AA")
    assert address is not None
    assert is_resolvable(address)
    assert resolver.resolve(address) == "camille-phone"


def test_a_rotated_address_still_resolves_and_others_do_not() -> None:
    rng = random.Random(3)
    resolver = IrkResolver({"camille-phone": SPEC_IRK})
    for _ in range(20):
        rotated = address_bytes(resolvable_address(SPEC_IRK, rng))
        assert rotated is not None
        assert resolver.resolve(rotated) == "camille-phone"
    stranger = address_bytes(resolvable_address(bytes(range(16)), rng))
    assert stranger is not None
    assert resolver.resolve(stranger) is None
    tampered = bytearray(address_bytes("70:81:94:0D:FB:AB") or b"")
    assert resolver.resolve(bytes(tampered)) is None


def test_only_resolvable_private_addresses_are_tried() -> None:
    resolver = IrkResolver({"camille-phone": SPEC_IRK})
    static = address_bytes("F0:81:94:0D:FB:AA")  # top bits 11: static random, never an RPA
    assert static is not None
    assert not is_resolvable(static)
    assert resolver.resolve(static) is None
    assert address_bytes("not-an-address") is None
    assert address_bytes("2D3A8E1B-0000-4C7A-9F3E-AAAAAAAAAAAA") is None  # a macOS device UUID


def test_bad_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        IrkResolver({"short": b"\x01" * 15})
    with pytest.raises(ValueError, match="prand"):
        ah(SPEC_IRK, b"\x70\x81")
