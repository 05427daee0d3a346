"""Fault tolerance end to end, proven with sequence numbers: missing = 0, applied twice = 0.

A real edge agent (a child process with the shipped fake badge reader and a mock GPIO door, see
``tests/edge/child_agent.py``) streams taps and door changes through a real Mosquitto to a real
hub, and something fails on the way: the broker restarts, the link between the edge and the
broker is cut for two minutes, the edge or the hub is killed with SIGKILL, the database is out of
reach for 30 s. Then the books are balanced against the edge's own outbox file:

* every message the edge committed has a sequence number, ``1 … last`` with no gap (the outbox
  never reuses one); each must be in the hub's ``seen_messages`` for the node: **missing = 0**;
* every badge message has exactly one row in the hub's badge log: **applied twice = 0**; the
  taps logged are, run by run, an unbroken range of observations with their original times.

Links are cut with :class:`tests.support.tcp_proxy.TcpProxy`. The time-series server being down
is covered by ``tests/hub/test_timeseries.py`` (spool, then delivery once).
"""

from __future__ import annotations

import logging
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
import yaml
from sqlalchemy import Engine, func, select

from hub.config import HubConfig
from hub.db.engine import make_engine, make_sessionmaker
from hub.db.migrate import upgrade
from hub.db.models import BadgeTap, SeenMessage
from hub.metrics import totals
from tests.edge.child_agent import UIDS, k_of
from tests.edge.conftest import KEY, NODE, SITE, edge_config_data
from tests.support.databases import temporary_database
from tests.support.hub_server import SITE_ZONE, RunningHub, running_hub
from tests.support.mosquitto import PrivateBroker, free_port, wait_for_port
from tests.support.tcp_proxy import CutMode, tcp_proxy
from tests.support.waiting import wait_until
from vivant.wire.credential import credential_for

pytestmark = pytest.mark.mosquitto

ROOT = Path(__file__).resolve().parents[1]
SECOND_RUN = 100_000  # observation numbers of a restarted edge start here


# -- the edge: a child process, and its outbox file as the ledger of what it sent -----------------


@dataclass(frozen=True)
class OutboxBooks:
    """What an edge's outbox file says once the agent has stopped."""

    last_seq: int  # every message it ever committed is numbered 1 … last_seq
    pending: int  # still waiting for the broker's acknowledgement
    instance: str  # the file's id, the second half of every message id


class Edge:
    """An edge agent in a child process, observing every *period_s* until stopped or killed."""

    def __init__(self, tmp_path: Path, mqtt_url: str, topic_root: str, period_s: float) -> None:
        self.outbox = tmp_path / "edge-outbox.sqlite3"
        self.log = tmp_path / "edge.log"
        self.period_s = period_s
        data = edge_config_data(mqtt_url, topic_root, self.outbox)
        data["gpio"] = {"doors": [{"id": "door", "room": "lobby", "pin": 17}]}
        data["shutdown_flush_s"] = 15.0
        self.config = tmp_path / "edge.yaml"
        self.config.write_text(yaml.safe_dump(data), encoding="utf-8")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, first: int = 0) -> None:
        """Start observing from observation number *first*."""
        assert self.process is None
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tests.edge.child_agent", str(self.config), str(first),
                 str(self.period_s)],
                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip

    def kill(self) -> None:
        """SIGKILL: no flush, no goodbye; whatever was in flight stays in flight."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        assert self.process.wait(10) == -signal.SIGKILL
        self.process = None

    def stop(self) -> OutboxBooks:
        """A clean stop (SIGTERM flushes the outbox), then read the books."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        assert self.process.wait(30) == 0, self.log.read_text(encoding="utf-8")[-2000:]
        self.process = None
        return self.books()

    def books(self) -> OutboxBooks:
        """Read the outbox file (only when no agent holds it)."""
        db = sqlite3.connect(self.outbox)
        try:
            last = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'message'").fetchone()
            pending = db.execute("SELECT COUNT(*) FROM message").fetchone()[0]
            instance = db.execute("SELECT value FROM meta WHERE key = 'instance'").fetchone()[0]
        finally:
            db.close()
        return OutboxBooks(int(last[0]) if last else 0, int(pending), str(instance))

    def close(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


@pytest.fixture
def edges() -> Iterator[list[Edge]]:
    """Edges made by a test, killed at the end whatever happened."""
    made: list[Edge] = []
    yield made
    for edge in made:
        edge.close()


# -- the hub's side of the books ----------------------------------------------------------------


def hub_settings(broker_url: str, topic_root: str, db_url: str) -> dict[str, Any]:
    """A hub serving the edge's site and node, as its YAML file would hold it."""
    return {
        "mqtt": {"url": broker_url, "topic_root": topic_root, "client_id": f"hub-{topic_root[:9]}"},
        "database": {"url": db_url},
        "http": {"port": free_port()},
        "live_tick_s": 0.5,
        "sites": [
            {
                "id": SITE,
                "name": "Le Rooftop de Viry",
                "timezone": SITE_ZONE,
                "rooms": [
                    {"id": "lobby", "name": "Accueil", "kind": "lobby"},
                    {"id": "kitchen", "name": "Cuisine", "kind": "community"},
                ],
                "nodes": [{"id": NODE, "rooms": ["lobby", "kitchen"]}],
            }
        ],
    }


@dataclass(frozen=True)
class HubBooks:
    """What the hub's database holds for the edge's node."""

    seen: list[str]  # message ids recorded as applied
    taps: list[tuple[str, str, datetime, datetime]]  # badge log: msg id, credential, observed,
    # received; in insertion order


def hub_books(engine: Engine) -> HubBooks:
    with make_sessionmaker(engine)() as session:
        seen = session.scalars(
            select(SeenMessage.msg_id).where(
                SeenMessage.site_id == SITE, SeenMessage.node_id == NODE
            )
        ).all()
        rows = session.execute(
            select(BadgeTap.msg_id, BadgeTap.credential, BadgeTap.observed_at, BadgeTap.received_at)
            .where(BadgeTap.site_id == SITE, BadgeTap.node_id == NODE)
            .order_by(BadgeTap.id)
        ).all()
    return HubBooks(list(seen), [(r[0], r[1], r[2], r[3]) for r in rows])


def taps_applied(engine: Engine) -> int:
    with make_sessionmaker(engine)() as session:
        return int(session.scalar(select(func.count(BadgeTap.id))) or 0)


def seq_of(message_id: str) -> tuple[int, str]:
    seq, instance = message_id.split(".")
    return int(seq, 16), instance


def balance(engine: Engine, edge: OutboxBooks, *, runs: int = 1) -> HubBooks:
    """Wait until the hub has everything the edge sent, then check missing = 0, twice = 0."""
    assert edge.pending == 0, "the edge flushed its outbox before stopping"
    assert edge.last_seq > 0

    def complete() -> bool:
        with make_sessionmaker(engine)() as session:
            count = session.scalar(
                select(func.count()).where(SeenMessage.site_id == SITE, SeenMessage.node_id == NODE)
            )
        return (count or 0) >= edge.last_seq

    wait_until(complete, within=90, what=f"the hub has all {edge.last_seq} messages")
    time.sleep(1.0)  # anything applied twice would show up now
    books = hub_books(engine)
    seqs = [seq_of(m) for m in books.seen]
    assert {instance for _, instance in seqs} == {edge.instance}
    numbers = Counter(seq for seq, _ in seqs)
    missing = set(range(1, edge.last_seq + 1)) - set(numbers)
    extra = set(numbers) - set(range(1, edge.last_seq + 1))
    assert (len(missing), len(extra)) == (0, 0), f"missing {sorted(missing)[:10]}"
    tap_ids = Counter(msg_id for msg_id, *_ in books.taps)
    twice = {msg_id: n for msg_id, n in tap_ids.items() if n > 1}
    assert twice == {}, "applied twice"
    assert set(tap_ids) <= set(books.seen)
    # Each run's taps: an unbroken range of observations, each with its own credential and time.
    ks = sorted(k_of(int(observed.timestamp() * 1000)) for _, _, observed, _ in books.taps)
    run_ks = [[k for k in ks if k // SECOND_RUN == run] for run in range(runs)]
    for numbers_of_run in run_ks:
        assert numbers_of_run, "every run reached the hub"
        first = numbers_of_run[0]
        assert numbers_of_run == list(range(first, first + len(numbers_of_run)))
    for _, credential, observed, _ in books.taps:
        assert credential == credential_for(KEY, UIDS[k_of(int(observed.timestamp() * 1000)) % 3])
    return books


def door_and_taps(books: HubBooks, edge: OutboxBooks) -> tuple[int, int]:
    """How many of the edge's messages were badge taps, and how many something else (doors)."""
    return len(books.taps), edge.last_seq - len(books.taps)


# -- the faults -----------------------------------------------------------------------------------


def test_broker_restarted_under_load(
    broker: PrivateBroker, topic_root: str, tmp_path: Path, edges: list[Edge]
) -> None:
    config = HubConfig.model_validate(
        hub_settings(broker.url, topic_root, f"sqlite:///{tmp_path / 'hub.db'}")
    )
    edge = Edge(tmp_path, broker.url, topic_root, period_s=0.01)
    edges.append(edge)
    with running_hub(config) as hub:
        engine = hub.runtime.engine
        edge.start()
        wait_until(lambda: taps_applied(engine) > 100, within=20, what="load flowing")
        for _ in range(2):  # twice, the second time while the first backlog still drains
            broker.restart()
            time.sleep(1.5)
        wait_until(lambda: taps_applied(engine) > 400, within=30, what="load flowing again")
        outbox = edge.stop()
        books = balance(engine, outbox)
    taps, others = door_and_taps(books, outbox)
    assert taps > 400
    assert others > 400, "door changes were accounted too"


@pytest.mark.postgres
@pytest.mark.timeout(300)
def test_edge_cut_from_the_broker_for_two_minutes_replays_in_order(
    broker: PrivateBroker, topic_root: str, tmp_path: Path, edges: list[Edge]
) -> None:
    with (
        temporary_database("postgresql", tmp_path) as db_url,
        tcp_proxy("127.0.0.1", broker.port) as proxy,
    ):
        config = HubConfig.model_validate(hub_settings(broker.url, topic_root, db_url))
        edge = Edge(tmp_path, proxy.url("mqtt"), topic_root, period_s=0.05)
        edges.append(edge)
        with running_hub(config) as hub:
            engine = hub.runtime.engine
            edge.start()
            wait_until(lambda: taps_applied(engine) > 40, within=20, what="load flowing")
            # Blackhole: existing connection reset, new ones hang without an answer (a dead
            # router); then refused (the broker's host gone), one minute each.
            proxy.cut(CutMode.BLACKHOLE)
            time.sleep(1.0)  # what was already in the hub's hands is applied
            before = taps_applied(engine)
            cut_at = time.monotonic()
            time.sleep(60)
            proxy.cut(CutMode.REFUSE)
            time.sleep(60)
            assert taps_applied(engine) == before, "nothing reached the hub during the cut"
            restored_at = datetime.now(UTC)
            proxy.restore()
            outage_s = time.monotonic() - cut_at
            wait_until(
                lambda: taps_applied(engine) > before + 20 * outage_s,
                within=60,
                what="the outage's backlog replayed",
            )
            outbox = edge.stop()
            books = balance(engine, outbox)
    assert outage_s >= 120
    # Replayed in order: by observation, the hub received each tap no earlier than the one
    # before it, and the backlog arrived after the link came back.
    by_k = sorted(books.taps, key=lambda t: t[2])
    received = [r for *_, r in by_k]
    assert received == sorted(received), "the outbox replayed in order"
    assert [t[0] for t in by_k] == [t[0] for t in books.taps], "applied in order"
    backlog = [r for *_, r in by_k[before:]]
    assert len(backlog) >= 20 * 120, "two minutes of taps were replayed"
    assert backlog[0] >= restored_at - timedelta(seconds=1), "the backlog came after the cut"


def test_edge_killed_mid_stream_then_restarted(
    broker: PrivateBroker, topic_root: str, tmp_path: Path, edges: list[Edge]
) -> None:
    config = HubConfig.model_validate(
        hub_settings(broker.url, topic_root, f"sqlite:///{tmp_path / 'hub.db'}")
    )
    edge = Edge(tmp_path, broker.url, topic_root, period_s=0.005)
    edges.append(edge)
    with running_hub(config) as hub:
        engine = hub.runtime.engine
        edge.start()
        wait_until(lambda: taps_applied(engine) > 300, within=20, what="load flowing")
        edge.kill()  # mid-stream: messages in flight, unacknowledged, maybe a commit
        edge.start(SECOND_RUN)
        wait_until(
            lambda: any(
                k_of(int(o.timestamp() * 1000)) >= SECOND_RUN + 300
                for *_, o, _ in hub_books(engine).taps[-5:]
            ),
            within=30,
            what="the restarted edge's taps",
        )
        outbox = edge.stop()
        books = balance(engine, outbox, runs=2)
    assert len(books.taps) > 600


def hub_process(config_path: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "vivant", "hub", "--config", str(config_path)],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    wait_for_port("127.0.0.1", port, timeout=30)
    return process


@pytest.mark.postgres
def test_hub_killed_under_load_then_restarted(
    broker: PrivateBroker, topic_root: str, tmp_path: Path, edges: list[Edge]
) -> None:
    with temporary_database("postgresql", tmp_path) as db_url:
        settings = hub_settings(broker.url, topic_root, db_url)
        config_path = tmp_path / "hub.yaml"
        config_path.write_text(yaml.safe_dump(settings, allow_unicode=True), encoding="utf-8")
        port = settings["http"]["port"]
        engine = make_engine(db_url)
        upgrade(engine)
        edge = Edge(tmp_path, broker.url, topic_root, period_s=0.01)
        edges.append(edge)
        hub = hub_process(config_path, port, tmp_path / "hub.log")
        try:
            edge.start()
            wait_until(lambda: taps_applied(engine) > 200, within=30, what="load flowing")
            hub.send_signal(signal.SIGKILL)
            assert hub.wait(10) == -signal.SIGKILL
            time.sleep(2)  # the load keeps coming while no hub runs: the broker keeps it
            hub = hub_process(config_path, port, tmp_path / "hub.log")
            time.sleep(2)
            outbox = edge.stop()
            books = balance(engine, outbox)
            hub.send_signal(signal.SIGTERM)
            assert hub.wait(30) in (0, -signal.SIGTERM)
        finally:
            if hub.poll() is None:
                hub.kill()
            engine.dispose()
    assert len(books.taps) > 400


def with_port(url: str, port: int) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit(":", 1)[0] if parts.port else parts.netloc
    return urlunsplit(parts._replace(netloc=f"{netloc}:{port}"))


RETRY = re.compile(r"database unavailable \(.*\); retrying in ([0-9.]+) s", re.DOTALL)


@pytest.mark.postgres
def test_database_unreachable_for_30_seconds(
    broker: PrivateBroker,
    topic_root: str,
    tmp_path: Path,
    edges: list[Edge],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="hub.ingest")
    with temporary_database("postgresql", tmp_path) as db_url:
        real = urlsplit(db_url)
        with tcp_proxy(real.hostname or "127.0.0.1", real.port or 5432) as proxy:
            settings = hub_settings(broker.url, topic_root, with_port(db_url, proxy.port))
            settings["calendar_sync_minutes"] = 0.02  # calendar syncs run into the outage too
            config = HubConfig.model_validate(settings)
            engine = make_engine(db_url)  # the test reads the database directly
            edge = Edge(tmp_path, broker.url, topic_root, period_s=0.02)
            edges.append(edge)
            try:
                with running_hub(config) as hub:
                    edge.start()
                    wait_until(lambda: taps_applied(engine) > 50, within=20, what="load flowing")
                    proxy.cut()
                    outage = watch_the_hub_during(hub, engine, seconds=30)
                    proxy.restore()
                    time.sleep(2)
                    outbox = edge.stop()
                    books = balance(engine, outbox)
                    assert hub.thread.is_alive()
                    stopped = [t.get_name() for t in hub.runtime._tasks if t.done()]
                    assert stopped == [], "every background task of the hub outlived the outage"
                    ingestor = hub.runtime.ingestor
                    assert ingestor is not None
                    wait_until(lambda: hub.runtime._inbox.qsize() == 0, what="queue drained")
                    time.sleep(1.0)  # the last batch committed
                    received = totals(hub.runtime.metrics)["vivant_messages_received_total"]
                    assert received == ingestor.applied, "each message counted once, retries or not"
            finally:
                engine.dispose()
    assert outage.health == ["ok"] * len(outage.health)
    assert len(outage.health) >= 25, "/healthz answered all along"
    assert outage.applied == 0, "nothing committed while the database was away"
    assert max(outage.queued) > 0, "the hub kept taking messages into its queue"
    delays = [float(m.group(1)) for r in caplog.records if (m := RETRY.search(r.getMessage()))]
    assert 3 <= len(delays) <= 12, "retried, with backoff, not in a busy loop"
    assert delays[:4] == sorted(delays[:4])
    assert delays[1] > delays[0]
    assert len(books.taps) > 500


@dataclass
class Outage:
    health: list[str]
    queued: list[int]
    applied: int


def watch_the_hub_during(hub: RunningHub, engine: Engine, seconds: float) -> Outage:
    """Poll ``/healthz`` and the ingest queue every second while the database is away."""
    time.sleep(0.5)
    before = taps_applied(engine)
    outage = Outage([], [], 0)
    deadline = time.monotonic() + seconds
    with httpx.Client(base_url=hub.base_url, timeout=5) as client:
        while time.monotonic() < deadline:
            response = client.get("/healthz")
            outage.health.append(
                response.json()["status"] if response.status_code == 200 else str(response)
            )
            outage.queued.append(hub.runtime._inbox.qsize())
            time.sleep(1.0)
    outage.applied = taps_applied(engine) - before
    return outage
