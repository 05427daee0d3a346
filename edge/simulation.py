"""Everything a node reads, simulated: ``vivant edge --simulate`` on a laptop, before any wiring.

:func:`simulated_hardware` replaces each configured device by its shipped fake, and
:class:`Simulation` makes them lively: badge readers tap at random (their ``uids``,
``mean_interval_s``, ``seed``), the BLE scanner hears the enrolled tags (phones with an IRK rotate
their private address) among a crowd of unknown devices, PIR sensors see people come and go,
doors open and close, people cross the beams both ways, and environment sensors wander around an
occupied room's values. Everything then flows through the real agent: debouncing, hashing,
privacy rule, outbox, MQTT.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
from dataclasses import dataclass, field
from typing import Any

from edge.agent import Hardware
from edge.clock import Clock, utc_now
from edge.config import EdgeConfig
from edge.sources.badge import BadgeReader, SimulatedBadgeReader
from edge.sources.ble_fake import BleReplay, synthetic_advertisements
from edge.sources.environment import EnvironmentSensor, SimulatedEnvironmentSensor

log = logging.getLogger(__name__)


def simulated_readers(config: EdgeConfig, clock: Clock = utc_now) -> dict[str, BadgeReader]:
    """A :class:`SimulatedBadgeReader` in place of each configured reader."""
    return {
        settings.id: SimulatedBadgeReader.from_settings(settings, clock=clock)
        for settings in config.badge_readers
    }


@dataclass
class Simulation:
    """The fakes of one node and what drives them."""

    config: EdgeConfig
    hardware: Hardware
    replay: BleReplay | None = None
    factory: Any = None
    seed: int | None = None
    _rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)  # noqa: S311 - a simulation, not security

    async def run(self) -> None:
        """Drive the fakes until cancelled."""
        async with asyncio.TaskGroup() as group:
            if self.replay is not None and self.config.ble is not None:
                group.create_task(self._ble())
            if self.factory is not None:
                for motion in self.config.gpio.motion:
                    group.create_task(self._toggle(motion.pin, 20.0, 40.0, motion.active_high))
                for door in self.config.gpio.doors:
                    group.create_task(self._toggle(door.pin, 60.0, 5.0, door.open_when == "high"))
                for counter in self.config.gpio.people_counters:
                    group.create_task(
                        self._crossings(
                            counter.outer_pin, counter.inner_pin, counter.broken_when == "low"
                        )
                    )

    async def _ble(self) -> None:
        ble = self.config.ble
        if self.replay is None or ble is None:
            return
        stream = synthetic_advertisements(
            list(ble.enrolled_tags),
            {irk.id: irk.key_bytes() for irk in ble.irks},
            seed=self.seed,
        )
        while True:  # in chunks, so the stream is drawn as it plays
            await self.replay.play(list(itertools.islice(stream, 50)), speed=1.0)

    async def _toggle(self, pin: int, mean_idle_s: float, mean_active_s: float, high: bool) -> None:
        mock = self.factory.pin(pin)
        while True:
            await asyncio.sleep(self._rng.expovariate(1 / mean_idle_s))
            mock.drive_high() if high else mock.drive_low()
            await asyncio.sleep(self._rng.expovariate(1 / mean_active_s))
            mock.drive_low() if high else mock.drive_high()

    async def _crossings(self, outer_pin: int, inner_pin: int, broken_low: bool) -> None:
        outer, inner = self.factory.pin(outer_pin), self.factory.pin(inner_pin)

        def beam(mock: Any, broken: bool) -> None:
            mock.drive_low() if broken == broken_low else mock.drive_high()

        while True:
            await asyncio.sleep(self._rng.expovariate(1 / 45.0))
            first, second = (outer, inner) if self._rng.random() < 0.55 else (inner, outer)
            for mock, broken in ((first, True), (second, True), (first, False), (second, False)):
                beam(mock, broken)
                await asyncio.sleep(0.15)


def simulated_hardware(config: EdgeConfig, clock: Clock = utc_now) -> Simulation:
    """Fakes for every device of *config*, and the simulation that drives them."""
    replay = BleReplay() if config.ble is not None else None
    factory = None
    gpio = config.gpio
    if (
        gpio.motion
        or gpio.doors
        or gpio.people_counters
        or any(r.feedback for r in config.badge_readers)
    ):
        from gpiozero.pins.mock import MockFactory

        factory = MockFactory()
    environment: dict[str, EnvironmentSensor] = {
        s.id: SimulatedEnvironmentSensor(s) for s in config.environment.sensors
    }
    hardware = Hardware(
        readers=simulated_readers(config, clock),
        ble_backend=replay.backend() if replay is not None else None,
        pin_factory=factory,
        environment=environment,
    )
    return Simulation(config, hardware, replay, factory)
