"""Serial readers: RDM6300 frames and text lines, parsed alone and through pyserial's loop://."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
import serial

from edge.config import BadgeReaderSettings
from edge.source_settings import SerialSettings
from edge.sources.badge import BadgeRead, open_badge_reader
from edge.sources.readers.serial import (
    LineParser,
    Rdm6300Parser,
    SerialBadgeReader,
    decimal_uid,
)


def rdm6300_frame(card: bytes) -> bytes:
    """A frame as the module sends it: STX, hex of the 5 bytes, hex XOR checksum, ETX."""
    checksum = 0
    for byte in card:
        checksum ^= byte
    return b"\x02" + card.hex().upper().encode() + f"{checksum:02X}".encode() + b"\x03"


CARD = bytes.fromhex("0A00BC614E")  # version 0x0A, card number 12345678


def test_a_frame_gives_the_card_id() -> None:
    assert Rdm6300Parser().feed(rdm6300_frame(CARD)) == ["0A00BC614E"]


def test_four_bytes_match_what_a_wedge_reader_types_as_decimal() -> None:
    assert Rdm6300Parser(uid_bytes=4).feed(rdm6300_frame(CARD)) == ["00BC614E"]
    assert decimal_uid("0012345678") == "00BC614E"


def test_frames_split_across_reads_noise_and_bad_checksums() -> None:
    parser = Rdm6300Parser()
    frame = rdm6300_frame(CARD)
    corrupt = frame[:11] + b"00" + frame[13:]  # checksum no longer matches
    stream = b"\xff\x00garbage" + corrupt + frame + frame
    got: list[str] = []
    for start in range(0, len(stream), 5):  # the UART hands bytes over in small bursts
        got += parser.feed(stream[start : start + 5])
    assert got == ["0A00BC614E", "0A00BC614E"]
    assert parser.bad_frames == 1


def test_line_readers_in_hex_and_decimal() -> None:
    assert LineParser().feed(b"04A1B2C3\r\n04:b2:c3:d4\n\nnot a uid\r\n") == [
        "04A1B2C3",
        "04:b2:c3:d4",
    ]
    assert LineParser("decimal").feed(b"0012345678\r\n") == ["00BC614E"]


@contextlib.asynccontextmanager
async def reading(reader: SerialBadgeReader) -> AsyncIterator[list[BadgeRead]]:
    got: list[BadgeRead] = []

    async def collect() -> None:
        async for read in reader.reads():
            got.append(read)

    task = asyncio.create_task(collect())
    try:
        yield got
    finally:
        await reader.close()
        await asyncio.wait_for(task, 5)


async def test_an_rdm6300_on_a_loopback_port() -> None:
    port: Any = serial.serial_for_url("loop://", timeout=0.05)
    reader = SerialBadgeReader("porte", SerialSettings(port="loop://"), opener=lambda: port)
    async with reading(reader) as got:
        port.write(rdm6300_frame(CARD) + rdm6300_frame(bytes.fromhex("1F0000A3C2")))
        for _ in range(100):
            if len(got) == 2:
                break
            await asyncio.sleep(0.02)
    assert [r.uid for r in got] == ["0A00BC614E", "1F0000A3C2"]
    assert all(r.reader == "porte" for r in got)
    assert not port.is_open, "released when the reader closed"


async def test_a_line_reader_from_its_configuration() -> None:
    settings = BadgeReaderSettings.model_validate(
        {
            "id": "cafe",
            "room": "cafe",
            "kind": "serial",
            "serial": {"port": "loop://", "protocol": "line", "baudrate": 115200},
        }
    )
    reader = open_badge_reader(settings)
    assert isinstance(reader, SerialBadgeReader)
    assert reader.settings.baudrate == 115200


async def test_a_port_that_cannot_open_ends_the_reads_with_the_error() -> None:
    reader = SerialBadgeReader("porte", SerialSettings(port="/dev/ttyNOPE"))
    with pytest.raises(serial.SerialException):
        async for _ in reader.reads():
            pass
