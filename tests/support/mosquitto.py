"""Real Mosquitto brokers for tests: the machine's one, or a private one the test controls.

A private broker runs on a free port with its own config and persistence directory, so a test can
stop it, restart it or change its configuration without disturbing anything else.
"""

from __future__ import annotations

import contextlib
import getpass
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

SYSTEM_HOST = "127.0.0.1"
SYSTEM_PORT = 1883


# Ports for the servers tests start, below the kernel's ephemeral range (32768–60999 on Linux):
# a port the kernel picks for bind(0) can be taken by an outgoing connection's local end before
# the server binds it ("address already in use"); outgoing connections never use these.
TEST_PORTS = range(20_000, 32_000)


def free_port() -> int:
    """A TCP port nobody uses right now, outside the range of outgoing connections."""
    for _ in range(200):
        port = secrets.choice(TEST_PORTS)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free TCP port for a test server")


def wait_for_port(host: str, port: int, timeout: float = 10.0) -> None:
    """Block until something accepts connections on *host*:*port*."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s") from None
            time.sleep(0.05)


def mosquitto_binary() -> str:
    """Path of the mosquitto executable, or a clear failure."""
    for candidate in (shutil.which("mosquitto"), "/usr/sbin/mosquitto"):
        if candidate and Path(candidate).exists():
            return candidate
    raise RuntimeError("mosquitto is not installed: run the README test command (it installs it)")


@dataclass
class PrivateBroker:
    """A mosquitto process on a free port, with persistence so sessions survive a restart.

    By default one plain listener on 127.0.0.1:*port*. *allow_anonymous* off, and
    *extra_config* with ``password_file``, ``acl_file`` or more listeners (whose ports go in
    *extra_ports*, waited for at start), make a production-like broker; *config* replaces the
    default listener, anonymous and queue lines altogether (a production file, for example).
    """

    workdir: Path
    port: int = field(default_factory=free_port)
    extra_config: str = ""
    allow_anonymous: bool = True
    extra_ports: tuple[int, ...] = ()
    config: str | None = None
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``mqtt://127.0.0.1:<port>``."""
        return f"mqtt://127.0.0.1:{self.port}"

    def _write_config(self) -> Path:
        self.workdir.mkdir(parents=True, exist_ok=True)
        conf = self.workdir / "mosquitto.conf"
        main = self.config or (
            f"listener {self.port} 127.0.0.1\n"
            f"allow_anonymous {'true' if self.allow_anonymous else 'false'}\n"
            "persistence true\n"
            f"persistence_location {self.workdir}/\n"
            "max_queued_messages 100000\n"
            "set_tcp_nodelay true\n"  # as deploy/mosquitto/mosquitto.conf
        )
        conf.write_text(
            # Run as the current user: mosquitto started as root otherwise switches to the
            # `mosquitto` user, which cannot write the test's private directory.
            f"user {getpass.getuser()}\n"
            f"{main}\n"
            f"log_dest file {self.workdir}/mosquitto.log\n"
            f"{self.extra_config}\n",
            encoding="utf-8",
        )
        return conf

    def start(self) -> None:
        """Start (or start again) the broker and wait until it accepts connections."""
        assert self.process is None, "broker already running"
        conf = self._write_config()
        self.process = subprocess.Popen(
            [mosquitto_binary(), "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for port in (self.port, *self.extra_ports):
            wait_for_port("127.0.0.1", port)

    def stop(self) -> None:
        """Stop cleanly (SIGTERM): mosquitto saves its persistence file on the way out."""
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def log(self) -> str:
        """What the broker wrote to its log file so far."""
        path = self.workdir / "mosquitto.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def restart(self) -> None:
        """Stop, then start on the same port with the same persistence."""
        self.stop()
        self.start()


@contextlib.contextmanager
def private_broker(workdir: Path, extra_config: str = "") -> Iterator[PrivateBroker]:
    """Context manager around :class:`PrivateBroker`."""
    broker = PrivateBroker(workdir=workdir, extra_config=extra_config)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@contextlib.contextmanager
def broker_or_private(url: str | None, workdir: Path) -> Iterator[str]:
    """*url*, or the URL of a private broker set up like the shipped one (benchmarks' default).

    Debian's default configuration leaves Nagle's algorithm on (``set_tcp_nodelay false``), which
    delays some packets by up to 40 ms; deploy/mosquitto/mosquitto.conf turns it off.
    """
    if url is not None:
        yield url
        return
    with private_broker(workdir) as broker:
        yield broker.url
