"""Serial badge readers through pyserial: RDM6300 (125 kHz EM4100) and line-based readers.

**RDM6300** (and its clones: RDM630, 7941E in UART mode) sends, at 9600 8N1, one 14-byte frame
per read and repeats it every few hundred milliseconds while the card is in the field::

    0x02 | 10 ASCII hex digits (version byte + 4-byte card number) | 2 ASCII hex checksum | 0x03

The checksum is the XOR of the five data bytes. Frames are resynchronised on ``0x02`` so noise
or a half frame at start-up is skipped, and a frame failing its checksum is dropped (a card at
the edge of the field gives those). The repeats are dropped by the agent's debouncer.

The UID is the 5-byte EM4100 id, or its last 4 bytes with ``uid_bytes: 4``: keyboard-wedge
125 kHz readers usually type those 4 bytes as a 10-digit decimal number, and a card must give the
same credential at every reader of a site.

**Line** readers print the UID as text (hex, or decimal) followed by CR and/or LF.

The port may be a pyserial URL: ``loop://`` echoes what is written, which is how the tests feed
frames without hardware.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Final

from edge.clock import Clock, utc_now
from edge.config import BadgeReaderSettings
from edge.source_settings import SerialSettings
from edge.sources.readers.polling import PollingBadgeReader

log = logging.getLogger(__name__)

STX: Final = 0x02
ETX: Final = 0x03
RDM6300_FRAME: Final = 14
_MAX_LINE: Final = 64
_READ_TIMEOUT_S: Final = 0.2
_HEX: Final = frozenset(b"0123456789ABCDEFabcdef")


def decimal_uid(text: str) -> str:
    """A decimal card number as hex, at least 4 bytes (``"0012345678"`` → ``"00BC614E"``)."""
    number = int(text)
    return number.to_bytes(max(4, (number.bit_length() + 7) // 8), "big").hex().upper()


class Rdm6300Parser:
    """Turns a byte stream into card ids, frame by frame."""

    def __init__(self, uid_bytes: int = 5) -> None:
        if uid_bytes not in (4, 5):
            raise ValueError("uid_bytes is 4 or 5")
        self._uid_bytes = uid_bytes
        self._buffer = bytearray()
        self.bad_frames = 0

    def feed(self, data: bytes) -> list[str]:
        """Add bytes from the port; return the UIDs of the complete, valid frames."""
        self._buffer += data
        uids: list[str] = []
        while True:
            start = self._buffer.find(STX)
            if start < 0:
                self._buffer.clear()
                return uids
            del self._buffer[:start]
            if len(self._buffer) < RDM6300_FRAME:
                return uids
            frame = bytes(self._buffer[:RDM6300_FRAME])
            uid = self._decode(frame)
            if uid is None:
                self.bad_frames += 1
                del self._buffer[:1]  # resynchronise on the next STX
                continue
            del self._buffer[:RDM6300_FRAME]
            uids.append(uid)

    def _decode(self, frame: bytes) -> str | None:
        body = frame[1:13]
        if frame[13] != ETX or not all(b in _HEX for b in body):
            return None
        data = bytes.fromhex(body[:10].decode("ascii"))
        checksum = int(body[10:12], 16)
        xor = 0
        for byte in data:
            xor ^= byte
        if xor != checksum:
            return None
        return data[-self._uid_bytes :].hex().upper()


class LineParser:
    """Turns a byte stream of text lines into card ids."""

    def __init__(self, uid_format: str = "hex") -> None:
        self._decimal = uid_format == "decimal"
        self._buffer = bytearray()
        self.bad_lines = 0

    def feed(self, data: bytes) -> list[str]:
        """Add bytes from the port; return the UIDs of the complete lines."""
        self._buffer += data
        uids: list[str] = []
        while True:
            ends = [i for i in (self._buffer.find(b"\r"), self._buffer.find(b"\n")) if i >= 0]
            if not ends:
                if len(self._buffer) > _MAX_LINE:  # garbage without a line break
                    self._buffer.clear()
                    self.bad_lines += 1
                return uids
            end = min(ends)
            line = bytes(self._buffer[:end]).strip()
            del self._buffer[: end + 1]
            if not line:
                continue
            uid = self._decode(line)
            if uid is None:
                self.bad_lines += 1
            else:
                uids.append(uid)

    def _decode(self, line: bytes) -> str | None:
        try:
            text = line.decode("ascii")
        except UnicodeDecodeError:
            return None
        if self._decimal:
            return decimal_uid(text) if text.isdigit() else None
        return text if text and all(c in "0123456789ABCDEFabcdef:- " for c in text) else None


Opener = Callable[[], Any]
"""Opens the port: returns an object with ``read(n)`` (blocking up to a timeout) and ``close()``."""


class SerialBadgeReader(PollingBadgeReader):
    """A reader on a serial port."""

    def __init__(
        self,
        reader_id: str,
        settings: SerialSettings,
        *,
        clock: Clock = utc_now,
        opener: Opener | None = None,
    ) -> None:
        """Prepare the reader; *opener* replaces ``serial.serial_for_url(settings.port)``."""
        super().__init__(reader_id, clock=clock)
        self.settings = settings
        self._opener = opener or self._open_port
        self._port: Any = None
        self._parser: Rdm6300Parser | LineParser = self._new_parser()

    @classmethod
    def from_settings(cls, settings: BadgeReaderSettings, clock: Clock) -> SerialBadgeReader:
        """The reader of a ``kind: serial`` entry."""
        if settings.serial is None:
            raise ValueError(f"reader {settings.id} has no serial section")
        return cls(settings.id, settings.serial, clock=clock)

    def _new_parser(self) -> Rdm6300Parser | LineParser:
        if self.settings.protocol == "rdm6300":
            return Rdm6300Parser(self.settings.uid_bytes)
        return LineParser(self.settings.uid_format)

    def _open_port(self) -> Any:
        import serial

        return serial.serial_for_url(
            self.settings.port, baudrate=self.settings.baudrate, timeout=_READ_TIMEOUT_S
        )

    def _open(self) -> None:
        self._parser = self._new_parser()
        self._port = self._opener()

    def _poll(self) -> list[str | bytes]:
        data = self._port.read(RDM6300_FRAME * 4)
        return list(self._parser.feed(data)) if data else []

    def _release(self) -> None:
        port, self._port = self._port, None
        if port is not None:
            port.close()
