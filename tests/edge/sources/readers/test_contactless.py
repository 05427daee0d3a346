"""PC/SC and PN532 readers with their libraries replaced by fakes."""

from __future__ import annotations

import asyncio
import threading

import pytest

from edge.config import BadgeReaderSettings
from edge.source_settings import PcscSettings, Pn532Settings
from edge.sources.badge import BadgeRead, BadgeReader, open_badge_reader
from edge.sources.readers.pcsc import PcscBadgeReader, uid_from_response
from edge.sources.readers.pn532 import Pn532BadgeReader
from edge.sources.readers.polling import PresenceTracker

UID = bytes.fromhex("04A1B2C3D4E5F6")


class FakeField:
    """A card that the test puts on, or takes off, the reader; counts the polls since."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._card: bytes | None = None
        self._polls = 0

    def put(self, card: bytes | None) -> None:
        with self._lock:
            self._card, self._polls = card, 0

    def poll(self) -> bytes | None:
        with self._lock:
            self._polls += 1
            return self._card

    async def polled(self, count: int) -> None:
        """Wait until the reader polled *count* times since the last :meth:`put`."""
        for _ in range(500):
            with self._lock:
                if self._polls >= count:
                    return
            await asyncio.sleep(0.01)
        raise AssertionError("the reader stopped polling")


class FakePcsc:
    def __init__(self, names: list[str], field: FakeField) -> None:
        self.names, self.field = names, field

    def reader_names(self) -> list[str]:
        return self.names

    def read_uid(self, reader_name: str) -> bytes | None:
        assert reader_name == self.names[-1]
        return self.field.poll()


class FakePn532:
    def __init__(self, field: FakeField) -> None:
        self.field = field
        self.configured = False

    def SAM_configuration(self) -> None:
        self.configured = True

    def read_passive_target(self, card_baud: int = 0, timeout: float = 1) -> bytearray | None:
        assert self.configured, "SAM_configuration first"
        card = self.field.poll()
        return bytearray(card) if card else None


async def taps(reader: BadgeReader, field: FakeField) -> list[BadgeRead]:
    """Put a card on the reader, leave it, take it away, put it back."""
    got: list[BadgeRead] = []

    async def collect() -> None:
        async for read in reader.reads():
            got.append(read)

    task = asyncio.create_task(collect())
    await field.polled(2)
    field.put(UID)
    await field.polled(6)  # resting on the reader
    field.put(None)
    await field.polled(3)
    field.put(UID)  # the same card again, after it was taken away: a new tap
    await field.polled(3)
    await reader.close()
    await asyncio.wait_for(task, 5)
    return got


def test_get_data_answers() -> None:
    assert uid_from_response(list(UID), 0x90, 0x00) == UID
    assert uid_from_response([], 0x90, 0x00) is None
    assert uid_from_response([], 0x6A, 0x81) is None


def test_presence_reports_arrivals_only() -> None:
    presence = PresenceTracker(absent_polls=2)
    assert presence.seen(UID) == UID
    assert presence.seen(UID) is None
    assert presence.seen(None) is None
    assert presence.seen(UID) is None, "one missed poll is noise"
    presence.seen(None)
    presence.seen(None)
    assert presence.seen(UID) == UID


async def test_pcsc_reader_reports_a_resting_card_once() -> None:
    field = FakeField()
    backend = FakePcsc(
        ["Generic Smart Card Reader 00 00", "ACS ACR122U PICC Interface 01 00"], field
    )
    reader = PcscBadgeReader(
        "accueil", PcscSettings(reader_name="acr122", poll_s=0.001), backend=backend
    )
    got = await taps(reader, field)
    assert [r.uid for r in got] == ["04A1B2C3D4E5F6"] * 2


async def test_pcsc_reader_not_found_says_what_pcscd_sees() -> None:
    backend = FakePcsc(["Generic Smart Card Reader 00 00"], FakeField())
    reader = PcscBadgeReader("accueil", PcscSettings(reader_name="acr122"), backend=backend)
    with pytest.raises(OSError, match="Generic Smart Card Reader"):
        async for _ in reader.reads():
            pass


async def test_pn532_reader() -> None:
    field = FakeField()
    chip = FakePn532(field)
    reader = Pn532BadgeReader("cafe", Pn532Settings(poll_s=0.001), opener=lambda _: chip)
    got = await taps(reader, field)
    assert [r.uid for r in got] == ["04A1B2C3D4E5F6"] * 2


@pytest.mark.parametrize(
    ("kind", "backend"), [("pcsc", PcscBadgeReader), ("pn532", Pn532BadgeReader)]
)
def test_kinds_work_with_default_sections(kind: str, backend: type[BadgeReader]) -> None:
    settings = BadgeReaderSettings.model_validate({"id": "r", "room": "cafe", "kind": kind})
    assert isinstance(open_badge_reader(settings), backend)
