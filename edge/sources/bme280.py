"""Bosch BME280: temperature, humidity and pressure over I2C, through Pimoroni's driver.

``pimoroni-bme280`` (pure Python over ``smbus2``) holds the chip's factory calibration and the
datasheet's compensation formulas, the part worth not rewriting. It is used in *forced* mode: the
chip measures once when asked and sleeps in between, so it does not warm itself up (in normal
mode a BME280 reads about 1 °C high) and draws microamps.

Addresses: 0x76 with SDO to ground (most breakout boards), 0x77 with SDO to VCC.
Pressure (hPa) has no sensor kind in wire contract v1 yet: it is read and left to the agent,
which sends only the kinds the contract knows.
"""

from __future__ import annotations

from typing import Any, Final

from edge.source_settings import EnvironmentSensorSettings
from edge.sources.environment import EnvironmentSensor, Measurement

DEFAULT_ADDRESS: Final = 0x76


class Bme280Sensor(EnvironmentSensor):
    """A BME280 in forced mode."""

    def __init__(self, settings: EnvironmentSensorSettings, i2c_dev: Any = None) -> None:
        """Prepare the sensor; *i2c_dev* replaces ``smbus2.SMBus(bus)`` (a simulated chip)."""
        super().__init__(settings)
        self.address = settings.address or DEFAULT_ADDRESS
        self._given = i2c_dev
        self._bus: Any = None
        self._chip: Any = None

    def _open(self) -> Any:
        from bme280 import BME280

        if self._given is not None:
            self._bus = self._given
        else:
            from smbus2 import SMBus

            self._bus = SMBus(self.settings.bus)
        chip = BME280(i2c_addr=self.address, i2c_dev=self._bus)
        chip.setup(mode="forced")  # RuntimeError when no BME280 answers at the address
        self._chip = chip
        return chip

    def read(self) -> list[Measurement]:
        """One forced measurement."""
        chip = self._chip or self._open()
        chip.update_sensor()
        return [
            Measurement("temperature", round(float(chip.temperature), 2)),
            Measurement("humidity", round(float(chip.humidity), 2)),
            Measurement("pressure", round(float(chip.pressure), 2)),
        ]

    def close(self) -> None:
        """Release the bus; the next read sets the chip up again."""
        self._chip = None
        bus, self._bus = self._bus, None
        if bus is not None and self._given is None:
            bus.close()
