"""sd_notify to a real datagram socket, as systemd listens for it; and the agent's use of it."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.agent import EdgeAgent
from edge.link import MqttLink
from edge.watchdog import SystemdNotifier
from tests.edge.conftest import ConfigFactory, running
from tests.support.waiting import eventually


class FakeSystemd:
    """The receiving end of ``$NOTIFY_SOCKET``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.setblocking(False)
        self.received: list[str] = []

    def drain(self) -> list[str]:
        while True:
            try:
                self.received.append(self.sock.recv(4096).decode())
            except BlockingIOError:
                return self.received


@pytest.fixture
def systemd(tmp_path: Path) -> Iterator[FakeSystemd]:
    fake = FakeSystemd(tmp_path / "notify")
    yield fake
    fake.sock.close()


def test_outside_systemd_everything_is_a_no_op() -> None:
    notifier = SystemdNotifier({})
    assert not notifier.enabled
    assert notifier.watchdog_s is None
    assert not notifier.ready()
    assert not notifier.ping()


def test_messages_reach_the_socket(systemd: FakeSystemd) -> None:
    notifier = SystemdNotifier({"NOTIFY_SOCKET": str(systemd.path), "WATCHDOG_USEC": "20000000"})
    assert notifier.watchdog_s == 20.0
    assert notifier.ready()
    assert notifier.ping()
    assert notifier.status("connected;\n outbox 0")
    assert notifier.stopping()
    notifier.close()
    assert systemd.drain() == [
        "READY=1",
        "WATCHDOG=1",
        "STATUS=connected; outbox 0",
        "STOPPING=1",
    ]


def test_a_watchdog_meant_for_another_process_is_ignored() -> None:
    env = {"NOTIFY_SOCKET": "@vivant", "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"}
    assert os.getpid() != 1
    assert SystemdNotifier(env).watchdog_s is None


def test_a_vanished_socket_is_logged_not_fatal(tmp_path: Path) -> None:
    notifier = SystemdNotifier({"NOTIFY_SOCKET": str(tmp_path / "gone")})
    assert not notifier.ready()
    notifier.close()


@pytest.mark.mosquitto
async def test_the_agent_pings_while_healthy_and_says_when_it_stops(
    systemd: FakeSystemd, make_config: ConfigFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    notifier = SystemdNotifier({"NOTIFY_SOCKET": str(systemd.path), "WATCHDOG_USEC": "150000"})
    agent = EdgeAgent(make_config(), notifier=notifier)
    async with running(agent):
        await eventually(lambda: systemd.drain().count("WATCHDOG=1") >= 3)
        assert systemd.received[0] == "READY=1"
        assert any(m.startswith("STATUS=connected; outbox 0") for m in systemd.received)
        monkeypatch.setattr(MqttLink, "alive", property(lambda _: False))  # thread died
        count = systemd.drain().count("WATCHDOG=1")
        await asyncio.sleep(0.3)
        assert systemd.drain().count("WATCHDOG=1") == count, "no ping for a dead MQTT thread"
    assert "STOPPING=1" in systemd.drain()
