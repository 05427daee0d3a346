"""Badge sources: reads, debouncing, the shipped fake and the seeded simulation."""

from __future__ import annotations

import asyncio
import statistics
import sys
import threading
import types
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from edge.config import BadgeReaderSettings
from edge.sources import badge
from edge.sources.badge import (
    DEMO_UIDS,
    BadgeRead,
    BadgeReader,
    Debouncer,
    FakeBadgeReader,
    SimulatedBadgeReader,
    open_badge_reader,
)
from vivant.wire.payloads import Feedback

T0 = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def read(uid: str, seconds: float, reader: str = "entrance") -> BadgeRead:
    return BadgeRead(uid=uid, reader=reader, at=at(seconds))


async def take(reader: BadgeReader, count: int, within_s: float = 2.0) -> list[BadgeRead]:
    got: list[BadgeRead] = []
    async with asyncio.timeout(within_s):
        stream = reader.reads()
        async for item in stream:
            got.append(item)
            if len(got) == count:
                break
        await stream.aclose()  # type: ignore[attr-defined]
    return got


# -- BadgeRead -------------------------------------------------------------------------------


def test_read_normalises_uid_and_time() -> None:
    paris = datetime(2025, 3, 14, 10, 30, tzinfo=UTC).astimezone(ZoneInfo("Europe/Paris"))
    item = BadgeRead(uid="04:a1:b2:c3", reader="entrance", at=paris)
    assert item.uid == "04A1B2C3"
    assert item.at.tzinfo is UTC
    assert item.at == paris


def test_read_never_shows_the_uid() -> None:
    item = read("04A1B2C3", 0)
    assert "04A1B2C3" not in repr(item)
    assert "04A1B2C3" not in str(item)


def test_read_refuses_naive_time_and_bad_uid() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        BadgeRead(uid="04A1", reader="entrance", at=datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="hex"):
        BadgeRead(uid="not hex", reader="entrance", at=T0)


# -- Debouncer -------------------------------------------------------------------------------


def test_debounce_drops_the_same_card_on_the_same_reader() -> None:
    debouncer = Debouncer(2.0)
    assert debouncer.accept(read("04A1", 0))
    assert not debouncer.accept(read("04A1", 1.9))
    assert debouncer.accept(read("04B2", 1.9)), "another card"
    assert debouncer.accept(read("04A1", 1.95, reader="coffee")), "another reader"


def test_debounce_window_slides_while_the_card_rests_on_the_reader() -> None:
    debouncer = Debouncer(2.0)
    results = [debouncer.accept(read("04A1", s)) for s in (0, 1, 2, 3, 4)]
    assert results == [True, False, False, False, False]
    assert debouncer.accept(read("04A1", 6.0))


def test_debounce_accepts_after_the_clock_steps_back() -> None:
    debouncer = Debouncer(2.0)
    assert debouncer.accept(read("04A1", 100))
    assert debouncer.accept(read("04A1", 50))


def test_zero_window_accepts_everything() -> None:
    debouncer = Debouncer(0)
    assert all(debouncer.accept(read("04A1", 0)) for _ in range(3))


def test_debounce_memory_is_pruned() -> None:
    debouncer = Debouncer(1.0)
    for index in range(3000):
        assert debouncer.accept(read(f"{index:08X}", index * 0.01))
    assert len(debouncer._last) <= 1100


# -- FakeBadgeReader -------------------------------------------------------------------------


async def test_fake_delivers_taps_in_order_including_those_before_reading() -> None:
    reader = FakeBadgeReader("entrance", clock=lambda: T0)
    first = reader.tap("04a1b2c3")
    task = asyncio.create_task(take(reader, 2))
    await asyncio.sleep(0.01)
    second = reader.tap(b"\x04\xb2", at=at(5))
    got = await task
    assert got == [first, second]
    assert [g.uid for g in got] == ["04A1B2C3", "04B2"]
    assert [g.at for g in got] == [T0, at(5)]
    assert all(g.reader == "entrance" for g in got)
    await reader.close()


async def test_fake_accepts_taps_from_other_threads() -> None:
    reader = FakeBadgeReader("entrance")

    def tap_many() -> None:
        for index in range(50):
            reader.tap(f"{index:04X}")

    thread = threading.Thread(target=tap_many)
    thread.start()
    got = await take(reader, 50)
    thread.join()
    assert [g.uid for g in got] == [f"{index:04X}" for index in range(50)]
    await reader.close()


async def test_fake_fails_loudly() -> None:
    reader = FakeBadgeReader("entrance")
    with pytest.raises(AttributeError, match="does not implement 'blink'"):
        reader.blink()  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="hex"):
        reader.tap("zz")
    stream = reader.reads()

    async def first() -> BadgeRead:
        return await anext(stream)

    task = asyncio.create_task(first())
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="already running"):
        await anext(reader.reads())
    await reader.close()
    with pytest.raises(StopAsyncIteration):
        await task
    with pytest.raises(RuntimeError, match="closed"):
        reader.tap("04A1")


def test_fake_records_feedback() -> None:
    reader = FakeBadgeReader("entrance")
    reader.feedback(Feedback.ACCEPTED)
    reader.feedback(Feedback.UNKNOWN)
    assert reader.feedback_log == [Feedback.ACCEPTED, Feedback.UNKNOWN]


def test_reader_ids_are_topic_segments() -> None:
    with pytest.raises(ValueError, match="reader id"):
        FakeBadgeReader("Front Door")


# -- SimulatedBadgeReader --------------------------------------------------------------------


def draws(seed: int | None, count: int = 50) -> list[tuple[float, str]]:
    reader = SimulatedBadgeReader("entrance", ["04A1", "04B2", "04C3"], 10.0, seed=seed)
    return [reader.next_tap() for _ in range(count)]


def test_simulation_is_reproducible_with_a_seed() -> None:
    assert draws(42) == draws(42)
    assert draws(42) != draws(43)
    assert {uid for _, uid in draws(42)} == {"04A1", "04B2", "04C3"}


def test_simulated_delays_are_exponential_around_the_mean() -> None:
    delays = [delay for delay, _ in draws(1, 5000)]
    assert min(delays) > 0
    assert statistics.mean(delays) == pytest.approx(10.0, rel=0.08)
    assert statistics.median(delays) == pytest.approx(10.0 * 0.693, rel=0.1)  # ln 2 * mean


async def test_simulated_reads_follow_the_seeded_draws() -> None:
    uids = ["04A1", "04B2"]
    planned = SimulatedBadgeReader("coffee", uids, 0.002, seed=5)
    expected = [planned.next_tap()[1] for _ in range(20)]
    reader = SimulatedBadgeReader("coffee", uids, 0.002, seed=5, clock=lambda: T0)
    got = await take(reader, 20)
    assert [g.uid for g in got] == expected
    assert all(g.reader == "coffee" and g.at == T0 for g in got)


async def test_closing_a_simulated_reader_ends_its_reads_at_once() -> None:
    reader = SimulatedBadgeReader("entrance", mean_interval_s=3600, seed=1)
    got: list[BadgeRead] = []

    async def consume() -> None:
        async for item in reader.reads():
            got.append(item)

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.01)
    await reader.close()
    await asyncio.wait_for(task, 0.5)
    assert got == []


def test_simulated_reader_needs_uids_and_a_rate() -> None:
    with pytest.raises(ValueError, match="at least one UID"):
        SimulatedBadgeReader("entrance", [])
    with pytest.raises(ValueError, match="positive"):
        SimulatedBadgeReader("entrance", mean_interval_s=0)


# -- choosing a backend ----------------------------------------------------------------------


def settings(**overrides: object) -> BadgeReaderSettings:
    data: dict[str, object] = {"id": "entrance", "room": "lobby", "kind": "fake"}
    data.update(overrides)
    return BadgeReaderSettings.model_validate(data)


def test_open_by_kind() -> None:
    fake = open_badge_reader(settings())
    assert isinstance(fake, FakeBadgeReader)
    assert fake.id == "entrance"
    simulated = open_badge_reader(settings(kind="simulated", seed=3, uids=["04a1"]))
    assert isinstance(simulated, SimulatedBadgeReader)
    assert simulated.next_tap()[1] == "04A1"
    default = open_badge_reader(settings(kind="simulated"))
    assert isinstance(default, SimulatedBadgeReader)
    assert default.next_tap()[1] in DEMO_UIDS


@pytest.fixture
def hardware_module() -> Iterator[str]:
    """A stand-in hardware backend module, importable by name, removed afterwards."""

    class GpioWedge(FakeBadgeReader):
        pass

    name = "vivant_test_badge_backend"
    module = types.ModuleType(name)
    module.GpioWedge = GpioWedge  # type: ignore[attr-defined]
    sys.modules[name] = module
    yield name
    del sys.modules[name]


def test_hardware_backends_are_imported_on_first_use(
    monkeypatch: pytest.MonkeyPatch, hardware_module: str
) -> None:
    monkeypatch.setitem(badge.HARDWARE_BACKENDS, "wedge", f"{hardware_module}:GpioWedge")
    monkeypatch.setitem(badge.HARDWARE_BACKENDS, "pcsc", "vivant_no_such_module:PcscReader")
    assert badge.reader_class("wedge").__name__ == "GpioWedge"
    with pytest.raises(RuntimeError, match="needs vivant_no_such_module"):
        badge.reader_class("pcsc")
    with pytest.raises(ValueError, match="unknown badge reader kind"):
        badge.reader_class("telepathy")


def test_every_configurable_kind_has_a_backend() -> None:
    from typing import get_args

    from edge.config import BadgeReaderKind

    for kind in get_args(BadgeReaderKind):
        assert issubclass(badge.reader_class(kind), BadgeReader)
