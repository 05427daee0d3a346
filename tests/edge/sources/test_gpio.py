"""GPIO sensors on gpiozero's MockFactory: motion with a hold, door contact, beam-break counter."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory, MockPin

from edge.source_settings import DoorSettings, MotionSettings, PeopleCounterSettings
from edge.sources.base import Source
from edge.sources.gpio import DoorSource, MotionSource, PeopleCounterSource, open_pin_factory
from tests.edge.sources.sinks import ListSink
from tests.support.waiting import eventually


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    made = MockFactory()
    yield made
    made.reset()


@contextlib.asynccontextmanager
async def running(source: Source, sink: ListSink) -> AsyncIterator[None]:
    task = asyncio.create_task(source.run(sink))
    await asyncio.sleep(0.01)  # let it claim its pins
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await source.aclose(sink)


def pin(factory: MockFactory, number: int) -> MockPin:
    made: Any = factory.pin(number)
    assert isinstance(made, MockPin)
    return made


async def settle() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


async def test_motion_is_reported_once_and_cleared_after_the_hold(factory: MockFactory) -> None:
    sink = ListSink()
    source = MotionSource(MotionSettings(id="pir", room="cuisine", pin=4, hold_s=0.2), factory)
    async with running(source, sink):
        pir = pin(factory, 4)
        pir.drive_high()
        await eventually(lambda: sink.values("motion") == [1])
        pir.drive_low()
        await asyncio.sleep(0.05)
        pir.drive_high()  # re-triggered within the hold: still the same motion
        pir.drive_low()
        pir.drive_high()
        await settle()
        assert sink.values("motion") == [1]
        pir.drive_low()
        await eventually(lambda: sink.values("motion") == [1, 0])
    on, off = sink.readings
    assert (on.room, on.source) == ("cuisine", "pir")
    assert (off.at - on.at).total_seconds() >= 0.2, "dated when the hold expired"


async def test_motion_at_start_is_reported(factory: MockFactory) -> None:
    sink = ListSink()
    source = MotionSource(MotionSettings(id="pir", room="cuisine", pin=5, hold_s=1), factory)
    async with running(source, sink):
        pin(factory, 5).drive_high()
        await eventually(lambda: sink.values("motion") == [1])


async def test_door_contact_reports_its_state_and_every_change(factory: MockFactory) -> None:
    sink = ListSink()
    source = DoorSource(DoorSettings(id="porte", room="accueil", pin=17), factory)
    async with running(source, sink):
        await eventually(lambda: sink.values("door") == [1])  # pull-up, nothing closed: open
        contact = pin(factory, 17)
        contact.drive_low()  # the magnet closes the reed switch
        await eventually(lambda: sink.values("door") == [1, 0])
        contact.drive_high()
        await eventually(lambda: sink.values("door") == [1, 0, 1])
    assert source.open is True


async def test_door_contact_wired_the_other_way(factory: MockFactory) -> None:
    sink = ListSink()
    settings = DoorSettings(id="porte", room="accueil", pin=18, open_when="low")
    async with running(DoorSource(settings, factory), sink):
        await eventually(lambda: sink.values("door") == [0])


def cross(outer: MockPin, inner: MockPin, order: str) -> None:
    """Drive the beams: ``o``/``i`` break the outer/inner beam, ``O``/``I`` clear it."""
    for step in order:
        beam = outer if step in "oO" else inner
        if step.islower():
            beam.drive_low()
        else:
            beam.drive_high()


async def test_beam_break_pair_counts_people_in_and_out(factory: MockFactory) -> None:
    sink = ListSink()
    settings = PeopleCounterSettings(
        id="seuil", room="accueil", outer_pin=23, inner_pin=24, report_s=0.1
    )
    source = PeopleCounterSource(settings, factory)
    async with running(source, sink):
        outer, inner = pin(factory, 23), pin(factory, 24)
        cross(outer, inner, "oiOI")  # someone walks in
        cross(outer, inner, "oiOI")  # and another
        cross(outer, inner, "ioIO")  # someone walks out
        await eventually(lambda: sum(sink.values("people_in")) == 2)
        await eventually(lambda: sum(sink.values("people_out")) == 1)
        cross(outer, inner, "oO")  # looks in, steps back
        cross(outer, inner, "oiIO")  # steps in, thinks better of it, backs out
        cross(outer, inner, "iI")
        await asyncio.sleep(0.25)
    assert sum(sink.values("people_in")) == 2
    assert sum(sink.values("people_out")) == 1
    assert source.ignored == 3
    assert all(r.room == "accueil" for r in sink.readings)


async def test_a_too_slow_crossing_is_not_counted(factory: MockFactory) -> None:
    now = [0.0]
    sink = ListSink()
    settings = PeopleCounterSettings(
        id="seuil", room="accueil", outer_pin=23, inner_pin=24, max_transit_s=2, report_s=60
    )
    source = PeopleCounterSource(settings, factory, monotonic=lambda: now[0])
    async with running(source, sink):
        outer, inner = pin(factory, 23), pin(factory, 24)
        cross(outer, inner, "oi")
        now[0] = 5.0  # someone stood in the doorway for five seconds
        cross(outer, inner, "OI")
        await settle()
        assert (source.pending_in, source.ignored) == (0, 1)
        cross(outer, inner, "oiOI")
        await settle()
    # what was counted and not yet reported is sent when the source closes
    assert sink.values("people_in") == [1]


def test_mock_pin_factory_by_name() -> None:
    made = open_pin_factory("mock")
    assert isinstance(made, MockFactory)
    made.close()
    with pytest.raises(ValueError, match="no pin factory"):
        open_pin_factory("telepathy")
