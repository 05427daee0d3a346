"""PC/SC badge readers (ACR122U, ACR1252U, SCL3711, …) through pcscd and pyscard.

PC/SC is how a Linux machine talks to USB smart-card readers: ``pcscd`` owns the USB device and
``pyscard`` talks to ``pcscd``. The UID of a contactless card comes from the PC/SC 2.01
pseudo-APDU **GET DATA**: ``FF CA 00 00 00``; the reader answers the UID followed by the status
words ``90 00`` (``6A 81``: the card does not support it, ``63 00``: it failed).

The reader is polled (``poll_s``): connect, ask, disconnect. A card resting on the reader answers
at every poll; :class:`~edge.sources.readers.polling.PresenceTracker` reports it once, when it
arrives. pcscd restarting or the reader being unplugged raises in the poll, which ends the read
loop; the agent reopens it with backoff.

pyscard needs ``libpcsclite`` and builds from source (``swig``, a C compiler) where no wheel
exists, so it lives in the ``edge-pcsc`` extra, or comes from Debian (``python3-pyscard``, what
``deploy/edge/install.sh`` uses). The ACR122U beeps on every card by itself: its own LED and
buzzer are not driven (the GPIO feedback of the reader's settings is).
"""

from __future__ import annotations

import logging
import time
from typing import Final, Protocol

from edge.clock import Clock, utc_now
from edge.config import BadgeReaderSettings
from edge.source_settings import PcscSettings
from edge.sources.readers.polling import PollingBadgeReader, PresenceTracker

log = logging.getLogger(__name__)

GET_UID: Final = (0xFF, 0xCA, 0x00, 0x00, 0x00)
SW_OK: Final = (0x90, 0x00)


def uid_from_response(data: list[int], sw1: int, sw2: int) -> bytes | None:
    """The UID in a GET DATA answer, or ``None`` if the reader could not read it."""
    if (sw1, sw2) != SW_OK or not data:
        return None
    return bytes(data)


class PcscBackend(Protocol):
    """What the reader needs from PC/SC (pyscard, or a fake)."""

    def reader_names(self) -> list[str]:
        """Names of the readers pcscd knows."""

    def read_uid(self, reader_name: str) -> bytes | None:
        """The UID of the card on the reader, ``None`` when there is no (readable) card."""


class PyscardBackend:
    """:class:`PcscBackend` through pyscard (imported on first use)."""

    def __init__(self) -> None:
        from smartcard.System import readers

        self._readers = readers

    def reader_names(self) -> list[str]:
        """Names of the readers pcscd knows."""
        return [str(reader) for reader in self._readers()]

    def read_uid(self, reader_name: str) -> bytes | None:
        """Connect, send GET DATA, disconnect."""
        from smartcard.Exceptions import CardConnectionException, NoCardException

        for reader in self._readers():
            if str(reader) != reader_name:
                continue
            connection = reader.createConnection()
            try:
                connection.connect()
            except (NoCardException, CardConnectionException):
                return None
            try:
                data, sw1, sw2 = connection.transmit(list(GET_UID))
            except CardConnectionException:
                return None  # the card left during the exchange
            finally:
                connection.disconnect()
            return uid_from_response(data, sw1, sw2)
        raise OSError(f"PC/SC reader {reader_name!r} is gone")


class PcscBadgeReader(PollingBadgeReader):
    """A PC/SC contactless reader."""

    def __init__(
        self,
        reader_id: str,
        settings: PcscSettings,
        *,
        clock: Clock = utc_now,
        backend: PcscBackend | None = None,
    ) -> None:
        """Prepare the reader; *backend* replaces pyscard."""
        super().__init__(reader_id, clock=clock)
        self.settings = settings
        self._given = backend
        self._backend: PcscBackend | None = None
        self._reader_name = ""
        self._presence = PresenceTracker()

    @classmethod
    def from_settings(cls, settings: BadgeReaderSettings, clock: Clock) -> PcscBadgeReader:
        """The reader of a ``kind: pcsc`` entry."""
        return cls(settings.id, settings.pcsc or PcscSettings(), clock=clock)

    def _open(self) -> None:
        backend = self._given or PyscardBackend()
        names = backend.reader_names()
        wanted = self.settings.reader_name
        matching = [n for n in names if wanted is None or wanted.lower() in n.lower()]
        if not matching:
            raise OSError(
                f"no PC/SC reader matching {wanted!r} (pcscd sees: {', '.join(names) or 'none'})"
            )
        self._backend, self._reader_name = backend, matching[0]
        self._presence = PresenceTracker()
        log.info("reader %s: PC/SC reader %s", self.id, self._reader_name)

    def _poll(self) -> list[str | bytes]:
        assert self._backend is not None
        uid = self._presence.seen(self._backend.read_uid(self._reader_name))
        if uid is None:
            time.sleep(self.settings.poll_s)
            return []
        return [uid]

    def _release(self) -> None:
        self._backend = None
