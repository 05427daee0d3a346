"""Keyboard-wedge readers: key events to UIDs, and (where the kernel allows) a virtual keyboard."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import cast

import pytest

from edge.source_settings import EvdevSettings
from edge.sources.badge import BadgeRead
from edge.sources.readers.evdev import (
    EV_KEY,
    KEY_CHARS,
    KEY_ENTER,
    KEY_KPENTER,
    EvdevBadgeReader,
    KeyboardWedgeParser,
)

CODES = {char: code for code, char in reversed(KEY_CHARS.items())}  # main-row keys win
KEY_LEFTSHIFT = 42
EV_SYN = 0


def typed(text: str, at: float = 0.0, enter: int = KEY_ENTER) -> list[tuple[int, int, int, float]]:
    """The events a wedge reader sends for *text* and Enter: key down, key up, sync."""
    events: list[tuple[int, int, int, float]] = []
    for code in [CODES[c] for c in text] + [enter]:
        events += [(EV_KEY, code, 1, at), (EV_KEY, code, 0, at), (EV_SYN, 0, 0, at)]
        at += 0.004
    return events


def feed(parser: KeyboardWedgeParser, events: list[tuple[int, int, int, float]]) -> list[str]:
    return [uid for e in events if (uid := parser.feed(*e)) is not None]


def test_hex_uid_then_enter() -> None:
    assert feed(KeyboardWedgeParser(), typed("04A1B2C3D4E5F6")) == ["04A1B2C3D4E5F6"]


def test_decimal_readers_and_the_keypad() -> None:
    parser = KeyboardWedgeParser("decimal")
    assert feed(parser, typed("0012345678", enter=KEY_KPENTER)) == ["00BC614E"]


def test_shift_and_autorepeat_are_ignored() -> None:
    events = [(EV_KEY, KEY_LEFTSHIFT, 1, 0.0), *typed("04AB")]
    events.insert(3, (EV_KEY, CODES["4"], 2, 0.0))  # autorepeat of a held key
    assert feed(KeyboardWedgeParser(), events) == ["04AB"]


def test_a_half_typed_uid_is_dropped_not_merged() -> None:
    parser = KeyboardWedgeParser(timeout_s=1.0)
    events = typed("04A1", at=0.0)[:-3] + typed("04B2C3D4", at=5.0)  # Enter lost, then a new card
    assert feed(parser, events) == ["04B2C3D4"]
    assert parser.dropped == 1


def test_odd_digits_are_not_a_uid() -> None:
    parser = KeyboardWedgeParser()
    assert feed(parser, typed("04A")) == []
    assert parser.dropped == 1


def uinput_available() -> bool:
    try:
        import evdev  # noqa: F401
    except ImportError:
        return False
    return os.access("/dev/uinput", os.W_OK)


@pytest.mark.skipif(not uinput_available(), reason="needs python-evdev and a writable /dev/uinput")
async def test_a_virtual_keyboard_is_grabbed_and_read() -> None:
    import evdev

    with evdev.UInput(name="vivant-test-wedge") as keyboard:
        await asyncio.sleep(0.2)  # udev creates the device node
        path = Path(keyboard.device.path)
        reader = EvdevBadgeReader("porte", EvdevSettings(device=path))
        stream = cast(AsyncGenerator[BadgeRead, None], reader.reads())
        first = asyncio.ensure_future(anext(stream))
        await asyncio.sleep(0.2)
        for event_type, code, value, _ in typed("04A1B2C3"):
            keyboard.write(event_type, code, value)
        read = await asyncio.wait_for(first, 5)
        assert read.uid == "04A1B2C3"
        await stream.aclose()
        await reader.close()
