"""A hub killed with SIGKILL under load loses nothing it acknowledged: after a restart every tap
is applied exactly once, no presence session is lost or duplicated, and rooms are as before."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import paho.mqtt.client as paho
import yaml
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import func, select

from hub.db.engine import make_engine, make_sessionmaker
from hub.db.migrate import upgrade
from hub.db.models import BadgeTap, Consent, Credential, CredentialKind, PresenceSession, RoomDwell
from hub.members import add_member
from tests.support.hub_server import SITE_ZONE
from tests.support.mosquitto import PrivateBroker, free_port, wait_for_port
from tests.support.waiting import wait_until
from vivant.wire import credential_for

KEY = "restart-test-credential-key"
SITE = "ekilibre"
ROOMS = {"cuisine": "pi-cuisine", "open-space": "pi-open", "accueil": "entree"}
PEOPLE = {f"iBeacon:2f234454-cf6d-4a0f-adf2-f4911ba9ffa6-1-{i}": f"0A0B0C{i:02X}" for i in range(6)}
WHERE = {tag: ("cuisine" if i % 2 else "open-space") for i, tag in enumerate(PEOPLE)}


def write_config(tmp_path: Path, broker: PrivateBroker) -> Path:
    config = {
        "mqtt": {"url": broker.url, "client_id": "vivant-hub-restart"},
        "database": {"url": f"sqlite:///{tmp_path / 'hub.db'}"},
        "http": {"port": free_port()},
        "live_tick_s": 0.5,
        "location": {"absence_s": 60},
        "sites": [
            {
                "id": SITE,
                "name": "éKilibre",
                "timezone": SITE_ZONE,
                "rooms": [
                    {"id": "accueil", "name": "Accueil", "kind": "lobby"},
                    {"id": "cuisine", "name": "Cuisine", "kind": "community"},
                    {"id": "open-space", "name": "Open space", "kind": "desk"},
                ],
                "nodes": [{"id": node, "rooms": [room]} for room, node in ROOMS.items()],
                "screens": [{"id": "hall"}],
            }
        ],
    }
    path = tmp_path / "hub.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path


def seed(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    with sessions.begin() as session:
        for index, (tag, uid) in enumerate(PEOPLE.items()):
            member = add_member(
                session, f"Membre{index}", consents=[Consent.ROOM_LOCATION],
                badges=[credential_for(KEY, uid)],
            )  # fmt: skip
            member.credentials.append(
                Credential(
                    kind=CredentialKind.BLE_TAG.value, value=tag, created_at=member.created_at
                )
            )
    engine.dispose()


class Load:
    """Publishes BLE windows for everyone and badge taps, QoS 1, until stopped."""

    def __init__(self, broker: PrivateBroker) -> None:
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id="load", clean_session=False
        )
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()
        self.taps = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _publish(self, node: str, kind: str, body: dict[str, object]) -> None:
        self.client.publish(f"vivant/v1/{SITE}/{node}/{kind}", json.dumps(body), qos=1)

    def _run(self) -> None:
        seq = 0
        while not self.stop.is_set():
            now = int(time.time() * 1000)
            for room, node in ROOMS.items():
                if room == "accueil":
                    continue
                tags = [
                    {"tag": tag, "rssi": -58.0 if WHERE[tag] == room else -86.0, "n": 5}
                    for tag in PEOPLE
                ]
                seq += 1
                body = {"id": f"w{seq}", "ts": now, "room": room, "window_s": 5, "tags": tags,
                        "anonymous": 2}  # fmt: skip
                self._publish(node, "ble", body)
            uid = list(PEOPLE.values())[self.taps % len(PEOPLE)]
            self.taps += 1
            self._publish("entree", "badge", {"id": f"t{self.taps}", "ts": now, "room": "accueil",
                          "reader": "porte", "credential": credential_for(KEY, uid)})  # fmt: skip
            time.sleep(0.05)

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        self.client.loop_stop()
        self.client.disconnect()


def start_hub(config: Path, port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "vivant", "hub", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    wait_for_port("127.0.0.1", port, timeout=30)
    return process


def test_sigkill_under_load_loses_nothing_and_duplicates_nothing(
    broker: PrivateBroker, tmp_path: Path
) -> None:
    config_path = write_config(tmp_path, broker)
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    db_url, port = config["database"]["url"], config["http"]["port"]
    seed(db_url)
    hub = start_hub(config_path, port)
    load = Load(broker)
    try:
        load.thread.start()
        time.sleep(4)
        hub.send_signal(signal.SIGKILL)
        hub.wait()
        time.sleep(1)  # the load keeps coming while no hub runs
        hub = start_hub(config_path, port)
        time.sleep(3)
    finally:
        load.close()
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    try:

        def all_applied() -> bool:
            with sessions() as session:
                return session.scalar(select(func.count(BadgeTap.id))) == load.taps

        wait_until(all_applied, within=30, what="every tap applied")
        hub.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal so the exit status tells it.
        assert hub.wait(timeout=20) in (0, -signal.SIGTERM)
        with sessions() as session:
            taps = session.scalars(select(BadgeTap.msg_id)).all()
            visits = session.scalars(select(PresenceSession)).all()
            dwells = session.scalars(select(RoomDwell).where(RoomDwell.left_at.is_(None))).all()
    finally:
        engine.dispose()
        if hub.poll() is None:
            hub.kill()
    assert len(taps) == len(set(taps)) == load.taps  # exactly once each
    assert load.taps > 50
    assert len(visits) == len(PEOPLE)  # one session each: none lost, none duplicated
    assert all(v.departed_at is None for v in visits)
    rooms = {d.member_id: d.room_id for d in dwells}
    assert sorted(rooms.values()) == sorted(WHERE.values())  # rooms as before the kill
