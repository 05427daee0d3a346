"""Tap → greeting latency over the real stack, beside the raw MQTT hop, in one run.

A badge message is published on Mosquitto (as an edge agent would) and the time until the
greeting arrives on a lobby screen's SSE stream is measured, and until its QR code follows it
(``greeting-qr``); the same number of messages go through a bare paho publisher → subscriber hop
on the same broker for comparison. Prints figures; asserts nothing about time (machines are
noisy: compare the columns, not absolute values).

    .venv/bin/python -m benchmarks.tap_to_greeting [--taps 200] [--database sqlite|postgresql]
        [--broker mqtt://127.0.0.1:1883]  (default: a private Mosquitto set up as shipped)

PostgreSQL is the test server of ``tests/support/databases.py`` (a database made for the run).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from benchmarks.latency import MEMBER_UID, greeted_member, percentiles, raw_hop
from tests.support.databases import temporary_database
from tests.support.factories import moment_soon
from tests.support.hub_server import NODE, SITE, hub_config, running_hub
from tests.support.mosquitto import broker_or_private
from tests.support.sse import SseClient
from vivant.wire import credential_for

KEY = "benchmark-credential-key"


async def hub_hop(broker: str, count: int, database: str) -> tuple[list[float], list[float]]:
    """Publish a badge → greeting event on the SSE stream, and → its QR code event."""
    root = f"b{secrets.token_hex(4)}/vivant/v1"
    config = hub_config(broker, root, database, client_id=f"bench-hub-{root[:9]}")
    parts = urlsplit(broker)
    publisher = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-edge-{root[:9]}")
    publisher.connect(parts.hostname or "127.0.0.1", parts.port or 1883)
    publisher.loop_start()
    latencies, codes = [], []
    with running_hub(config) as hub:
        with hub.runtime.sessions.begin() as session:
            greeted_member(session, KEY)
            moment_soon(session, config.sites[0], in_minutes=5)
        async with SseClient(hub.events_url).open() as sse:
            for index in range(count):
                body = {
                    "id": f"b{index}",
                    "ts": int(time.time() * 1000),
                    "room": "accueil",
                    "reader": "porte",
                    "credential": credential_for(KEY, MEMBER_UID),
                }
                started = time.perf_counter()
                publisher.publish(f"{root}/{SITE}/{NODE}/badge", json.dumps(body), qos=1)
                await sse.next("greeting", within=5)
                latencies.append(time.perf_counter() - started)
                await sse.next("greeting-qr", within=5)
                codes.append(time.perf_counter() - started)
                await asyncio.sleep(0.01)
    publisher.loop_stop()
    publisher.disconnect()
    return latencies, codes


def main() -> None:
    """Run both measurements and print them side by side."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--taps", type=int, default=200)
    parser.add_argument("--broker", help="an MQTT URL (default: a private Mosquitto as shipped)")
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as workdir,
        broker_or_private(args.broker, Path(workdir) / "mosquitto") as broker,
        temporary_database(args.database, Path(workdir)) as database,
    ):
        raw = raw_hop(broker, args.taps)
        hub, codes = asyncio.run(hub_hop(broker, args.taps, database))
    print(f"taps: {len(hub)} through the hub ({args.database}), {len(raw)} raw")
    print(f"raw MQTT publish → subscribe   {percentiles(raw)}")
    print(f"badge publish → SSE greeting   {percentiles(hub)}")
    print(f"badge publish → its QR code    {percentiles(codes)}")
    added = statistics.median(hub) - statistics.median(raw)
    print(f"hub adds at p50: {added * 1000:.2f} ms")


if __name__ == "__main__":
    main()
