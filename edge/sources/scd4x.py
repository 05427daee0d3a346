"""Sensirion SCD40 / SCD41: CO2 (photoacoustic NDIR), temperature and humidity over I2C.

A small driver over ``smbus2`` rather than Sensirion's ``sensirion-i2c-scd4x``: the official
package pulls in five more (a USB sensor-bridge stack among them) and changed its API between
0.x and 1.x, while the four commands a node needs fit in a page of the datasheet
("SCD4x Datasheet", sections 3.5 to 3.9):

============================  ======  ==============================================
command                       code    notes
============================  ======  ==============================================
start_periodic_measurement    0x21B1  a new measurement every 5 s
read_measurement              0xEC05  wait 1 ms, read 9 bytes: 3 words, each + CRC
get_data_ready_status         0xE4B8  wait 1 ms, read 3 bytes; ready if bits 0-10 ≠ 0
stop_periodic_measurement     0x3F86  wait 500 ms before the next command
============================  ======  ==============================================

Every word on the wire is big-endian and followed by a CRC-8 (polynomial 0x31, init 0xFF;
``crc8(0xBEEF) == 0x92``, the datasheet's example). Conversions: CO2 in ppm as is,
``T = -45 + 175 * raw / 65535`` °C, ``RH = 100 * raw / 65535`` %.

Quirk: a sensor left in periodic mode (the agent restarted, the sensor did not lose power)
refuses ``start_periodic_measurement``, so opening always stops it first. The first measurement
comes 5 s after the start; a read before it finds nothing ready and returns no measurement.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Final, Protocol

from edge.source_settings import EnvironmentSensorSettings
from edge.sources.environment import EnvironmentSensor, Measurement

DEFAULT_ADDRESS: Final = 0x62
START_PERIODIC: Final = 0x21B1
READ_MEASUREMENT: Final = 0xEC05
DATA_READY: Final = 0xE4B8
STOP_PERIODIC: Final = 0x3F86
_COMMAND_WAIT_S: Final = 0.001
_STOP_WAIT_S: Final = 0.5


class I2cBus(Protocol):
    """Raw I2C transfers to one bus (what ``smbus2.SMBus.i2c_rdwr`` offers)."""

    def write(self, address: int, data: bytes) -> None:
        """Write *data* to the device at *address*."""

    def read(self, address: int, length: int) -> bytes:
        """Read *length* bytes from the device at *address*."""

    def close(self) -> None:
        """Release the bus."""


class SmbusI2c:
    """:class:`I2cBus` on ``/dev/i2c-<bus>`` through smbus2 (pure Python)."""

    def __init__(self, bus: int) -> None:
        from smbus2 import SMBus

        self._bus = SMBus(bus)

    def write(self, address: int, data: bytes) -> None:
        """Write *data* to the device at *address*."""
        from smbus2 import i2c_msg

        self._bus.i2c_rdwr(i2c_msg.write(address, data))

    def read(self, address: int, length: int) -> bytes:
        """Read *length* bytes from the device at *address*."""
        from smbus2 import i2c_msg

        message = i2c_msg.read(address, length)
        self._bus.i2c_rdwr(message)
        return bytes(message)

    def close(self) -> None:
        """Release the bus."""
        self._bus.close()


def crc8(data: bytes) -> int:
    """Sensirion's CRC-8 of one word (polynomial 0x31, init 0xFF, no final XOR)."""
    crc = 0xFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x31) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def decode_words(data: bytes) -> list[int]:
    """Split a response into words, checking each CRC (``OSError`` on a corrupt transfer)."""
    if len(data) % 3:
        raise OSError(f"SCD4x response of {len(data)} bytes is not whole words")
    words = []
    for index in range(0, len(data), 3):
        word, crc = data[index : index + 2], data[index + 2]
        if crc8(word) != crc:
            raise OSError("SCD4x response failed its CRC (a noisy or loose I2C cable?)")
        words.append(int.from_bytes(word, "big"))
    return words


class Scd4xSensor(EnvironmentSensor):
    """An SCD40/SCD41 in periodic measurement mode."""

    def __init__(
        self,
        settings: EnvironmentSensorSettings,
        bus: I2cBus | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Prepare the sensor; *bus* replaces ``/dev/i2c-<bus>`` (a simulated chip in tests)."""
        super().__init__(settings)
        self._sleep = sleep
        self.address = settings.address or DEFAULT_ADDRESS
        self._bus = bus
        self._given_bus = bus is not None
        self._started = False

    def _command(self, code: int) -> None:
        assert self._bus is not None
        self._bus.write(self.address, code.to_bytes(2, "big"))

    def _query(self, code: int, words: int) -> list[int]:
        self._command(code)
        self._sleep(_COMMAND_WAIT_S)
        assert self._bus is not None
        return decode_words(self._bus.read(self.address, 3 * words))

    def _open(self) -> None:
        if self._bus is None:
            self._bus = SmbusI2c(self.settings.bus)
        with contextlib.suppress(OSError):  # not measuring: no acknowledgement, which is fine
            self._command(STOP_PERIODIC)
        self._sleep(_STOP_WAIT_S)
        self._command(START_PERIODIC)
        self._started = True

    def read(self) -> list[Measurement]:
        """The latest measurement, or nothing if none is ready yet."""
        if not self._started:
            self._open()
        (status,) = self._query(DATA_READY, 1)
        if status & 0x07FF == 0:
            return []
        co2, raw_t, raw_rh = self._query(READ_MEASUREMENT, 3)
        if co2 == 0:  # the sensor's "no valid measurement" (right after a start)
            return []
        return [
            Measurement("co2", float(co2)),
            Measurement("temperature", round(-45 + 175 * raw_t / 65535, 2)),
            Measurement("humidity", round(100 * raw_rh / 65535, 2)),
        ]

    def close(self) -> None:
        """Stop measuring (saves power and self-heating) and release the bus."""
        if self._bus is None:
            return
        try:
            if self._started:
                self._command(STOP_PERIODIC)
        finally:
            self._started = False
            if not self._given_bus:
                self._bus.close()
                self._bus = None
