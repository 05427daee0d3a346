"""USB "keyboard wedge" badge readers, read through Linux evdev.

Most cheap USB RFID/NFC readers are HID keyboards: on each card they type the UID (hex digits, or
a 10-digit decimal number on 125 kHz readers) and press Enter. Reading them as a keyboard would
be a security hole and a mess: the digits would land on whatever has the focus, a console login
prompt included. So the device is opened through evdev and **grabbed** (``EVIOCGRAB``): while the
agent holds it, no other program (the console, X, Wayland) receives its keystrokes.

:class:`KeyboardWedgeParser` turns key events into UIDs and knows nothing of evdev, so it is
tested with plain event tuples. Only key-down events count (value 1; autorepeat, value 2, is
ignored); the keypad's digits and Enter count as the main ones; Shift is ignored (some readers
"type" uppercase hex with Shift held). A UID not finished by Enter within ``timeout_s`` of its
first digit is dropped, so a half-typed UID never merges with the next one.

The device path is best given by id (``/dev/input/by-id/usb-…-event-kbd``): ``eventN`` numbers
change with the order in which devices appear at boot. The agent's user must be in the ``input``
group. The ``evdev`` package is imported only when such a reader is opened.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any, Final

from edge.clock import Clock, utc_now
from edge.config import BadgeReaderSettings
from edge.source_settings import EvdevSettings
from edge.sources.badge import BadgeRead, BadgeReader
from edge.sources.readers.serial import decimal_uid

log = logging.getLogger(__name__)

EV_KEY: Final = 0x01
KEY_DOWN: Final = 1
KEY_ENTER: Final = 28
KEY_KPENTER: Final = 96
KEY_CHARS: Final[dict[int, str]] = {
    # Main row digits: KEY_1 .. KEY_9, KEY_0
    2: "1",
    3: "2",
    4: "3",
    5: "4",
    6: "5",
    7: "6",
    8: "7",
    9: "8",
    10: "9",
    11: "0",
    # Keypad digits: KEY_KP7, KP8, KP9, KP4, KP5, KP6, KP1, KP2, KP3, KP0
    71: "7",
    72: "8",
    73: "9",
    75: "4",
    76: "5",
    77: "6",
    79: "1",
    80: "2",
    81: "3",
    82: "0",
    # Hex letters: KEY_A, KEY_B, KEY_C, KEY_D, KEY_E, KEY_F
    30: "A",
    48: "B",
    46: "C",
    32: "D",
    18: "E",
    33: "F",
}
MAX_DIGITS: Final = 32


class KeyboardWedgeParser:
    """Key events in, UIDs out (as uppercase hex)."""

    def __init__(self, uid_format: str = "hex", timeout_s: float = 1.0) -> None:
        self._decimal = uid_format == "decimal"
        self._timeout_s = timeout_s
        self._chars: list[str] = []
        self._started = 0.0
        self.dropped = 0
        """Partial or invalid UIDs thrown away."""

    def feed(self, event_type: int, code: int, value: int, at: float) -> str | None:
        """One input event (*at*: its time in seconds); returns a UID when Enter completes one."""
        if event_type != EV_KEY or value != KEY_DOWN:
            return None
        if self._chars and at - self._started > self._timeout_s:
            self._chars.clear()
            self.dropped += 1
        if code in (KEY_ENTER, KEY_KPENTER):
            chars, self._chars = self._chars, []
            return self._finish("".join(chars)) if chars else None
        char = KEY_CHARS.get(code)
        if char is None:
            return None  # Shift, and keys a reader does not type
        if not self._chars:
            self._started = at
        if len(self._chars) >= MAX_DIGITS:
            self._chars.clear()
            self.dropped += 1
            return None
        self._chars.append(char)
        return None

    def _finish(self, text: str) -> str | None:
        if self._decimal:
            if text.isdigit():
                return decimal_uid(text)
        elif len(text) % 2 == 0:
            return text
        self.dropped += 1
        return None


class EvdevBadgeReader(BadgeReader):
    """A keyboard-wedge reader on an evdev input device."""

    def __init__(self, reader_id: str, settings: EvdevSettings, *, clock: Clock = utc_now) -> None:
        super().__init__(reader_id)
        self.settings = settings
        self._clock = clock
        self._device: Any = None
        self._closed = False

    @classmethod
    def from_settings(cls, settings: BadgeReaderSettings, clock: Clock) -> EvdevBadgeReader:
        """The reader of a ``kind: evdev`` entry."""
        if settings.evdev is None:
            raise ValueError(f"reader {settings.id} has no evdev section")
        return cls(settings.id, settings.evdev, clock=clock)

    async def reads(self) -> AsyncIterator[BadgeRead]:
        """Open and grab the device, then yield a read per UID typed, until :meth:`close`."""
        import evdev

        if self._closed:
            return
        device = evdev.InputDevice(str(self.settings.device))
        self._device = device
        try:
            if self.settings.grab:
                device.grab()
            log.info("badge reader %s: %s (%s)", self.id, device.path, device.name)
            parser = KeyboardWedgeParser(self.settings.uid_format)
            async for event in device.async_read_loop():
                uid = parser.feed(event.type, event.code, event.value, event.timestamp())
                if uid is not None:
                    yield BadgeRead(uid=uid, reader=self.id, at=self._clock())
        except OSError:
            if self._closed:
                return  # close() closed the device under the read loop
            raise
        finally:
            self._device = None
            with contextlib.suppress(OSError):
                if self.settings.grab:
                    device.ungrab()
            with contextlib.suppress(OSError):
                device.close()

    async def close(self) -> None:
        """Release the device; a running :meth:`reads` ends."""
        self._closed = True
        device = self._device
        if device is not None:
            with contextlib.suppress(OSError):
                device.close()
            await asyncio.sleep(0)
