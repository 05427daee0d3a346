"""``vivant edge`` entry points: config checking, exit codes, signals and the Last Will."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from edge.main import EXIT_CONFIG, EXIT_FAILED, EXIT_OK, check_config, run
from edge.outbox import Outbox
from tests.edge.conftest import NODE, SITE, edge_config_data, subscribed
from tests.support.mosquitto import PrivateBroker
from vivant.wire.topics import EdgeKind, Topics

ROOT = Path(__file__).resolve().parents[2]
AGENT = (
    "import sys; from pathlib import Path; from edge.main import run; "
    "sys.exit(run(Path(sys.argv[1]), simulate=True))"
)


@pytest.fixture
def config_file(tmp_path: Path, broker: PrivateBroker, topic_root: str) -> Path:
    data = edge_config_data(broker.url, topic_root, tmp_path / "outbox.sqlite3")
    for reader in data["badge_readers"]:
        reader.update(mean_interval_s=0.05, seed=1)
    path = tmp_path / "edge.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_check_config_says_ok(config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert check_config(config_file) == EXIT_OK
    assert capsys.readouterr().out == "ok\n"


def test_check_config_prints_errors_with_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "edge.yaml"
    path.write_text("site: viry\nnode: Entrance\nrooms: [lobby]\ncolour: blue\n")
    assert check_config(path) == EXIT_CONFIG
    err = capsys.readouterr().err.splitlines()
    assert f"{path}:2: node: Value error, node id 'Entrance' must match [a-z0-9_-]{{1,64}}" in err
    assert f"{path}:4: colour: Extra inputs are not permitted" in err
    assert any(line.startswith(f"{path}:1: credential_key: Field required") for line in err)


def test_run_refuses_a_bad_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(tmp_path / "missing.yaml") == EXIT_CONFIG
    assert "cannot read" in capsys.readouterr().err


def test_run_fails_when_the_outbox_is_taken(
    config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with Outbox(tmp_path / "outbox.sqlite3"):
        assert run(config_file) == EXIT_FAILED
    assert "in use by another agent" in capsys.readouterr().err


@pytest.fixture
def agent_process(config_file: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``vivant edge --simulate`` in a child process."""
    child = subprocess.Popen(
        [sys.executable, "-c", AGENT, str(config_file)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield child
    finally:
        child.kill()
        child.wait()


@pytest.mark.mosquitto
def test_last_will_says_offline_when_the_agent_dies(
    broker: PrivateBroker, topic_root: str, agent_process: subprocess.Popen[bytes]
) -> None:
    status = Topics(topic_root).node(SITE, NODE, EdgeKind.STATUS)
    with subscribed(broker.url, status) as sub:
        sub.wait_for("/status", lambda m: [x.payload for x in m] == [b"online"], within_s=10)
        agent_process.send_signal(signal.SIGKILL)  # no clean DISCONNECT: the broker sends the Will
        got = sub.wait_for("/status", lambda m: len(m) == 2)
    assert got[1].payload == b"offline"
    assert agent_process.wait(5) == -signal.SIGKILL


@pytest.mark.mosquitto
def test_sigterm_stops_cleanly_after_simulated_taps(
    broker: PrivateBroker, topic_root: str, agent_process: subprocess.Popen[bytes]
) -> None:
    with subscribed(broker.url, f"{topic_root}/#") as sub:
        sub.wait_for("/badge", lambda m: len(m) >= 5, within_s=10)
        agent_process.send_signal(signal.SIGTERM)
        assert agent_process.wait(10) == EXIT_OK
        got = sub.wait_for("/status", lambda m: len(m) == 2)
    assert [m.payload for m in got] == [b"online", b"offline"]


@pytest.mark.mosquitto
def test_simulate_replaces_every_kind_of_hardware(
    tmp_path: Path, broker: PrivateBroker, topic_root: str
) -> None:
    data = edge_config_data(broker.url, topic_root, tmp_path / "outbox.sqlite3")
    data["badge_readers"] = [
        {
            "id": "entrance",
            "room": "lobby",
            "kind": "evdev",
            "evdev": {"device": "/dev/input/by-id/usb-reader-event-kbd"},
            "feedback": {"green_led": 5, "red_led": 6},
            "mean_interval_s": 0.1,
        }
    ]
    data["ble"] = {"room": "kitchen", "window_s": 0.3, "enrolled_tags": ["mac:c2a1b2c3d4e5"]}
    data["gpio"] = {"doors": [{"id": "door", "room": "lobby", "pin": 17}]}
    data["environment"] = {"sensors": [{"id": "air", "room": "kitchen", "kind": "scd4x"}]}
    config = tmp_path / "edge.yaml"
    config.write_text(yaml.safe_dump(data), encoding="utf-8")
    child = subprocess.Popen(
        [sys.executable, "-c", AGENT, str(config)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with subscribed(broker.url, f"{topic_root}/#") as sub:
            sub.wait_for("/badge", lambda m: len(m) >= 2, within_s=10)
            sub.wait_for("/ble", lambda m: any(b"mac:c2a1b2c3d4e5" in x.payload for x in m), 10)
            got = sub.wait_for("/sensor", lambda m: len(m) >= 4, within_s=10)
            child.send_signal(signal.SIGTERM)
            assert child.wait(10) == EXIT_OK
    finally:
        child.kill()
        child.wait()
    kinds = {json.loads(m.payload)["kind"] for m in got}
    assert {"door", "co2", "temperature", "humidity"} <= kinds
