"""The ingest queue: order, the bound in messages, back-pressure and stopping."""

from __future__ import annotations

import threading
import time

import pytest

from hub.inbox import Inbound, Inbox


def message(index: int) -> Inbound:
    return Inbound(f"t/{index}", b"{}", 1, index, False, time.time(), time.monotonic())


def test_batches_come_out_in_order_up_to_the_limit() -> None:
    inbox = Inbox(100)
    assert inbox.put_many([message(i) for i in range(5)]) == 5
    inbox.put(message(5))
    assert inbox.qsize() == 6
    assert [m.mid for m in inbox.take(4)] == [0, 1, 2, 3]
    assert [m.mid for m in inbox.take(10)] == [4, 5]
    assert inbox.take(10) == []


def test_take_waits_for_a_first_message_and_no_longer_than_asked() -> None:
    inbox = Inbox(10)
    began = time.monotonic()
    assert inbox.take(10, wait=0.05) == []
    assert time.monotonic() - began >= 0.05
    threading.Timer(0.05, inbox.put, args=(message(7),)).start()
    assert [m.mid for m in inbox.take(10, wait=5)] == [7]


def test_a_full_inbox_holds_the_writer_back_and_loses_nothing() -> None:
    inbox = Inbox(3)
    done = threading.Event()

    def write() -> None:
        inbox.put_many([message(i) for i in range(8)])
        done.set()

    writer = threading.Thread(target=write)
    writer.start()
    taken: list[int] = []
    while len(taken) < 8:
        assert inbox.qsize() <= 3
        taken += [m.mid for m in inbox.take(2, wait=1)]
    writer.join(5)
    assert done.is_set()
    assert taken == list(range(8))


def test_a_stopping_writer_gives_up_waiting_and_says_how_many_got_in() -> None:
    inbox = Inbox(2)
    stopping = threading.Event()
    stopping.set()
    assert inbox.put_many([message(i) for i in range(5)], stopping) == 2
    assert [m.mid for m in inbox.take(5)] == [0, 1]


def test_an_inbox_holds_at_least_one_message() -> None:
    with pytest.raises(ValueError, match="at least one"):
        Inbox(0)
