"""One window of advertisements: enrolled tags by id, everything else only counted."""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Callable
from pathlib import Path

import pytest

from edge.sources.ble_fake import Advertisement, load_recording
from edge.sources.ble_window import BleWindowAggregator, TagSummary
from edge.sources.irk import IrkResolver

DATA = Path(__file__).resolve().parents[1] / "data" / "advertisements.jsonl"
SPEC_IRK = bytes.fromhex("ec0234a357c8ad05341010a60a397d9b")
IBEACON = "iBeacon:e5ca1ade-f007-ba11-0000-000000000000-100-1"
EDDYSTONE = "eddystone:edd1ebeac04e5defa017-0123456789ab"
FIXED = "mac:c2a1b2c3d4e5"
PHONE = "irk:camille-phone"
ENROLLED = [IBEACON, EDDYSTONE, FIXED, PHONE]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def feed(aggregator: BleWindowAggregator, advertisements: list[Advertisement]) -> None:
    for ad in advertisements:
        aggregator.observe(
            ad.address, ad.rssi, ad.manufacturer_data, ad.service_data, ad.address_type
        )


def aggregator(
    enrolled: list[str] = ENROLLED,
    *,
    salt_rotation_s: float = 24 * 3600,
    monotonic: Callable[[], float] | None = None,
    new_salt: Callable[[int], bytes] = secrets.token_bytes,
) -> BleWindowAggregator:
    return BleWindowAggregator(
        enrolled,
        IrkResolver({"camille-phone": SPEC_IRK}),
        salt_rotation_s=salt_rotation_s,
        monotonic=monotonic or Clock(),
        new_salt=new_salt,
    )


def test_the_recording_gives_each_enrolled_tag_and_a_count() -> None:
    window = aggregator()
    feed(window, load_recording(DATA))
    summary = window.close_window()
    assert summary.tags == (
        TagSummary(IBEACON, -62.0, 5),  # median: the -91 multipath dip does not drag it down
        TagSummary(PHONE, -66.5, 4),  # two private addresses, one phone
        TagSummary(EDDYSTONE, -71.0, 3),
        TagSummary(FIXED, -81.0, 2),
    )
    assert summary.anonymous == 4, "four strangers, each counted once; the too-weak one ignored"


def test_the_window_is_forgotten_once_closed() -> None:
    window = aggregator()
    feed(window, load_recording(DATA))
    window.close_window()
    empty = window.close_window()
    assert (empty.tags, empty.anonymous) == ((), 0)


def test_a_tag_not_enrolled_is_only_counted() -> None:
    window = aggregator([IBEACON])
    feed(window, load_recording(DATA))
    summary = window.close_window()
    assert [t.tag for t in summary.tags] == [IBEACON]
    # eddystone, fixed tag, two addresses of the phone and the four strangers
    assert summary.anonymous == 8


def test_enrolment_changes_apply_live() -> None:
    window = aggregator([])
    recording = load_recording(DATA)
    feed(window, recording)
    assert window.close_window().tags == ()
    window.set_enrolled([PHONE])
    feed(window, recording)
    assert [t.tag for t in window.close_window().tags] == [PHONE]


def test_the_salt_is_replaced_at_a_window_boundary_after_its_time() -> None:
    clock = Clock()
    salts = iter([b"a" * 16, b"b" * 16, b"c" * 16])
    window = aggregator(salt_rotation_s=3600.0, monotonic=clock, new_salt=lambda n: next(salts)[:n])
    clock.now = 3599
    window.close_window()
    assert window.salt_rotations == 0
    clock.now = 3600
    window.close_window()
    assert window.salt_rotations == 1
    clock.now = 7199
    window.close_window()
    assert window.salt_rotations == 1


def test_nothing_about_strangers_is_kept_as_text() -> None:
    window = aggregator()
    feed(window, load_recording(DATA))
    kept = repr(vars(window)).upper()
    for stranger in ("7C:99:88:77:66:55", "51:E2:D3:FF:F3:B8", "00:1A:7D:DA:71:13"):
        assert stranger not in kept
        assert stranger.replace(":", "") not in kept
    assert "GALAXY" not in kept


def test_rssi_out_of_the_contract_range_is_ignored() -> None:
    window = aggregator([FIXED])
    window.observe("C2:A1:B2:C3:D4:E5", 127, {}, {}, "random")  # BlueZ's "unknown"
    window.observe("C2:A1:B2:C3:D4:E5", -101, {}, {}, "random")
    assert window.close_window().tags == ()


@pytest.mark.parametrize("window_s", [5.0, 7.0, 61.0, 3599.0])
def test_no_salt_lives_longer_than_a_day_over_three_days(window_s: float) -> None:
    """Time travel through three days of windows of any length: every salt is replaced before
    it is 24 h old (CNIL: pseudonymised BLE identifiers are destroyed within 24 h), and a
    stranger heard in every window is counted once per window, never linked across salts."""
    clock = Clock()
    births: list[float] = []

    def new_salt(n: int) -> bytes:
        births.append(clock.now)
        return secrets.token_bytes(n)

    window = aggregator(monotonic=clock, new_salt=new_salt)
    while clock.now < 3 * 24 * 3600:
        window.observe("7A:11:22:33:44:55", -60, {}, {}, "random")
        clock.now += window_s
        assert window.close_window(next_window_s=window_s).anonymous == 1
    births.append(clock.now)  # the salt in use now is at most one window old
    lifetimes = [later - earlier for earlier, later in itertools.pairwise(births)]
    assert len(lifetimes) >= 3
    assert max(lifetimes) <= 24 * 3600
    assert min(lifetimes[:-1]) > 24 * 3600 - 2 * window_s  # and not much more often


def test_without_the_next_window_length_the_salt_could_outlive_a_day() -> None:
    """Why the scanner passes the next window's length: with 7-s windows, rotating at the first
    boundary after 24 h would keep a salt 24 h + 1 s."""
    clock = Clock()
    window = aggregator(monotonic=clock)
    clock.now = 86_394.0  # the last 7-s boundary before 24 h
    window.close_window()
    assert window.salt_rotations == 0
    window.close_window(next_window_s=7.0)
    assert window.salt_rotations == 1
