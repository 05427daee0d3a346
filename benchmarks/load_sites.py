"""Load test: 30 simulated sites × 20 nodes against one hub, on one machine, for 10 minutes.

Each simulated node publishes what a real one does at the default settings: a BLE window every
5 s (0 to 3 enrolled tags heard, anonymous devices), four environment readings and its telemetry
every 60 s, and badge taps at each site's entrance. The hub runs in its own process on SQLite
with the real broker between them (a private Mosquitto). Every 10 s the benchmark reads the
hub's ingest lag (age of the newest applied observation), its queue depth and its resident
memory; it prints them, then a summary: the largest lag, and memory after the first minute
against the last. A figure, not a timed test.

    .venv/bin/python -m benchmarks.load_sites [--minutes 10] [--sites 30] [--nodes 20]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import paho.mqtt.client as paho
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from hub.db.engine import make_engine
from hub.db.migrate import upgrade
from tests.support.mosquitto import PrivateBroker, free_port, wait_for_port
from vivant.wire import credential_for

ROOT = "vivant/v1"
ROOMS = ["accueil", "open-space", "bureaux", "cuisine", "reunion"]
KEY = "load-test-credential-key"
TAG_PREFIX = "iBeacon:2f234454-cf6d-4a0f-adf2-f4911ba9ffa6"


def site_id(index: int) -> str:
    return f"site-{index:02d}"


def node_id(index: int) -> str:
    return f"pi-{index:02d}"


def room_of(node: int) -> str:
    return ROOMS[node % len(ROOMS)]


def write_config(workdir: Path, port: int, http_port: int, sites: int, nodes: int) -> Path:
    config = {
        "mqtt": {"url": f"mqtt://127.0.0.1:{port}", "client_id": "load-hub"},
        "database": {"url": f"sqlite:///{workdir / 'hub.db'}"},
        "http": {"port": http_port},
        "nudges": {"enabled": False},
        "sites": [
            {
                "id": site_id(s),
                "name": site_id(s),
                "rooms": [{"id": r, "name": r, "kind": "desk", "capacity": 30} for r in ROOMS],
                "nodes": [{"id": node_id(n), "rooms": [room_of(n)]} for n in range(nodes)],
            }
            for s in range(sites)
        ],
    }
    path = workdir / "hub.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


class Sites:
    """Publishes the traffic of every simulated node, on one connection per site."""

    def __init__(self, port: int, sites: int, nodes: int, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.nodes = nodes
        self.clients = []
        for s in range(sites):
            client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"load-{s}")
            client.max_inflight_messages_set(200)
            client.connect("127.0.0.1", port)
            client.loop_start()
            self.clients.append(client)
        self.seq = 0
        self.sent = 0
        # When each node next publishes a window and its minute readings (spread at random).
        now = time.time()
        self.next_window = {
            (s, n): now + self.rng.uniform(0, 5) for s in range(sites) for n in range(nodes)
        }
        self.next_minute = {key: now + self.rng.uniform(0, 60) for key in self.next_window}

    def _publish(self, s: int, n: int, kind: str, body: dict[str, object]) -> None:
        self.seq += 1
        body.update({"id": f"m{self.seq}", "ts": int(time.time() * 1000)})
        if kind != "telemetry":
            body["room"] = room_of(n)
        topic = f"{ROOT}/{site_id(s)}/{node_id(n)}/{kind}"
        self.clients[s].publish(topic, json.dumps(body), qos=1)
        self.sent += 1

    def tick(self) -> None:
        now = time.time()
        for (s, n), due in self.next_window.items():
            if due > now:
                continue
            self.next_window[(s, n)] = due + 5
            tags = [
                {"tag": f"{TAG_PREFIX}-{s}-{self.rng.randrange(40)}",
                 "rssi": round(self.rng.uniform(-95, -55), 1), "n": self.rng.randrange(1, 6)}
                for _ in range(self.rng.randrange(0, 4))
            ]  # fmt: skip
            body = {"window_s": 5, "tags": tags, "anonymous": self.rng.randrange(10)}
            self._publish(s, n, "ble", body)
            if room_of(n) == "accueil" and self.rng.random() < 0.05:
                uid = f"04{self.rng.getrandbits(48):012X}"
                badge: dict[str, object] = {
                    "reader": "porte",
                    "credential": credential_for(KEY, uid),
                }
                self._publish(s, n, "badge", badge)
        for (s, n), due in self.next_minute.items():
            if due > now:
                continue
            self.next_minute[(s, n)] = due + 60
            for kind, value in (("co2", 650.0), ("temperature", 21.5), ("humidity", 44.0),
                                ("motion", 1)):  # fmt: skip
                self._publish(s, n, "sensor", {"kind": kind, "value": value})
            self._publish(s, n, "telemetry", {"version": "load", "uptime_s": int(now) % 10**6,
                                              "outbox_depth": 0, "dropped": 0})  # fmt: skip

    def close(self) -> None:
        for client in self.clients:
            client.loop_stop()
            client.disconnect()


def metric(http_port: int, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=5) as response:
        text = response.read().decode()
    found = re.findall(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.M)
    return sum(float(v) for v in found)


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
    return int(match.group(1)) / 1024 if match else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--sites", type=int, default=30)
    parser.add_argument("--nodes", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        broker = PrivateBroker(workdir=workdir / "mosquitto")
        broker.start()
        http_port = free_port()
        config = write_config(workdir, broker.port, http_port, args.sites, args.nodes)
        engine = make_engine(f"sqlite:///{workdir / 'hub.db'}")
        upgrade(engine)
        engine.dispose()
        hub = subprocess.Popen(
            [sys.executable, "-m", "vivant", "hub", "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for_port("127.0.0.1", http_port, timeout=60)
            sites = Sites(broker.port, args.sites, args.nodes)
            print(
                f"{args.sites} sites x {args.nodes} nodes, {args.minutes:g} min, hub pid {hub.pid}"
            )
            print("   min   sent received  queue  lag_s   rss_MB")
            start = time.time()
            next_sample = start + 10
            samples: list[tuple[float, float, float]] = []
            while time.time() - start < args.minutes * 60:
                sites.tick()
                time.sleep(0.05)
                if time.time() >= next_sample:
                    next_sample += 10
                    lag = metric(http_port, "vivant_ingest_lag_seconds")
                    queue = metric(http_port, "vivant_ingest_queue_depth")
                    applied = metric(http_port, "vivant_messages_received_total")
                    rss = rss_mb(hub.pid)
                    minute = (time.time() - start) / 60
                    samples.append((minute, lag, rss))
                    print(f"{minute:6.1f} {sites.sent:6d} {applied:8.0f} {queue:6.0f} "
                          f"{lag:6.2f} {rss:8.1f}")  # fmt: skip
            sites.close()
            rate = sites.sent / (time.time() - start)
            warm = [s for s in samples if s[0] >= 1.0] or samples
            print(
                f"\n{rate:.0f} msg/s on average; largest lag {max(s[1] for s in samples):.2f} s; "
                f"memory after 1 min {warm[0][2]:.1f} MB, at the end {warm[-1][2]:.1f} MB"
            )
        finally:
            hub.send_signal(signal.SIGTERM)
            hub.wait(timeout=30)
            broker.stop()


if __name__ == "__main__":
    main()
