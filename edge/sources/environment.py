"""Environment sensors on I2C: one small interface, real chips loaded lazily, fakes shipped.

:class:`EnvironmentSensor` is one chip: :meth:`~EnvironmentSensor.read` blocks on the bus for a
few milliseconds and returns its :class:`Measurement` s. :class:`EnvironmentSource` reads every
sensor of the node every ``interval_s`` (the hub's ``sensors.interval_s`` once its config
arrived) in a worker thread, and turns each measurement into a
:class:`~edge.sources.base.SensorReading`.

Backends, by ``kind``: ``scd4x`` (:mod:`edge.sources.scd4x`), ``bme280``
(:mod:`edge.sources.bme280`), and two that need no hardware: :class:`FakeEnvironmentSensor`
(values set by code, failures scripted) and :class:`SimulatedEnvironmentSensor` (a plausible
random walk for demos). A sensor that fails is closed and opened again at the next reading, so a
loose cable or a sensor that browned out recovers without a restart; failures are logged once per
streak, not at every interval.

A sensor may measure something the wire contract has no kind for: such measurements are read and
dropped by the agent (see :mod:`edge.recorder`) until the contract gains the kind, as it gained
``pressure`` for the BME280.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import random
import threading
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn

from edge.clock import Clock, utc_now
from edge.source_settings import EnvironmentSensorSettings
from edge.sources.base import SensorReading, Sink, Source
from vivant.wire.payloads import NodeConfig

log = logging.getLogger(__name__)

HARDWARE_BACKENDS: dict[str, str] = {
    "scd4x": "edge.sources.scd4x:Scd4xSensor",
    "bme280": "edge.sources.bme280:Bme280Sensor",
}
"""Hardware sensor kinds, as ``kind -> "module:Class"``; imported on first use only."""


@dataclass(frozen=True, slots=True)
class Measurement:
    """One quantity read from a sensor: a sensor kind (``co2``, ``temperature``…) and a value."""

    kind: str
    value: float


class EnvironmentSensor(ABC):
    """One environment sensor chip; :meth:`read` is called from a worker thread."""

    def __init__(self, settings: EnvironmentSensorSettings) -> None:
        self.settings = settings

    @property
    def id(self) -> str:
        """Source id, as configured."""
        return self.settings.id

    @abstractmethod
    def read(self) -> list[Measurement]:
        """Read the sensor (opening it first if needed); raises on a bus or chip error."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the bus; the next :meth:`read` opens it again."""


class FakeEnvironmentSensor(EnvironmentSensor):
    """Values set by code (:meth:`set`), failures scripted (:meth:`fail_next`); thread-safe."""

    def __init__(self, settings: EnvironmentSensorSettings) -> None:
        super().__init__(settings)
        self._lock = threading.Lock()
        self._values: dict[str, float] = {}
        self._failures: list[BaseException] = []
        self.reads = 0
        self.closes = 0

    def set(self, **values: float) -> None:
        """Set what the next reads return (``co2=812, temperature=21.4``)."""
        with self._lock:
            self._values.update(values)

    def fail_next(self, error: BaseException) -> None:
        """Make the next read raise *error*."""
        with self._lock:
            self._failures.append(error)

    def read(self) -> list[Measurement]:
        """The values set so far, or the scripted failure."""
        with self._lock:
            self.reads += 1
            if self._failures:
                raise self._failures.pop(0)
            return [Measurement(kind, value) for kind, value in self._values.items()]

    def close(self) -> None:
        """Count the close."""
        self.closes += 1

    if not TYPE_CHECKING:  # hidden from mypy, which would otherwise accept any attribute

        def __getattr__(self, name: str) -> NoReturn:
            raise AttributeError(
                f"FakeEnvironmentSensor does not implement {name!r}: add it to "
                "edge/sources/environment.py along with the real backends"
            )


class SimulatedEnvironmentSensor(EnvironmentSensor):
    """A random walk around an occupied room's usual values (for demos)."""

    def __init__(self, settings: EnvironmentSensorSettings) -> None:
        super().__init__(settings)
        self._rng = random.Random(settings.seed)  # noqa: S311 - a simulation, not security
        self._state = {"co2": 650.0, "temperature": 21.5, "humidity": 45.0}
        self._bounds = {
            "co2": (420.0, 2500.0),
            "temperature": (17.0, 28.0),
            "humidity": (25.0, 70.0),
        }
        self._steps = {"co2": 25.0, "temperature": 0.1, "humidity": 0.5}

    def read(self) -> list[Measurement]:
        """The next step of the walk."""
        out = []
        for kind, value in self._state.items():
            low, high = self._bounds[kind]
            value = min(high, max(low, value + self._rng.gauss(0, self._steps[kind])))
            self._state[kind] = value
            out.append(Measurement(kind, round(value, 1)))
        return out


def sensor_class(kind: str) -> type[EnvironmentSensor]:
    """The backend class of a sensor *kind*, importing a hardware backend on first use."""
    if kind == "fake":
        return FakeEnvironmentSensor
    if kind == "simulated":
        return SimulatedEnvironmentSensor
    target = HARDWARE_BACKENDS.get(kind)
    if target is None:
        raise ValueError(f"unknown environment sensor kind {kind!r}")
    module_name, _, class_name = target.partition(":")
    backend = getattr(importlib.import_module(module_name), class_name)
    if not (isinstance(backend, type) and issubclass(backend, EnvironmentSensor)):
        raise TypeError(f"{target} is not an EnvironmentSensor")
    return backend


def open_sensor(settings: EnvironmentSensorSettings) -> EnvironmentSensor:
    """The sensor a configuration entry describes (the chip is opened at the first read)."""
    return sensor_class(settings.kind)(settings)


class EnvironmentSource(Source):
    """Reads every environment sensor of the node periodically."""

    name = "environment"

    def __init__(
        self,
        sensors: Mapping[str, EnvironmentSensor],
        interval_s: float,
        *,
        clock: Clock = utc_now,
    ) -> None:
        self.sensors = dict(sensors)
        self.interval_s = interval_s
        self._clock = clock
        self._interval_changed = asyncio.Event()
        self._failing: set[str] = set()
        self.readings = 0
        self.failures = 0

    def configure(self, node_config: NodeConfig) -> None:
        """Take the hub's reading interval (applies from the next reading)."""
        interval = node_config.sensors.interval_s
        if interval != self.interval_s:
            log.info("environment: reading every %.0f s (was %.0f s)", interval, self.interval_s)
            self.interval_s = interval
            self._interval_changed.set()

    async def run(self, sink: Sink) -> None:
        """Read all sensors now, then every ``interval_s``, until cancelled."""
        while True:
            for sensor in self.sensors.values():
                await self._read(sensor, sink)
            self._interval_changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._interval_changed.wait(), self.interval_s)

    async def _read(self, sensor: EnvironmentSensor, sink: Sink) -> None:
        try:
            measurements = await asyncio.to_thread(sensor.read)
        except Exception as error:
            self.failures += 1
            if sensor.id not in self._failing:
                self._failing.add(sensor.id)
                log.warning(
                    "sensor %s cannot be read (%s); retrying each interval", sensor.id, error
                )
            await asyncio.to_thread(_close_quietly, sensor)
            return
        if sensor.id in self._failing:
            self._failing.discard(sensor.id)
            log.info("sensor %s reads again", sensor.id)
        at = self._clock()
        for measurement in measurements:
            self.readings += 1
            sink.sensor(
                SensorReading(
                    room=sensor.settings.room,
                    kind=measurement.kind,
                    value=measurement.value,
                    at=at,
                    source=sensor.id,
                )
            )

    async def aclose(self, sink: Sink) -> None:
        """Release every sensor."""
        for sensor in self.sensors.values():
            await asyncio.to_thread(_close_quietly, sensor)


def _close_quietly(sensor: EnvironmentSensor) -> None:
    try:
        sensor.close()
    except Exception:
        log.debug("closing sensor %s failed", sensor.id, exc_info=True)
