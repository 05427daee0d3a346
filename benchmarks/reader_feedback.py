"""Tap → reader LED over the real stack (edge agent, Mosquitto, hub), beside the raw MQTT hop.

An edge agent with a fake badge reader (gpiozero's MockFactory drives the LEDs) and a hub run on
the same broker; a badge is tapped, the hub decides (a known member: green, an unknown badge:
red) and sends the verdict back, and the time until the LED lights is measured. Taps alternate
between a member and a stranger, so each tap lights the LED the previous one switched off. The
goal is 300 ms (edge/feedback.py); this prints figures and asserts nothing about time.

    .venv/bin/python -m benchmarks.reader_feedback [--taps 100] [--broker mqtt://127.0.0.1:1883]

By default the broker is a private Mosquitto set up as shipped (Nagle's algorithm off).
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as paho
from gpiozero.pins.mock import MockFactory
from paho.mqtt.enums import CallbackAPIVersion

from benchmarks.latency import MEMBER_UID, greeted_member, percentiles, raw_hop
from edge.agent import EdgeAgent, Hardware
from edge.sources.badge import FakeBadgeReader
from tests.support.hub_server import NODE, SITE, hub_config, running_hub
from tests.support.lobby_node import GREEN, READER, RED, lobby_reader_config
from tests.support.mosquitto import broker_or_private

KEY = "benchmark-feedback-key"
MEMBER, STRANGER = MEMBER_UID, "04FFEEDDCCBBAA"


class Watch:
    """When the badge message and the hub's verdict cross the broker (a third subscriber)."""

    def __init__(self, broker: str, root: str) -> None:
        parts = urlsplit(broker)
        self.seen: dict[str, list[float]] = {"badge": [], "command": []}
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-watch-{root[:9]}")
        self.client.on_message = self._message
        self.client.connect(parts.hostname or "127.0.0.1", parts.port or 1883)
        self.client.subscribe(
            [(f"{root}/{SITE}/{NODE}/badge", 0), (f"{root}/{SITE}/{NODE}/command", 0)]
        )
        self.client.loop_start()

    def _message(self, _c: paho.Client, _u: object, message: paho.MQTTMessage) -> None:
        self.seen[message.topic.rsplit("/", 1)[1]].append(time.perf_counter())

    def first_after(self, kind: str, started: float) -> float | None:
        """When the first *kind* message after *started* was seen."""
        return next((t for t in self.seen[kind] if t >= started), None)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


async def tap_to_led(broker: str, taps: int, workdir: Path) -> dict[str, list[float]]:
    """Tap *taps* times, alternating member and stranger; seconds until the LED, by verdict.

    Also the stages of each tap: to the badge message on the broker, to the verdict on the
    broker, to the LED (keys ``edge → broker``, ``broker → verdict``, ``verdict → LED``).
    """
    root = f"b{secrets.token_hex(4)}/vivant/v1"
    watch = Watch(broker, root)
    stages: dict[str, list[float]] = {"edge → broker": [], "hub → verdict": [], "verdict → LED": []}
    factory = MockFactory()
    pins: Any = {GREEN: factory.pin(GREEN), RED: factory.pin(RED)}
    config = hub_config(
        broker, root, f"sqlite:///{workdir / 'hub.db'}", client_id=f"bench-hub-{root[:9]}"
    )
    agent = EdgeAgent(
        lobby_reader_config(broker, root, workdir, key=KEY, client_id=f"bench-edge-{root[:9]}"),
        hardware=Hardware(pin_factory=factory),
    )
    reader = agent.readers[READER]
    assert isinstance(reader, FakeBadgeReader)
    latencies: dict[str, list[float]] = {"accepted": [], "unknown": []}
    try:
        with running_hub(config) as hub:
            with hub.runtime.sessions.begin() as session:
                greeted_member(session, KEY, MEMBER)
            task = asyncio.create_task(agent.run())
            try:
                async with asyncio.timeout(10):
                    await agent.wait_connected()
                for index in range(taps):
                    verdict, uid, led = (
                        ("accepted", MEMBER, GREEN)
                        if index % 2 == 0
                        else ("unknown", STRANGER, RED)
                    )
                    # A mock pin has no edge callback for outputs: poll it (also below).
                    while pins[led].state:  # noqa: ASYNC110 (lit by an earlier tap: until off)
                        await asyncio.sleep(0.005)
                    started = time.perf_counter()
                    reader.tap(uid)
                    async with asyncio.timeout(5):
                        while not pins[led].state:  # noqa: ASYNC110
                            await asyncio.sleep(0.001)
                    lit = time.perf_counter()
                    latencies[verdict].append(lit - started)
                    await asyncio.sleep(0.02)  # the watcher's copy of the verdict
                    badge = watch.first_after("badge", started)
                    command = watch.first_after("command", started)
                    if badge is not None and command is not None:
                        stages["edge → broker"].append(badge - started)
                        stages["hub → verdict"].append(command - badge)
                        stages["verdict → LED"].append(lit - command)
            finally:
                agent.stop()
                await task
    finally:
        factory.reset()
        watch.close()
    return latencies | stages


def main() -> None:
    """Measure both and print them side by side."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--taps", type=int, default=100)
    parser.add_argument("--broker", help="an MQTT URL (default: a private Mosquitto as shipped)")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as workdir,
        broker_or_private(args.broker, Path(workdir) / "mosquitto") as broker,
    ):
        raw = raw_hop(broker, 100)
        found = asyncio.run(tap_to_led(broker, args.taps, Path(workdir)))
    print(
        f"taps: {len(found['accepted']) + len(found['unknown'])} (member and stranger alternating)"
    )
    print(f"raw MQTT publish → subscribe   {percentiles(raw)}")
    for verdict in ("accepted", "unknown"):
        print(f"tap → {'green' if verdict == 'accepted' else 'red'} LED ({verdict:8}) "
              f"{percentiles(found[verdict])}")  # fmt: skip
    for stage in ("edge → broker", "hub → verdict", "verdict → LED"):
        print(f"  of which {stage:15}    {percentiles(found[stage])}")
    worst = max(statistics.quantiles(found[v], n=100)[94] for v in ("accepted", "unknown"))
    print(f"goal 300 ms: p95 {worst * 1000:.1f} ms ({worst / 0.3:.2f} of the budget)")


if __name__ == "__main__":
    main()
