"""Fan-out to screens: never blocks on a slow screen, accepts events from any thread, and ends
every stream when the hub stops."""

from __future__ import annotations

import asyncio
import threading

from hub.broadcast import CLOSE, Broadcaster, ScreenEvent


async def test_a_screen_that_does_not_read_loses_its_oldest_events_only() -> None:
    broadcaster = Broadcaster(client_queue_size=2)
    async with broadcaster.subscribe("s") as slow, broadcaster.subscribe("s") as fast:
        for index in range(3):
            broadcaster.publish("s", ScreenEvent("greeting", index))
            if index < 2:
                assert (await fast.get()).data == index
        assert [slow.get_nowait().data for _ in range(2)] == [1, 2]
        assert broadcaster.dropped == 1
        assert broadcaster.clients("s") == 2
    assert broadcaster.clients() == 0


async def test_events_from_another_thread_reach_the_loop() -> None:
    broadcaster = Broadcaster()
    async with broadcaster.subscribe("s") as queue:
        thread = threading.Thread(
            target=broadcaster.publish, args=("s", ScreenEvent("announcement", "x"))
        )
        thread.start()
        event = await asyncio.wait_for(queue.get(), 2)
        thread.join()
    assert (event.name, event.data) == ("announcement", "x")


async def test_close_ends_open_and_later_streams() -> None:
    broadcaster = Broadcaster()
    assert not broadcaster.closed
    async with broadcaster.subscribe("s") as queue:
        await asyncio.to_thread(broadcaster.close)
        assert broadcaster.closed  # what the staff dashboards' streams look at
        assert await asyncio.wait_for(queue.get(), 2) is CLOSE
    async with broadcaster.subscribe("s") as late:
        assert late.get_nowait() is CLOSE
