"""The durable outbox: order, acknowledgement, bounds, unique ids, and surviving SIGKILL."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from edge.outbox import Outbox, OutboxError

ROOT = Path(__file__).resolve().parents[2]
HOUR_MS = 3_600_000
T0_MS = 1_741_944_600_000  # 2025-03-14T09:30:00Z


class FakeClock:
    """Epoch milliseconds that only move when the test says so."""

    def __init__(self) -> None:
        self.now = T0_MS

    def __call__(self) -> int:
        return self.now


def body(message_id: str) -> bytes:
    return f'{{"id":"{message_id}"}}'.encode()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "outbox.sqlite3"


def test_messages_come_out_in_order_with_their_ids(path: Path) -> None:
    with Outbox(path) as box:
        entries = [box.put(f"t/{n}", body, retain=n == 2) for n in range(5)]
        assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
        assert [e.message_id for e in entries] == [f"{n}.{box.instance}" for n in range(1, 6)]
        pending = box.pending()
        assert pending == entries
        assert pending[1].payload == f'{{"id":"2.{box.instance}"}}'.encode()
        assert [e.retain for e in pending] == [False, False, True, False, False]
        assert [e.seq for e in box.pending(after_seq=2, limit=2)] == [3, 4]
        assert box.depth() == 5


def test_ack_deletes(path: Path) -> None:
    with Outbox(path) as box:
        for _ in range(5):
            box.put("t", body)
        assert box.ack(2)
        assert not box.ack(2), "already gone"
        assert box.ack_many([1, 4, 99]) == 2
        assert box.ack_many([]) == 0
        assert [e.seq for e in box.pending()] == [3, 5]
        assert box.depth() == 2
    with Outbox(path) as box:
        assert [e.seq for e in box.pending()] == [3, 5]
        assert box.depth() == 2


def test_full_outbox_drops_the_oldest_and_counts(
    path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="edge.outbox")
    with Outbox(path, max_messages=3) as box:
        for _ in range(6):
            box.put("t", body)
        assert [e.seq for e in box.pending()] == [4, 5, 6]
        assert box.depth() == 3
        assert box.dropped == 3
        assert box.dropped_since_open == 3
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, "rate-limited: one warning per minute"
    assert "dropped 1 oldest" in warnings[0].getMessage()
    with Outbox(path, max_messages=3) as box:
        assert box.dropped == 3, "persisted"
        assert box.dropped_since_open == 0
        box.put("t", body)
        assert [e.seq for e in box.pending()] == [5, 6, 7]
        assert box.dropped == 4


def test_old_messages_expire(path: Path) -> None:
    clock = FakeClock()
    with Outbox(path, max_age_h=2, now_ms=clock) as box:
        box.put("t", body)
        clock.now += HOUR_MS
        box.put("t", body)
        clock.now += HOUR_MS + 1
        box.put("t", body)  # the first one is now older than 2 h
        assert [e.seq for e in box.pending()] == [2, 3]
        assert box.dropped == 1
        clock.now += 2 * HOUR_MS
        assert box.expire() == 1
        assert [e.seq for e in box.pending()] == [3]
        assert box.depth() == 1
        assert box.dropped == 2


def test_ids_never_repeat_after_reopening(path: Path) -> None:
    with Outbox(path) as box:
        first = [box.put("t", body) for _ in range(3)]
        box.ack_many(e.seq for e in first)  # even the newest row is gone
        assert box.depth() == 0
    with Outbox(path) as box:
        again = box.put("t", body)
    assert again.seq == 4
    assert again.message_id not in {e.message_id for e in first}


def test_ids_never_repeat_in_a_recreated_file(path: Path) -> None:
    with Outbox(path) as box:
        before = {box.put("t", body).message_id for _ in range(3)}
        instance = box.instance
    for leftover in path.parent.glob(path.name + "*"):
        leftover.unlink()
    with Outbox(path) as box:
        after = {box.put("t", body).message_id for _ in range(3)}
        assert box.instance != instance
    assert before.isdisjoint(after)


def test_one_agent_per_file(path: Path) -> None:
    with Outbox(path), pytest.raises(OutboxError, match="in use by another agent"):
        Outbox(path)


def test_refuses_a_file_that_is_not_an_outbox(path: Path) -> None:
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(OutboxError, match="not a usable outbox"):
        Outbox(path)


def test_failed_build_stores_nothing(path: Path) -> None:
    def broken(message_id: str) -> bytes:
        raise ValueError("clock not set")

    with Outbox(path) as box:
        with pytest.raises(ValueError, match="clock not set"):
            box.put("t", broken)
        assert box.depth() == 0
        assert box.put("t", body).seq == 1


def test_closed_outbox_refuses_use(path: Path) -> None:
    box = Outbox(path)
    box.close()
    box.close()
    assert box.closed
    with pytest.raises(OutboxError, match="closed"):
        box.put("t", body)


def test_concurrent_puts_and_acks(path: Path) -> None:
    with Outbox(path) as box:

        def producer() -> None:
            for _ in range(100):
                box.put("t", body)

        threads = [threading.Thread(target=producer) for _ in range(4)]
        for thread in threads:
            thread.start()
        acked = 0
        while any(t.is_alive() for t in threads) or box.depth():
            acked += box.ack_many(e.seq for e in box.pending(limit=50))
        for thread in threads:
            thread.join()
        assert acked == 400
        assert box.depth() == 0


WRITER = """
import sys
from pathlib import Path
from edge.outbox import Outbox

box = Outbox(Path(sys.argv[1]))
n = 0
while True:
    n += 1
    entry = box.put("t/kill", lambda mid, n=n: f"{mid} payload {n}".encode())
    sys.stdout.write(f"{entry.seq} {entry.message_id}\\n")
    sys.stdout.flush()
"""


def test_committed_messages_survive_sigkill(path: Path) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    confirmed: list[tuple[int, str]] = []

    def confirm(line: str) -> None:
        number, message_id = line.split()
        confirmed.append((int(number), message_id))

    try:
        for line in child.stdout:
            confirm(line)
            if len(confirmed) == 300:
                child.send_signal(signal.SIGKILL)  # mid-stream: it keeps putting until it dies
                break
        for line in child.stdout:  # what it printed before dying
            confirm(line)
    finally:
        child.kill()
        child.wait()
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    with Outbox(path) as box:
        stored = {e.seq: e for e in box.pending(limit=1_000_000)}
    for seq, message_id in confirmed:
        assert seq in stored, f"committed message {seq} lost"
        assert stored[seq].message_id == message_id
        assert stored[seq].payload == f"{message_id} payload {seq}".encode()
    assert sorted(stored) == list(range(1, len(stored) + 1)), "no gap"
