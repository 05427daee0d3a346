"""Hub ingest rate against a bare paho subscriber, on the same Mosquitto, in one run.

A backlog of N messages (≈70 % BLE windows, 25 % sensor readings, 5 % badge taps, from 30 sites)
is queued at the broker for a subscriber that is away (persistent session); the subscriber then
connects and the time to drain the backlog is measured. Done once for a bare paho subscriber that
only counts, once for the hub (validation, deduplication, presence, occupancy, SQLite commit and
manual acknowledgements), at QoS 0 and QoS 1. Prints rates and their ratio, plus lost and
duplicated counts from the hub's database. A figure, not a timed test.

    .venv/bin/python -m benchmarks.ingest_rate [--messages 20000] [--rounds 3] [--processes 2]

The broker is a private Mosquitto with ``max_queued_messages 0`` (a backlog of N must fit),
``queue_qos0_messages true`` and ``max_inflight_messages 1000`` (as in
``deploy/mosquitto/mosquitto.conf``: the hub acknowledges after each commit, so a whole batch
must be allowed in flight).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import paho.mqtt.client as paho
import yaml
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import func, select

from hub.db.engine import make_engine, make_sessionmaker
from hub.db.migrate import upgrade
from hub.db.models import BadgeTap, SeenMessage
from tests.support.databases import temporary_database
from tests.support.mosquitto import PrivateBroker, free_port, wait_for_port
from vivant.wire import credential_for

SITES = [f"site-{i:02d}" for i in range(30)]
ROOMS = ["accueil", "open-space", "cuisine", "reunion"]
ROOT = "vivant/v1"
BROKER_EXTRA = "max_queued_messages 0\nqueue_qos0_messages true\nmax_inflight_messages 1000\n"


def node_of(room: str) -> str:
    """One node per room."""
    return f"pi-{room}"


def messages(count: int, run: str, seed: int = 1) -> list[tuple[str, bytes]]:
    """The realistic mix, with ids unique per node and timestamps of the last minutes."""
    rng = random.Random(seed)
    now = int(time.time() * 1000) - 60_000
    out = []
    for index in range(count):
        site, room = rng.choice(SITES), rng.choice(ROOMS)
        ts = now + index
        draw = rng.random()
        if draw < 0.70:
            kind = "ble"
            tags = [
                {"tag": f"iBeacon:2f234454-cf6d-4a0f-adf2-f4911ba9ffa6-1-{rng.randrange(200)}",
                 "rssi": round(rng.uniform(-95, -50), 1), "n": rng.randrange(1, 6)}
                for _ in range(rng.randrange(0, 4))
            ]  # fmt: skip
            body: dict[str, object] = {"window_s": 5, "tags": tags, "anonymous": rng.randrange(8)}
        elif draw < 0.95:
            kind = "sensor"
            sensor = rng.choice(["co2", "temperature", "humidity", "motion"])
            value = {"co2": 600.0, "temperature": 21.0, "humidity": 45.0, "motion": 1}[sensor]
            body = {"kind": sensor, "value": value}
        else:
            kind, room = "badge", "accueil"
            uid = f"04{rng.getrandbits(48):012X}"
            body = {"reader": "porte", "credential": credential_for("bench-key-0123456789", uid)}
        body.update({"id": f"{run}-{index}", "ts": ts, "room": room})
        out.append((f"{ROOT}/{site}/{node_of(room)}/{kind}", json.dumps(body).encode()))
    return out


def publish_all(port: int, qos: int, count: int, run: str) -> None:
    """Publish the mix from another process (so the publisher does not share our GIL)."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{os.getpid()}")
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    infos = [client.publish(topic, payload, qos=qos) for topic, payload in messages(count, run)]
    for info in infos:
        info.wait_for_publish(60)
    client.loop_stop()
    client.disconnect()


def backlog(port: int, qos: int, count: int, run: str) -> None:
    """Queue *count* messages at the broker (for whoever has a persistent subscription)."""
    process = multiprocessing.get_context("spawn").Process(
        target=publish_all, args=(port, qos, count, run)
    )
    process.start()
    process.join()
    time.sleep(1.0)  # let the broker finish queueing


def bare_rate(port: int, qos: int, count: int, round_: int = 0) -> float:
    """Messages/s for a subscriber that only counts (auto-acknowledged by paho)."""
    received = 0
    first = last = 0.0
    done = threading.Event()

    def on_message(_c: paho.Client, _u: object, _m: paho.MQTTMessage) -> None:
        nonlocal received, first, last
        received += 1
        last = time.perf_counter()
        if received == 1:
            first = last
        if received >= count:
            done.set()

    client_id = f"bench-bare-{qos}-{round_}-{os.getpid()}"
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
    client.connect("127.0.0.1", port)
    client.subscribe(f"{ROOT}/#", qos=1)
    client.loop_start()
    time.sleep(0.5)
    client.loop_stop()
    client.disconnect()
    backlog(port, qos, count, f"bare{qos}-{round_}")
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
    client.on_message = on_message
    client.connect("127.0.0.1", port)
    client.loop_start()
    done.wait(600)
    client.unsubscribe(f"{ROOT}/#")  # leave no session collecting the hub's backlog
    client.loop_stop()
    client.disconnect()
    return (received - 1) / (last - first) if last > first else float("nan")


def forget_session(port: int, client_id: str) -> None:
    """End a persistent session at the broker (else it queues every later round's messages)."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
    client.connect("127.0.0.1", port)
    client.loop_start()
    time.sleep(0.2)
    client.loop_stop()
    client.disconnect()


def hub_config(
    workdir: Path, port: int, http_port: int, client_id: str, db_url: str, processes: int = 1
) -> Path:
    """30 sites, one node per room; with several processes, the sites split evenly."""
    config: dict[str, object] = {
        "mqtt": {"url": f"mqtt://127.0.0.1:{port}", "client_id": client_id},
        "database": {"url": db_url},
        "http": {"port": http_port},
        "ingest": {"queue_size": 20_000},  # the default batch size (500)
        "sites": [
            {
                "id": site,
                "name": site,
                "rooms": [{"id": r, "name": r, "kind": "desk"} for r in ROOMS],
                "nodes": [{"id": node_of(r), "rooms": [r]} for r in ROOMS],
            }
            for site in SITES
        ],
    }
    if processes > 1:
        config["cluster"] = {
            "instances": {f"p{i}": SITES[i::processes] for i in range(processes)},
            "lease_s": 30,
        }
    path = workdir / "hub.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def metric(http_port: int, name: str) -> float:
    """Sum of a metric's samples in the hub's /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return sum(float(v) for v in re.findall(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.M))


def hub_rate(
    port: int,
    qos: int,
    count: int,
    workdir: Path,
    db_url: str,
    processes: int = 1,
    round_: int = 0,
) -> tuple[float, int, int]:
    """Messages/s for the hub draining the backlog; plus lost and applied-twice counts."""
    http_ports = [free_port() for _ in range(processes)]
    # A session of its own per round: nothing queued for an earlier round reaches this one.
    client_id = f"bench-hub-{qos}-{processes}-{round_}-{os.getpid()}"
    config = hub_config(workdir, port, http_ports[0], client_id, db_url, processes)

    def start() -> list[subprocess.Popen[bytes]]:
        started = []
        for index, http_port in enumerate(http_ports):
            command = [sys.executable, "-m", "vivant", "hub", "--config", str(config),
                       "--port", str(http_port)]  # fmt: skip
            if processes > 1:
                command += ["--instance", f"p{index}"]
            log = (workdir / f"hub-{processes}-{index}.log").open("ab")
            started.append(subprocess.Popen(command, stdout=log, stderr=log))
        for index, http_port in enumerate(http_ports):
            try:
                wait_for_port("127.0.0.1", http_port, timeout=60)
            except TimeoutError:
                log_text = (workdir / f"hub-{processes}-{index}.log").read_text(errors="replace")
                sys.exit(f"hub process {index} did not start:\n{log_text[-2000:]}")
        return started

    def stop(hubs: list[subprocess.Popen[bytes]]) -> None:
        for hub in hubs:
            hub.send_signal(signal.SIGTERM)
        for hub in hubs:
            hub.wait()

    def total(name: str) -> float:
        return sum(metric(http_port, name) for http_port in http_ports)

    stop(start())  # registers the persistent subscriptions, then leaves
    run = f"hub{qos}-{processes}-{round_}"
    backlog(port, qos, count, run)
    hubs = start()
    try:
        # Only to know when it is done: the rate is read from the database below. (Polled every
        # 50 ms, rendering /metrics took about 7 % of the hub's time: the observer slowed it.)
        while total("vivant_messages_received_total") < count:
            time.sleep(0.25)
        time.sleep(1.0)
        dropped_duplicates = int(total("vivant_messages_duplicate_total"))
    finally:
        stop(hubs)
    sessions = [client_id] if processes == 1 else [f"{client_id}-p{i}" for i in range(processes)]
    for session_id in sessions:
        forget_session(port, session_id)
    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as session:
        applied = int(session.scalar(select(func.count()).select_from(SeenMessage)) or 0)
        taps = int(session.scalar(select(func.count(BadgeTap.id))) or 0)
        # The hub stamps every message of a batch with the time it applies the batch: from the
        # first stamp to the last, every batch but the last was applied.
        batches = session.execute(
            select(SeenMessage.seen_at, func.count())
            .group_by(SeenMessage.seen_at)
            .order_by(SeenMessage.seen_at)
        ).all()
    engine.dispose()
    span = (batches[-1][0] - batches[0][0]).total_seconds() if len(batches) > 1 else 0.0
    rate = (applied - batches[-1][1]) / span if span > 0 else float("nan")
    expected_taps = sum(1 for topic, _ in messages(count, run) if topic.endswith("/badge"))
    # Each observation is applied once iff it has exactly one row in seen_messages (primary key)
    # and each badge exactly one row in the badge log.
    lost = max(0, count - applied) + max(0, expected_taps - taps)
    twice = max(0, taps - expected_taps)
    if dropped_duplicates:
        print(f"  (QoS {qos}: {dropped_duplicates} redelivered messages dropped as duplicates)")
    return rate, lost, twice


def main() -> None:
    """Run the bare subscriber and the hub (one process on SQLite, and several processes sharing
    PostgreSQL) at QoS 0 and QoS 1, in alternating rounds, and print the figures.

    The machine is shared: its load changes from one minute to the next. Each round measures the
    bare subscriber right before the hub, the ratio is taken within the round, and the median
    ratio over the rounds is the figure.
    """
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3, help="alternating bare/hub rounds")
    parser.add_argument(
        "--processes", type=int, default=2, help="hub processes sharing PostgreSQL (0: skip)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        broker = PrivateBroker(workdir=Path(tmp) / "mosquitto", extra_config=BROKER_EXTRA)
        broker.start()
        try:
            print(f"{args.messages} messages, 30 sites, mix 70 % BLE / 25 % sensor / 5 % badge")
            summary: list[str] = []
            for qos in (0, 1):
                variants = [1] + ([args.processes] if args.processes > 1 else [])
                ratios: dict[int, list[float]] = {processes: [] for processes in variants}
                for round_ in range(args.rounds):
                    for processes in variants:
                        bare = bare_rate(broker.port, qos, args.messages, round_)
                        workdir = Path(tmp) / f"hub-qos{qos}-{round_}-{processes}"
                        workdir.mkdir()
                        database: contextlib.AbstractContextManager[str] = (
                            contextlib.nullcontext(f"sqlite:///{workdir / 'hub.db'}")
                            if processes == 1
                            else temporary_database("postgresql", workdir)
                        )
                        with database as db_url:
                            engine = make_engine(db_url)
                            upgrade(engine)
                            engine.dispose()
                            hub, lost, twice = hub_rate(
                                broker.port, qos, args.messages, workdir, db_url, processes, round_
                            )
                        ratios[processes].append(hub / bare)
                        print(
                            f"QoS {qos} round {round_ + 1}: bare paho {bare:8.0f} msg/s   "
                            f"hub x{processes} ({where(processes)}) {hub:8.0f} msg/s   "
                            f"ratio {hub / bare:4.2f}   lost {lost}   applied twice {twice}",
                            flush=True,
                        )
                for processes, values in ratios.items():
                    summary.append(
                        f"QoS {qos}: hub x{processes} ({where(processes)}) ÷ bare paho: median "
                        f"{statistics.median(values):4.2f} over {len(values)} rounds "
                        f"({', '.join(f'{v:4.2f}' for v in values)})"
                    )
            print("\n".join(summary))
        finally:
            broker.stop()


def where(processes: int) -> str:
    """The database of a variant: one process on SQLite, several sharing PostgreSQL."""
    return "SQLite" if processes == 1 else "PostgreSQL"


if __name__ == "__main__":
    main()
