"""An edge agent in a child process that taps and toggles a door until it is killed.

Used by the fault tests: observation *k* is a tap of ``UIDS[k % 3]`` at ``T0 + k * 100 ms`` and a
door change (open when *k* is even) at the same time, so the parent can tell from a message alone
which observation it is, and whether its timestamp is the original one.

Usage: ``python -m tests.edge.child_agent CONFIG_YAML FIRST_K [PERIOD_S]`` (the pause between
observations, 5 ms by default).
"""

from __future__ import annotations

import asyncio
import signal
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gpiozero.pins.mock import MockFactory

from edge.agent import EdgeAgent, Hardware
from edge.config import load_edge_config
from edge.sources.badge import FakeBadgeReader

T0 = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)
UIDS = ("04A1B2C3D4E5F6", "04B2C3D4E5F607", "04C3D4E5F60718")
DOOR_PIN = 17
PERIOD_S = 0.005


def at(k: int) -> datetime:
    """When observation *k* happened."""
    return T0 + timedelta(milliseconds=100 * k)


def k_of(ts_ms: int) -> int:
    """Which observation a timestamp belongs to."""
    return (ts_ms - int(T0.timestamp() * 1000)) // 100


async def main(config_path: Path, first: int, period_s: float = PERIOD_S) -> None:
    config = load_edge_config(config_path)
    factory = MockFactory()
    now = [at(first)]
    agent = EdgeAgent(config, clock=lambda: now[0], hardware=Hardware(pin_factory=factory))
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, agent.stop)
    stop = threading.Event()

    def observe() -> None:
        reader = agent.readers["coffee"]
        assert isinstance(reader, FakeBadgeReader)
        door = factory.pin(DOOR_PIN)
        k = first
        while not stop.wait(period_s):
            now[0] = at(k)
            reader.tap(UIDS[k % 3], at=at(k))
            if k % 2 == 0:
                door.drive_high()  # open
            else:
                door.drive_low()
            k += 1

    task = asyncio.create_task(agent.run())
    await asyncio.sleep(0.3)  # the door source claims its pin
    worker = threading.Thread(target=observe, daemon=True)
    worker.start()
    try:
        await task
    finally:
        stop.set()


if __name__ == "__main__":
    period = float(sys.argv[3]) if len(sys.argv) > 3 else PERIOD_S
    asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2]), period))
