"""The edge agent under a busy room's load, and its outbox replay rate after an outage.

Two figures, printed, never asserted (machines are shared and noisy):

1. **Load**: an agent in its own process, fed for ``--seconds`` (60) with 100 BLE
   advertisements a second (the recorded room of ``tests/edge/data`` plus a crowd of unknown
   phones rotating their addresses, through the fake bleak backend), one badge tap every 10 s
   and environment readings every 5 s, publishing to the machine's Mosquitto. The parent samples
   the child's resident memory (RSS) every second and its CPU time over the run. The
   advertisements are generated inside the agent process, so their cost is counted (BlueZ's
   D-Bus parsing on a real Pi is not); the target is RSS ≤ 60 MB and CPU ≤ 5 % of one core.
2. **Replay**: an outbox left by an outage (``--backlog`` BLE windows, 20 000 by default, written
   in one transaction as an outage leaves them), drained by the MQTT link to the same broker;
   messages acknowledged per second (target ≥ 2 000), and the delay of a badge tap made in the
   middle of the replay (it takes the badge lane, ahead of the backlog).

    .venv/bin/python -m benchmarks.edge_agent [--seconds 60] [--backlog 20000]
        [--broker mqtt://127.0.0.1:1883]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
RECORDING = ROOT / "tests" / "edge" / "data" / "advertisements.jsonl"
IRK = "ec0234a357c8ad05341010a60a397d9b"
ENROLLED = [
    "iBeacon:e5ca1ade-f007-ba11-0000-000000000000-100-1",
    "eddystone:edd1ebeac04e5defa017-0123456789ab",
    "mac:c2a1b2c3d4e5",
    "irk:camille-phone",
]
ADVERTISEMENTS_PER_S = 100
TAP_EVERY_S = 10.0
SENSORS_EVERY_S = 5


def node_config(broker: str, root: str, outbox: Path) -> dict[str, Any]:
    """A lobby node: a reader, the BLE scanner, an environment sensor."""
    return {
        "site": "bench",
        "node": "entree",
        "rooms": ["accueil"],
        "mqtt": {"url": broker, "topic_root": root, "client_id": f"bench-{root[:8]}"},
        "credential_key": "benchmark-credential-key",
        "outbox": {"path": str(outbox)},
        "telemetry_interval_s": 60,
        "badge_readers": [{"id": "porte", "room": "accueil", "kind": "fake"}],
        "ble": {
            "room": "accueil",
            "window_s": 5,
            "enrolled_tags": ENROLLED,
            "irks": [{"id": "camille-phone", "key": IRK}],
        },
        "environment": {
            "interval_s": SENSORS_EVERY_S,
            "sensors": [{"id": "air", "room": "accueil", "kind": "fake"}],
        },
    }


# -- the child: an agent under load ---------------------------------------------------------------


async def run_loaded_agent(config_path: Path, seconds: float) -> None:
    """Run the agent with its feeds for *seconds*, then print its counters as JSON."""
    import itertools

    from edge.agent import EdgeAgent, Hardware
    from edge.config import load_edge_config
    from edge.source_settings import EnvironmentSensorSettings
    from edge.sources.badge import FakeBadgeReader
    from edge.sources.ble_fake import BleReplay, load_recording, synthetic_advertisements
    from edge.sources.environment import FakeEnvironmentSensor

    config = load_edge_config(config_path)
    replay = BleReplay()
    air = FakeEnvironmentSensor(EnvironmentSensorSettings(id="air", room="accueil", kind="fake"))
    air.set(co2=640, temperature=21.5, humidity=42)
    agent = EdgeAgent(
        config, hardware=Hardware(ble_backend=replay.backend(), environment={"air": air})
    )
    recorded = load_recording(RECORDING)
    crowd = synthetic_advertisements([], {}, crowd=40, seed=1, rate_hz=ADVERTISEMENTS_PER_S)
    task = asyncio.create_task(agent.run())
    await agent.wait_connected()
    reader = agent.readers["porte"]
    assert isinstance(reader, FakeBadgeReader)
    loop = asyncio.get_running_loop()
    start = loop.time()
    sent = 0
    next_tap = start
    taps = 0
    recorded_cycle = itertools.cycle(recorded)
    while (now := loop.time()) - start < seconds:
        due = int((now - start) * ADVERTISEMENTS_PER_S)
        while sent < due:  # one advertisement in four from the recorded room, the rest strangers
            replay.advertise(next(recorded_cycle) if sent % 4 == 0 else next(crowd))
            sent += 1
        if now >= next_tap:
            reader.tap(f"04{taps:012X}")
            taps += 1
            next_tap += TAP_EVERY_S
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.5)
    recorder = agent.recorder.stats
    print(
        json.dumps(
            {
                "advertisements": sent,
                "taps": recorder.taps,
                "ble_windows": recorder.ble_windows,
                "sensor_readings": recorder.sensor_readings,
                "acked": agent.link.stats.acked,
                "outbox_depth": agent.outbox.depth(),
            }
        ),
        flush=True,
    )
    agent.stop()
    await task


def measure_load(broker: str, seconds: float, workdir: Path) -> dict[str, Any]:
    """Start the loaded agent in a child process; sample its RSS and CPU time."""
    root = f"bench{secrets.token_hex(3)}/vivant/v1"
    config = workdir / "edge.json"
    config.write_text(json.dumps(node_config(broker, root, workdir / "load.sqlite3")))
    child = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.edge_agent", "--child", str(config), str(seconds)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    process = psutil.Process(child.pid)
    time.sleep(3.0)  # imports and connection; the steady state is what is measured
    cpu_start, wall_start = process.cpu_times(), time.monotonic()
    cpu_end, wall_end = cpu_start, wall_start
    rss: list[int] = []
    while child.poll() is None:
        try:
            rss.append(process.memory_info().rss)
            cpu_end, wall_end = process.cpu_times(), time.monotonic()
        except psutil.NoSuchProcess:
            break
        if wall_end - wall_start >= seconds - 4:
            break
        time.sleep(1.0)
    out, _ = child.communicate(timeout=60)
    used = (cpu_end.user + cpu_end.system) - (cpu_start.user + cpu_start.system)
    counters = json.loads(out.strip().splitlines()[-1])
    return {
        **counters,
        "rss_max_mb": max(rss) / 2**20,
        "rss_last_mb": rss[-1] / 2**20,
        "cpu_percent": 100 * used / (wall_end - wall_start),
        "measured_s": wall_end - wall_start,
    }


# -- replay ---------------------------------------------------------------------------------------


def fill_outbox(path: Path, topic: str, count: int) -> None:
    """An outbox as an outage leaves it: *count* BLE windows, written in one transaction."""
    from edge.outbox import Outbox

    Outbox(path).close()  # the schema and the instance id
    payload = json.dumps(
        {
            "id": "x",
            "ts": 1_741_944_600_000,
            "room": "accueil",
            "window_s": 5,
            "tags": [{"tag": ENROLLED[0], "rssi": -62.5, "n": 48}],
            "anonymous": 17,
        }
    ).encode()
    db = sqlite3.connect(path)
    with db:
        db.executemany(
            "INSERT INTO message (topic, payload, qos, retain, created_ms) VALUES (?, ?, 1, 0, ?)",
            ((topic, payload, int(time.time() * 1000)) for _ in range(count)),
        )
    db.close()


def measure_replay(broker: str, backlog: int, workdir: Path) -> dict[str, float]:
    """Drain a backlog through the link; time it, and a tap made halfway."""
    from edge.link import MqttLink
    from edge.outbox import Outbox
    from vivant.mqtt import MqttSettings
    from vivant.wire.topics import EdgeKind, Topics

    root = f"bench{secrets.token_hex(3)}/vivant/v1"
    topics = Topics(root)
    ble, badge = (topics.node("bench", "entree", k) for k in (EdgeKind.BLE, EdgeKind.BADGE))
    path = workdir / "replay.sqlite3"
    fill_outbox(path, ble, backlog)
    outbox = Outbox(path, max_messages=1_000_000)
    link = MqttLink(
        MqttSettings(url=broker, topic_root=root),
        site="bench",
        node="entree",
        outbox=outbox,
        client_id=f"bench-replay-{root[:8]}",
        lanes=[badge],
    )
    tap_delay: list[float] = []
    acked_at_tap = threading.Event()

    def watch_tap() -> None:
        while link.stats.acked < backlog // 2:
            time.sleep(0.001)
        seq = outbox.put(badge, lambda mid: b'{"tap":"' + mid.encode() + b'"}').seq
        link.wake()
        made = time.monotonic()
        while any(e.seq == seq for e in outbox.pending(after_seq=seq - 1, limit=1, topic=badge)):
            time.sleep(0.0005)
        tap_delay.append(time.monotonic() - made)
        acked_at_tap.set()

    started = time.monotonic()
    link.start()
    threading.Thread(target=watch_tap, daemon=True).start()
    while outbox.depth() > 0:
        time.sleep(0.005)
    elapsed = time.monotonic() - started
    acked_at_tap.wait(10)
    link.stop(timeout=5, flush_s=0)
    outbox.close()
    return {
        "backlog": backlog,
        "seconds": elapsed,
        "rate": (backlog + 1) / elapsed,
        "tap_delay_ms": 1000 * tap_delay[0] if tap_delay else float("nan"),
    }


def main(argv: list[str] | None = None) -> None:
    """Run both measurements and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--backlog", type=int, default=20_000)
    parser.add_argument("--broker", default="mqtt://127.0.0.1:1883")
    parser.add_argument("--child", nargs=2, metavar=("CONFIG", "SECONDS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        asyncio.run(run_loaded_agent(Path(args.child[0]), float(args.child[1])))
        return
    with tempfile.TemporaryDirectory(prefix="vivant-bench-") as tmp:
        workdir = Path(tmp)
        load = measure_load(args.broker, args.seconds, workdir)
        replay = measure_replay(args.broker, args.backlog, workdir)
    print(
        f"load: {load['advertisements']} advertisements, {load['taps']} taps, "
        f"{load['sensor_readings']} sensor readings, {load['ble_windows']} BLE windows "
        f"in {args.seconds:.0f} s; {load['acked']} messages acknowledged, "
        f"outbox depth {load['outbox_depth']} at the end"
    )
    print(
        f"agent RSS   max {load['rss_max_mb']:6.1f} MB   last {load['rss_last_mb']:6.1f} MB"
        f"   (target <= 60 MB)"
    )
    print(
        f"agent CPU   {load['cpu_percent']:5.2f} % of one core over {load['measured_s']:.0f} s"
        f"   (target <= 5 %)"
    )
    print(
        f"replay      {replay['backlog']} messages in {replay['seconds']:.2f} s = "
        f"{replay['rate']:,.0f} messages/s   (target >= 2,000)"
    )
    print(
        f"a tap made halfway through the replay was acknowledged "
        f"{replay['tap_delay_ms']:.1f} ms later"
    )


if __name__ == "__main__":
    main()
