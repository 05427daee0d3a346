"""What every non-badge source shares: readings, the sink they go to, the source life cycle.

A source (the BLE scanner, the GPIO sensors, the environment sensors) is an asyncio service:
:meth:`Source.run` runs until cancelled and hands what it observed to a :class:`Sink`
synchronously and without blocking (the agent queues it and commits it to the outbox in order),
stamped with the time of the observation. :meth:`Source.configure` applies the hub's retained
``config`` live, and :meth:`Source.aclose` releases the hardware and flushes what was pending
(a people counter's last counts) once :meth:`Source.run` was cancelled.

Badge readers keep their own interface (:mod:`edge.sources.badge`): a tap needs debouncing,
hashing and feedback, which plain readings do not.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from edge.sources.ble_window import TagSummary
from vivant.wire.payloads import NodeConfig


@dataclass(frozen=True, slots=True)
class SensorReading:
    """One reading of a sensor, as observed.

    ``kind`` is a :class:`~vivant.wire.payloads.SensorKind` value, or a kind the wire contract
    does not have yet (a newer sensor's): the agent sends only the kinds the contract knows.
    ``source`` is the id of the sensor that made it (for logs).
    """

    room: str
    kind: str
    value: float
    at: datetime
    source: str

    def __post_init__(self) -> None:
        if self.at.tzinfo is None:
            raise ValueError("SensorReading.at must be timezone-aware")
        object.__setattr__(self, "at", self.at.astimezone(UTC))


@dataclass(frozen=True, slots=True)
class BleReport:
    """One BLE window: enrolled tags by id and a count of the other devices, nothing else."""

    room: str
    at: datetime
    """End of the window."""
    window_s: float
    tags: tuple[TagSummary, ...]
    anonymous: int


class Sink(Protocol):
    """Where sources hand their observations; both calls return at once."""

    def sensor(self, reading: SensorReading) -> None:
        """Record a sensor reading."""

    def ble(self, report: BleReport) -> None:
        """Record a BLE window."""


class Source(ABC):
    """A long-running observer of the node's surroundings."""

    name: str = "source"

    @abstractmethod
    async def run(self, sink: Sink) -> None:
        """Observe and report to *sink* until cancelled."""

    def configure(self, node_config: NodeConfig) -> None:  # noqa: B027 - optional hook
        """Apply the hub's configuration (enrolled tags, windows, intervals); default: nothing."""

    async def aclose(self, sink: Sink) -> None:  # noqa: B027 - optional hook
        """Release the hardware and report what is still pending; after :meth:`run` ended."""
