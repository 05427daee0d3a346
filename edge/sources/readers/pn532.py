"""PN532 NFC modules (I2C or UART) through Adafruit's CircuitPython driver.

The PN532 is the NFC chip of most hobby NFC boards (Adafruit, Elechouse V3, the red "NFC
module V3"); its DIP switches select HSU (UART), I2C or SPI. ``adafruit-circuitpython-pn532`` is
maintained and speaks both I2C (through Blinka's ``busio``) and UART (any object with
``read``/``write``, here a pyserial port), so it is used instead of a home-grown frame parser.

Polling: ``read_passive_target(timeout=poll_s)`` asks for one ISO 14443-A card and returns its
UID or ``None``; a card resting on the antenna answers at every poll and is reported once
(:class:`~edge.sources.readers.polling.PresenceTracker`). ``SAM_configuration`` is sent at every
open: the PN532 forgets it when it browns out.

Wiring quirks: on I2C the PN532 stretches the clock, which the Pi's hardware I2C handles badly at
100 kHz; set ``dtparam=i2c_arm_baudrate=50000`` in ``/boot/firmware/config.txt`` if reads fail
intermittently. On UART, disable the serial console (``raspi-config``) first. The driver and
Blinka are in the ``edge-pn532`` extra and imported only when such a reader is opened.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from edge.clock import Clock, utc_now
from edge.config import BadgeReaderSettings
from edge.source_settings import Pn532Settings
from edge.sources.readers.polling import PollingBadgeReader, PresenceTracker

log = logging.getLogger(__name__)


class Pn532(Protocol):
    """The part of Adafruit's ``PN532`` class the reader uses."""

    def SAM_configuration(self) -> None:
        """Configure the chip to read ISO 14443-A cards."""

    def read_passive_target(self, card_baud: int = ..., timeout: float = ...) -> Any:
        """The UID of a card in the field, or ``None`` after *timeout* seconds."""


def open_pn532(settings: Pn532Settings) -> Pn532:
    """Open the module as configured (imports the Adafruit driver)."""
    if settings.interface == "i2c":
        import board
        import busio
        from adafruit_pn532.i2c import PN532_I2C

        chip: Pn532 = PN532_I2C(busio.I2C(board.SCL, board.SDA), address=settings.i2c_address)
        return chip
    import serial
    from adafruit_pn532.uart import PN532_UART

    uart = serial.Serial(settings.port, baudrate=115200, timeout=0.1)
    chip = PN532_UART(uart)
    return chip


class Pn532BadgeReader(PollingBadgeReader):
    """A PN532 module polled for ISO 14443-A cards."""

    def __init__(
        self,
        reader_id: str,
        settings: Pn532Settings,
        *,
        clock: Clock = utc_now,
        opener: Callable[[Pn532Settings], Pn532] = open_pn532,
    ) -> None:
        """Prepare the reader; *opener* replaces the Adafruit driver (a fake chip in tests)."""
        super().__init__(reader_id, clock=clock)
        self.settings = settings
        self._opener = opener
        self._chip: Pn532 | None = None
        self._presence = PresenceTracker()

    @classmethod
    def from_settings(cls, settings: BadgeReaderSettings, clock: Clock) -> Pn532BadgeReader:
        """The reader of a ``kind: pn532`` entry."""
        return cls(settings.id, settings.pn532 or Pn532Settings(), clock=clock)

    def _open(self) -> None:
        chip = self._opener(self.settings)
        chip.SAM_configuration()
        self._chip = chip
        self._presence = PresenceTracker()

    def _poll(self) -> list[str | bytes]:
        assert self._chip is not None
        found = self._chip.read_passive_target(timeout=self.settings.poll_s)
        uid = self._presence.seen(bytes(found) if found else None)
        return [uid] if uid is not None else []

    def _release(self) -> None:
        self._chip = None
