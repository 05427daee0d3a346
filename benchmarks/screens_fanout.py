"""Tap → greeting latency at every lobby screen when many screens and dashboards are connected.

The hub runs as it does in production, in its own process (``vivant hub --config``), on SQLite
and the machine's Mosquitto. This process publishes badge taps as an edge agent would and holds
the clients: lightweight SSE readers on raw sockets (not browsers), all in one event loop. Taps
are measured with 1 screen, with N screens (default 50), and with the N screens and M staff
dashboards (default 20: signed-in staff on ``/staff/events``, each with its own session, which
the hub checks and refreshes every two seconds), in one run, the three settings taking turns
(``--rounds``); the figure to compare is the ratio to the single screen, not absolute values
(the machine is shared and noisy).

    .venv/bin/python -m benchmarks.screens_fanout [--screens 50] [--dashboards 20] [--taps 200]
        [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import paho.mqtt.client as paho
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from benchmarks.latency import MEMBER_UID, greeted_member, quantiles_ms
from hub.accounts import Role
from hub.config import HubConfig
from hub.db.engine import make_engine, make_sessionmaker
from hub.db.migrate import upgrade
from hub.screen_auth import screen_token
from hub.signing import Signer
from hub.sites import sync_sites
from hub.web.auth import SESSION_COOKIE
from tests.support.accounts import sign_in
from tests.support.factories import moment_soon
from tests.support.hub_server import NODE, SCREEN, SITE, hub_config
from tests.support.mosquitto import broker_or_private, free_port
from vivant.wire import credential_for

KEY = "fanout-benchmark-credential-key"
VIVANT = Path(sys.executable).with_name("vivant")


class Stream:
    """One event stream read from a raw socket: when each *watched* event arrived, and how many
    events of each name came."""

    def __init__(
        self, host: str, port: int, path: str, *, watch: str = "greeting", cookie: str = ""
    ) -> None:
        self.host, self.port, self.path = host, port, path
        self.watch = watch
        self.cookie = cookie
        self.arrivals: asyncio.Queue[float] = asyncio.Queue()
        self.counts: Counter[str] = Counter()
        self.ready = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        request = f"GET {self.path} HTTP/1.1\r\nHost: {self.host}\r\n"
        if self.cookie:
            request += f"Cookie: {SESSION_COOKIE}={self.cookie}\r\n"
        writer.write(f"{request}Accept: text/event-stream\r\n\r\n".encode())
        await writer.drain()
        event = ""
        try:
            while line := await reader.readline():
                text = line.decode().rstrip("\r\n")
                if text.startswith("event:"):
                    event = text[6:].strip()
                elif text.startswith("data:"):
                    self.counts[event] += 1
                    if event == self.watch:
                        self.arrivals.put_nowait(time.perf_counter())
                    elif event == "hello":
                        self.ready.set()
                elif text == "":
                    event = ""
        finally:
            writer.close()

    def start(self) -> None:
        self.task = asyncio.create_task(self.run())


def write_config(workdir: Path, broker: str, dashboards: int) -> tuple[HubConfig, list[str]]:
    """A one-site hub with a known secret key, seeded with Camille, two moments and a signed-in
    staff member per dashboard (their session cookies are returned)."""
    root = f"f{secrets.token_hex(4)}/vivant/v1"
    config = hub_config(
        broker, root, f"sqlite:///{workdir / 'hub.db'}", client_id=f"fanout-{root[:9]}",
        port=free_port(),
    )  # fmt: skip
    data = config.model_dump(mode="json", exclude_none=True)
    data["mqtt"].pop("password", None)
    data["secret_key"] = secrets.token_urlsafe(32)
    config = HubConfig.model_validate(data)
    (workdir / "hub.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    engine = make_engine(config.database.url)
    upgrade(engine)
    with make_sessionmaker(engine).begin() as session:
        sync_sites(session, config)
        greeted_member(session, KEY)
        moment_soon(session, config.sites[0], in_minutes=5)
        moment_soon(session, config.sites[0], in_minutes=90, title="Atelier", kind="workshop")
    sessions = make_sessionmaker(engine)
    cookies = [sign_in(sessions, Role.STAFF).cookie for _ in range(dashboards)]
    engine.dispose()
    return config, cookies


def wait_healthy(base_url: str, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the hub exited at start")
        try:
            with urllib.request.urlopen(f"{base_url}/healthz", timeout=1) as response:  # noqa: S310
                if json.load(response).get("mqtt_connected"):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError("the hub did not become healthy")


async def measure(
    config: HubConfig,
    publisher: paho.Client,
    screens: int,
    taps: int,
    first_id: int,
    cookies: list[str] | None = None,
) -> tuple[list[float], list[float], int]:
    """Per-screen latencies of every tap, per tap the time until the last screen had it, and
    how many live updates the staff dashboards (one per cookie) received meanwhile."""
    assert config.secret_key is not None
    site = config.sites[0]
    screen = site.screen(SCREEN)
    assert screen is not None
    token = screen_token(Signer(config.secret_key.get_secret_value()), site, screen)
    path = f"/screens/{SITE}/{SCREEN}/events?token={token}"
    port = config.http.port
    clients = [Stream("127.0.0.1", port, path) for _ in range(screens)]
    dashboards = [
        Stream("127.0.0.1", port, "/staff/events", watch="site", cookie=cookie)
        for cookie in cookies or []
    ]
    for client in clients + dashboards:
        client.start()
    await asyncio.wait_for(asyncio.gather(*(c.ready.wait() for c in clients + dashboards)), 30)
    if dashboards:  # each has drawn its first board: they are live
        await asyncio.wait_for(asyncio.gather(*(d.arrivals.get() for d in dashboards)), 30)
    every: list[float] = []
    last: list[float] = []
    topic = f"{config.mqtt.topic_root}/{SITE}/{NODE}/badge"
    for index in range(taps):
        body = {"id": f"t{first_id + index}", "ts": int(time.time() * 1000), "room": "accueil",
                "reader": "porte", "credential": credential_for(KEY, MEMBER_UID)}  # fmt: skip
        started = time.perf_counter()
        publisher.publish(topic, json.dumps(body), qos=1)
        arrived = await asyncio.wait_for(asyncio.gather(*(c.arrivals.get() for c in clients)), 10)
        every += [at - started for at in arrived]
        last.append(max(arrived) - started)
        await asyncio.sleep(0.02)
    for client in clients + dashboards:
        assert client.task is not None
        client.task.cancel()
    await asyncio.gather(*(c.task for c in clients + dashboards if c.task), return_exceptions=True)
    if any(d.counts["signed-out"] for d in dashboards):
        raise RuntimeError("a staff dashboard was signed out during the run")
    return every, last, sum(d.counts["site"] for d in dashboards)


async def rounds(
    config: HubConfig, publisher: paho.Client, args: argparse.Namespace, cookies: list[str]
) -> tuple[list[float], list[float], list[float], list[float], list[float], int]:
    """The three settings taken in turn, a share of the taps each round: a change in the
    machine's load then weighs on all three alike (the ratio is the figure)."""
    one: list[float] = []
    many: list[float] = []
    last: list[float] = []
    full: list[float] = []
    full_last: list[float] = []
    updates = 0
    share = max(1, args.taps // args.rounds)
    for index in range(args.rounds):
        first = index * 3 * share
        got, _, _ = await measure(config, publisher, 1, share, first)
        one += got
        got, slowest, _ = await measure(config, publisher, args.screens, share, first + share)
        many += got
        last += slowest
        got, slowest, count = await measure(
            config, publisher, args.screens, share, first + 2 * share, cookies
        )
        full += got
        full_last += slowest
        updates += count
    return one, many, last, full, full_last, updates


def main() -> None:
    """Start a hub; measure with 1 screen, N screens, N screens and M dashboards; print."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--screens", type=int, default=50)
    parser.add_argument("--dashboards", type=int, default=20)
    parser.add_argument("--taps", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--broker", help="an MQTT URL (default: a private Mosquitto as shipped)")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        broker_or_private(args.broker, Path(tmp) / "mosquitto") as broker,
    ):
        parts = urlsplit(broker)
        workdir = Path(tmp)
        config, cookies = write_config(workdir, broker, args.dashboards)
        log = (workdir / "hub.log").open("wb")
        hub = subprocess.Popen(
            [str(VIVANT), "hub", "--config", str(workdir / "hub.yaml")],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
        publisher = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"fanout-edge-{tmp[-6:]}")
        try:
            wait_healthy(f"http://127.0.0.1:{config.http.port}", hub)
            publisher.connect(parts.hostname or "127.0.0.1", parts.port or 1883)
            publisher.loop_start()
            one, many, last, full, full_last, updates = asyncio.run(
                rounds(config, publisher, args, cookies)
            )
        finally:
            publisher.loop_stop()
            publisher.disconnect()
            hub.terminate()
            hub.wait(20)
            log.close()
    p1 = quantiles_ms(one)
    print(
        f"{args.taps} taps per setting in {args.rounds} rounds; hub in its own process "
        f"(SQLite, Mosquitto {args.broker or 'private, set up as shipped'})"
    )
    print(row("1 screen", p1))
    screens = f"{args.screens} screens"
    print(row(f"{screens}, every screen", quantiles_ms(many)))
    print(row(f"{screens}, last screen", quantiles_ms(last)))
    both = f"{screens} + {args.dashboards} dashboards"
    pn = quantiles_ms(full)
    print(row(f"{both}, every screen", pn))
    print(row(f"{both}, last screen", quantiles_ms(full_last)))
    ratios = "   ".join(f"{name} {n / o:.2f}" for name, n, o in zip(NAMES, pn, p1, strict=True))
    print(f"{'ratio ' + both + ' / 1 screen':<44}{ratios}   (goal: p95 <= 2)")
    print(f"the {args.dashboards} dashboards received {updates} live updates meanwhile")


NAMES = ("p50", "p95", "p99")


def row(label: str, figures: tuple[float, float, float]) -> str:
    """One printed line of percentiles."""
    cells = "   ".join(f"{n} {v:7.2f} ms" for n, v in zip(NAMES, figures, strict=True))
    return f"{label:<44}{cells}"


if __name__ == "__main__":
    main()
