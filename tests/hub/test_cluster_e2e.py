"""Two hub processes, ten sites, one broker and one PostgreSQL: every site is served by exactly
one process; when one is killed its sites move to the other, and back when it returns, with
nothing lost or applied twice."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import paho.mqtt.client as paho
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import func, select

from hub.accounts import Role, create_token
from hub.db.engine import make_engine, make_sessionmaker
from hub.db.models import BadgeTap, SeenMessage
from tests.support.databases import temporary_database
from tests.support.hub_server import SITE_ZONE
from tests.support.mosquitto import PrivateBroker, free_port, wait_for_port
from tests.support.waiting import wait_until
from vivant.wire import credential_for

SITES = [f"site-{i:02d}" for i in range(10)]
INSTANCES = {"a": SITES[:5], "b": SITES[5:]}
KEY = "cluster-test-credential-key"
LEASE_S = 3


@pytest.fixture
def postgres_url(tmp_path: Path) -> Iterator[str]:
    """An empty PostgreSQL database: the processes starting together migrate it (one does)."""
    with temporary_database("postgresql", tmp_path) as url:
        yield url


def staff_token(db_url: str) -> str:
    """An API token for the staff dashboard's JSON, made in the shared database."""
    engine = make_engine(db_url)
    try:
        with make_sessionmaker(engine).begin() as session:
            secret, _ = create_token(session, "cluster test", Role.STAFF)
    finally:
        engine.dispose()
    return secret


def write_config(tmp_path: Path, broker: PrivateBroker, db_url: str) -> Path:
    config = {
        "mqtt": {"url": broker.url, "client_id": "vivant-hub-cluster"},
        "database": {"url": db_url},
        "live_tick_s": 0.5,
        "cluster": {"instances": INSTANCES, "lease_s": LEASE_S},
        "sites": [
            {
                "id": site,
                "name": site,
                "timezone": SITE_ZONE,
                "rooms": [
                    {"id": "accueil", "name": "Accueil", "kind": "lobby"},
                    {"id": "cuisine", "name": "Cuisine", "kind": "community"},
                ],
                "nodes": [
                    {"id": "entree", "rooms": ["accueil"]},
                    {"id": "pi-cuisine", "rooms": ["cuisine"]},
                ],
            }
            for site in SITES
        ],
    }
    path = tmp_path / "hub.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


class Process:
    """One hub process of the cluster, with its own HTTP port."""

    def __init__(self, config: Path, instance: str) -> None:
        self.port = free_port()
        self.instance = instance
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "vivant", "hub", "--config", str(config),
             "--instance", instance, "--port", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def wait(self) -> Process:
        wait_for_port("127.0.0.1", self.port, timeout=60)
        return self

    def sites(self) -> set[str]:
        url = f"http://127.0.0.1:{self.port}/healthz"
        with urllib.request.urlopen(url, timeout=5) as response:
            return set(json.loads(response.read())["sites"])

    def room_counts(self, token: str) -> dict[tuple[str, str], int | None]:
        """(site, room) -> count on this process's staff dashboard, for every site."""
        response = httpx.get(
            f"http://127.0.0.1:{self.port}/staff/snapshot.json",
            headers={"Authorization": f"Bearer {token}"},
            timeout=5,
        )
        boards = response.raise_for_status().json()["sites"]
        return {(b["site_id"], r["id"]): r["count"] for b in boards for r in b["rooms"]}

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            self.popen.wait(timeout=30)


class Load:
    """Badge taps and BLE windows for every site, QoS 1, counted per site, until stopped."""

    def __init__(self, broker: PrivateBroker) -> None:
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id="load")
        self.client.max_inflight_messages_set(100)
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()
        self.sent: Counter[str] = Counter()
        self.taps = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        seq = 0
        while not self.stop.is_set():
            now = int(time.time() * 1000)
            for site in SITES:
                seq += 1
                window = {"id": f"w{seq}", "ts": now, "room": "cuisine", "window_s": 5,
                          "tags": [], "anonymous": seq % 4}  # fmt: skip
                self.client.publish(f"vivant/v1/{site}/pi-cuisine/ble", json.dumps(window), qos=1)
                tap = {"id": f"t{seq}", "ts": now, "room": "accueil", "reader": "porte",
                       "credential": credential_for(KEY, f"04{seq:012X}")}  # fmt: skip
                self.client.publish(f"vivant/v1/{site}/entree/badge", json.dumps(tap), qos=1)
                self.sent[site] += 2
                self.taps += 1
            time.sleep(0.05)

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        time.sleep(0.5)  # let the last QoS 1 publications complete
        self.client.loop_stop()
        self.client.disconnect()


def test_each_site_is_served_once_and_moves_when_its_process_dies(
    broker: PrivateBroker, postgres_url: str, tmp_path: Path
) -> None:
    config = write_config(tmp_path, broker, postgres_url)
    a, b = Process(config, "a"), Process(config, "b")  # starting together
    a.wait(), b.wait()
    load = Load(broker)
    try:
        wait_until(
            lambda: (a.sites(), b.sites()) == (set(INSTANCES["a"]), set(INSTANCES["b"])),
            within=30,
            what="each instance serving its own sites",
        )
        load.thread.start()
        time.sleep(3)
        assert (a.sites(), b.sites()) == (set(INSTANCES["a"]), set(INSTANCES["b"]))
        # The staff pages of either process show every site's rooms, whoever serves them.
        token = staff_token(postgres_url)
        wait_until(
            lambda: all(
                process.room_counts(token)[(site, "cuisine")] is not None
                for process in (a, b)
                for site in SITES
            ),
            within=20,
            what="every site's occupancy on both processes' dashboards",
        )
        a.stop(signal.SIGKILL)  # no clean stop: its leases must run out
        wait_until(lambda: b.sites() == set(SITES), within=LEASE_S * 6, what="b takes a's sites")
        time.sleep(2)
        a = Process(config, "a").wait()  # a comes back: b hands its sites back
        wait_until(
            lambda: (a.sites(), b.sites()) == (set(INSTANCES["a"]), set(INSTANCES["b"])),
            within=LEASE_S * 6,
            what="a's sites handed back",
        )
        time.sleep(2)
    finally:
        load.close()
        a.stop()
    engine = make_engine(postgres_url)
    sessions = make_sessionmaker(engine)
    try:

        def all_applied() -> bool:
            with sessions() as session:
                return session.scalar(select(func.count()).select_from(SeenMessage)) == sum(
                    load.sent.values()
                )

        wait_until(all_applied, within=60, what="every message applied")
        a.stop()
        b.stop()
        with sessions() as session:
            seen = Counter(session.scalars(select(SeenMessage.site_id)))
            taps = session.execute(select(BadgeTap.site_id, BadgeTap.msg_id)).all()
    finally:
        engine.dispose()
        a.stop(signal.SIGKILL)
        b.stop(signal.SIGKILL)
    assert seen == load.sent  # nothing lost, per site
    assert len(taps) == len(set(taps)) == load.taps  # each tap applied exactly once
    assert load.taps > 200
