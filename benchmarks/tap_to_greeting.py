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
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from hub.db.models import Consent
from hub.members import add_member
from tests.support.databases import temporary_database
from tests.support.factories import moment_soon
from tests.support.hub_server import NODE, SITE, hub_config, running_hub
from tests.support.mosquitto import broker_or_private
from tests.support.sse import SseClient
from vivant.wire import credential_for

KEY = "benchmark-credential-key"
UID = "04A1B2C3D4E5F6"


def percentiles(samples: list[float]) -> str:
    """p50 / p95 / p99 in milliseconds."""
    q = statistics.quantiles(samples, n=100)
    return f"p50 {q[49] * 1000:6.2f} ms   p95 {q[94] * 1000:6.2f} ms   p99 {q[98] * 1000:6.2f} ms"


def raw_hop(host: str, port: int, topic: str, count: int) -> list[float]:
    """Publish → subscribe latency of the broker alone (QoS 1)."""
    received: dict[str, float] = {}
    done = threading.Event()

    def on_message(_c: paho.Client, _u: object, message: paho.MQTTMessage) -> None:
        received[message.payload.decode()] = time.perf_counter()
        if len(received) == count:
            done.set()

    subscriber = paho.Client(
        CallbackAPIVersion.VERSION2, client_id=f"bench-sub-{secrets.token_hex(3)}"
    )
    subscriber.on_message = on_message
    subscriber.connect(host, port)
    subscriber.subscribe(topic, qos=1)
    subscriber.loop_start()
    publisher = paho.Client(
        CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{secrets.token_hex(3)}"
    )
    publisher.connect(host, port)
    publisher.loop_start()
    time.sleep(0.3)
    sent: dict[str, float] = {}
    for index in range(count):
        key = str(index)
        sent[key] = time.perf_counter()
        publisher.publish(topic, key, qos=1).wait_for_publish(5)
        time.sleep(0.01)
    done.wait(10)
    for client in (publisher, subscriber):
        client.loop_stop()
        client.disconnect()
    return [received[k] - sent[k] for k in sent if k in received]


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
            add_member(
                session,
                "Camille",
                consents=[Consent.SCREEN_DISPLAY],
                badges=[credential_for(KEY, UID)],
            )
            moment_soon(session, config.sites[0], in_minutes=5)
        async with SseClient(hub.events_url).open() as sse:
            for index in range(count):
                body = {
                    "id": f"b{index}",
                    "ts": int(time.time() * 1000),
                    "room": "accueil",
                    "reader": "porte",
                    "credential": credential_for(KEY, UID),
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
        parts = urlsplit(broker)
        raw = raw_hop(
            parts.hostname or "127.0.0.1",
            parts.port or 1883,
            f"bench/{secrets.token_hex(4)}/hop",
            args.taps,
        )
        hub, codes = asyncio.run(hub_hop(broker, args.taps, database))
    print(f"taps: {len(hub)} through the hub ({args.database}), {len(raw)} raw")
    print(f"raw MQTT publish → subscribe   {percentiles(raw)}")
    print(f"badge publish → SSE greeting   {percentiles(hub)}")
    print(f"badge publish → its QR code    {percentiles(codes)}")
    added = statistics.median(hub) - statistics.median(raw)
    print(f"hub adds at p50: {added * 1000:.2f} ms")


if __name__ == "__main__":
    main()
