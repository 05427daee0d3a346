"""Environment sensors: the periodic source, and the SCD4x / BME280 drivers on simulated chips."""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import AsyncIterator

import pytest

from edge.source_settings import EnvironmentSensorSettings
from edge.sources.bme280 import Bme280Sensor
from edge.sources.environment import (
    EnvironmentSource,
    FakeEnvironmentSensor,
    Measurement,
    SimulatedEnvironmentSensor,
    open_sensor,
    sensor_class,
)
from edge.sources.scd4x import (
    DATA_READY,
    READ_MEASUREMENT,
    START_PERIODIC,
    STOP_PERIODIC,
    Scd4xSensor,
    crc8,
    decode_words,
)
from tests.edge.sources.sinks import ListSink
from tests.support.waiting import eventually
from vivant.wire.payloads import NodeConfig


def settings(kind: str = "fake", **overrides: object) -> EnvironmentSensorSettings:
    data: dict[str, object] = {"id": "air", "room": "cuisine", "kind": kind}
    data.update(overrides)
    return EnvironmentSensorSettings.model_validate(data)


@contextlib.asynccontextmanager
async def running(source: EnvironmentSource, sink: ListSink) -> AsyncIterator[None]:
    task = asyncio.create_task(source.run(sink))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await source.aclose(sink)


async def test_every_sensor_is_read_each_interval() -> None:
    sensor = FakeEnvironmentSensor(settings())
    sensor.set(co2=812, temperature=21.4, humidity=45)
    sink = ListSink()
    async with running(EnvironmentSource({"air": sensor}, 0.05), sink):
        await eventually(lambda: len(sink.values("co2")) >= 3)
    assert set(sink.values("co2")) == {812}
    assert {r.room for r in sink.readings} == {"cuisine"}
    assert {r.source for r in sink.readings} == {"air"}


async def test_a_failing_sensor_is_reopened_and_recovers(caplog: pytest.LogCaptureFixture) -> None:
    sensor = FakeEnvironmentSensor(settings())
    sensor.set(co2=600)
    for _ in range(3):
        sensor.fail_next(OSError("[Errno 121] Remote I/O error"))
    source = EnvironmentSource({"air": sensor}, 0.02)
    sink = ListSink()
    async with running(source, sink):
        await eventually(lambda: len(sink.values("co2")) > 0)
    assert source.failures == 3
    assert sensor.closes >= 3, "closed after each failure, so the next read reopens it"
    warnings = [r for r in caplog.records if "cannot be read" in r.getMessage()]
    assert len(warnings) == 1, "one warning per streak, not one per interval"


async def test_the_hub_sets_the_interval_live() -> None:
    sensor = FakeEnvironmentSensor(settings())
    sensor.set(temperature=20)
    source = EnvironmentSource({"air": sensor}, 3600)
    sink = ListSink()
    async with running(source, sink):
        await eventually(lambda: len(sink.readings) == 1)
        source.configure(
            NodeConfig.model_validate(
                {"ts": 1_741_944_600_000, "rooms": ["cuisine"], "sensors": {"interval_s": 1}}
            )
        )
        await eventually(lambda: len(sink.readings) >= 2, within=3)
    assert source.interval_s == 1


def test_simulated_sensor_wanders_within_bounds() -> None:
    sensor = SimulatedEnvironmentSensor(settings("simulated", seed=1))
    for _ in range(200):
        values = {m.kind: m.value for m in sensor.read()}
        assert 420 <= values["co2"] <= 2500
        assert 17 <= values["temperature"] <= 28


def test_the_fake_fails_loudly() -> None:
    missing = "calibrate"
    with pytest.raises(AttributeError, match="does not implement"):
        getattr(FakeEnvironmentSensor(settings()), missing)


def test_backends_by_kind() -> None:
    assert sensor_class("scd4x") is Scd4xSensor
    assert sensor_class("bme280") is Bme280Sensor
    assert isinstance(open_sensor(settings("simulated")), SimulatedEnvironmentSensor)
    with pytest.raises(ValueError, match="unknown"):
        sensor_class("geiger")


# -- SCD4x ---------------------------------------------------------------------------------------


def word(value: int) -> bytes:
    raw = value.to_bytes(2, "big")
    return raw + bytes([crc8(raw)])


class SimulatedScd4x:
    """An SCD41 on an I2C bus, at the protocol level of the datasheet."""

    def __init__(self, co2: int, raw_t: int, raw_rh: int, *, measuring: bool = False) -> None:
        self.measurement = (co2, raw_t, raw_rh)
        self.measuring = measuring
        self.ready = True
        self.corrupt_next = False
        self.commands: list[int] = []
        self._answer = b""

    def write(self, address: int, data: bytes) -> None:
        assert address == 0x62
        command = int.from_bytes(data[:2], "big")
        self.commands.append(command)
        if command == STOP_PERIODIC:
            if not self.measuring:
                raise OSError(121, "Remote I/O error")  # NACK
            self.measuring = False
        elif command == START_PERIODIC:
            if self.measuring:
                raise OSError(121, "Remote I/O error")
            self.measuring = True
        elif command == DATA_READY:
            self._answer = word(0x8006 if self.ready else 0x8000)
        elif command == READ_MEASUREMENT:
            self._answer = b"".join(word(v) for v in self.measurement)
            if self.corrupt_next:
                self._answer = self._answer[:-1] + bytes([self._answer[-1] ^ 0xFF])
                self.corrupt_next = False

    def read(self, address: int, length: int) -> bytes:
        assert len(self._answer) == length
        return self._answer

    def close(self) -> None:
        raise AssertionError("a bus given by the caller is not closed by the driver")


def test_crc_matches_the_datasheet_example() -> None:
    assert crc8(b"\xbe\xef") == 0x92
    with pytest.raises(OSError, match="CRC"):
        decode_words(b"\xbe\xef\x93")


def test_scd4x_reads_co2_temperature_and_humidity() -> None:
    chip = SimulatedScd4x(812, 24866, 29491, measuring=True)  # left measuring by a previous run
    sensor = Scd4xSensor(settings("scd4x"), chip, sleep=lambda _: None)
    assert sensor.read() == [
        Measurement("co2", 812.0),
        Measurement("temperature", 21.4),
        Measurement("humidity", 45.0),
    ]
    assert chip.commands[:2] == [STOP_PERIODIC, START_PERIODIC]
    chip.ready = False
    assert sensor.read() == [], "nothing new yet"
    sensor.close()
    assert not chip.measuring, "stopped on close"


def test_scd4x_from_power_on_and_a_corrupt_transfer() -> None:
    chip = SimulatedScd4x(0, 0, 0)
    sensor = Scd4xSensor(settings("scd4x"), chip, sleep=lambda _: None)
    assert sensor.read() == [], "the first measurement after a start is not valid"
    chip.measurement = (1200, 26000, 30000)
    chip.corrupt_next = True
    with pytest.raises(OSError, match="CRC"):
        sensor.read()
    assert sensor.read()[0] == Measurement("co2", 1200.0)


# -- BME280 --------------------------------------------------------------------------------------


class SimulatedBme280:
    """A BME280 register map with the datasheet's example calibration (section 8.2)."""

    def __init__(self, adc_t: int, adc_p: int, adc_h: int) -> None:
        self.registers = bytearray(256)
        self.registers[0xD0] = 0x60  # chip id
        calibration = struct.pack(
            "<HhhHhhhhhhhh",
            27504,
            26435,
            -1000,
            36477,
            -10685,
            3024,
            2855,
            140,
            -7,
            15500,
            -14600,
            6000,
        )
        self.registers[0x88 : 0x88 + len(calibration)] = calibration
        self.registers[0xA1] = 75  # dig_H1
        self.registers[0xE1:0xE8] = struct.pack("<hB", 362, 0) + bytes([19, 0x29, 3, 30])
        data = (
            (adc_p << 4).to_bytes(3, "big")
            + (adc_t << 4).to_bytes(3, "big")
            + adc_h.to_bytes(2, "big")
        )
        self.registers[0xF7:0xFF] = data
        self.closed = False

    def read_i2c_block_data(self, address: int, register: int, length: int) -> list[int]:
        assert address == 0x76
        return list(self.registers[register : register + length])

    def write_i2c_block_data(self, address: int, register: int, values: list[int]) -> None:
        assert address == 0x76
        if register == 0xE0:
            return  # soft reset
        self.registers[register : register + len(values)] = bytes(values)


def test_bme280_compensates_with_the_datasheet_example(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("time.sleep", lambda _: None)  # the driver waits 100 ms after a reset
    chip = SimulatedBme280(adc_t=519888, adc_p=415148, adc_h=30000)
    sensor = Bme280Sensor(settings("bme280"), chip)
    values = {m.kind: m.value for m in sensor.read()}
    assert values["temperature"] == pytest.approx(25.08, abs=0.01)
    assert values["pressure"] == pytest.approx(1006.53, abs=0.05)  # hPa
    assert 0 <= values["humidity"] <= 100
    sensor.close()
    assert not chip.closed, "a bus given by the caller stays open"
