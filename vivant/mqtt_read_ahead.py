"""A paho client that reads the broker in large chunks instead of a few bytes at a time.

paho reads each incoming packet with at least three ``recv`` calls: its first byte, the bytes of
its length, then the rest. Each is a system call that releases and retakes the interpreter lock,
so a subscriber draining a backlog of small packets (the hub after a restart, or under a burst
from 30 sites) spends a quarter of its time in them. :class:`ReadAheadSocket` reads up to
:data:`CHUNK` bytes at once and serves paho's small reads from that buffer.

paho's own network loop (``loop_start`` / ``loop_forever``) asks the socket for ``pending()``
bytes before waiting in ``select``, as it must for TLS, whose records may hold more than one
packet; the buffer reports its bytes there, so a packet already read is never left waiting for
new data on the wire. A program that runs its own ``select`` around ``loop_read`` (the edge agent)
would not ask, and must not use this client.

paho has no public hook for the socket it creates: :class:`ReadAheadClient` wraps the socket that
``Client._create_socket`` returns (paho 2.x). If that method is gone, the client is paho's own,
only slower; ``tests/vivant/test_mqtt_read_ahead.py`` says so when paho is upgraded.
"""

from __future__ import annotations

from typing import Any

import paho.mqtt.client as paho

CHUNK = 65536  # bytes asked of the kernel per read: hundreds of small packets


class ReadAheadSocket:
    """paho's ``SocketLike`` around a connected socket (plain, TLS or paho's WebSocket wrapper)."""

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._buffer = b""
        self._position = 0

    def recv(self, size: int) -> bytes:
        """Up to *size* bytes: from the buffer, else one read of the kernel's (or TLS's) bytes.

        Errors of the underlying socket (``BlockingIOError`` when nothing is there, TLS's
        ``SSLWantReadError``) reach paho unchanged; an empty result is the end of the stream.
        """
        position, buffer = self._position, self._buffer
        if position >= len(buffer):
            data: bytes = self._sock.recv(max(size, CHUNK))
            if len(data) <= size:
                return data
            buffer, position = data, 0
            self._buffer = buffer
        end = position + size
        self._position = end
        return buffer[position:end]

    def pending(self) -> int:
        """Bytes readable without waiting: the buffer's, and what TLS has decrypted already."""
        underlying = getattr(self._sock, "pending", None)
        return max(0, len(self._buffer) - self._position) + (underlying() if underlying else 0)

    def send(self, data: bytes | bytearray) -> int:
        return int(self._sock.send(data))

    def close(self) -> None:
        self._buffer, self._position = b"", 0
        self._sock.close()

    def fileno(self) -> int:
        return int(self._sock.fileno())

    def setblocking(self, flag: bool) -> None:
        self._sock.setblocking(flag)

    def setsockopt(self, level: int, option: int, value: int) -> None:
        """For ``on_socket_open`` callbacks (TCP_NODELAY); a non-TCP socket raises as its own."""
        self._sock.setsockopt(level, option, value)

    @property
    def raw(self) -> Any:
        """The socket underneath (a ``socket.socket``, TLS's, or paho's WebSocket wrapper)."""
        return self._sock


class ReadAheadClient(paho.Client):
    """A paho client whose connections are :class:`ReadAheadSocket`; use with paho's own loop."""

    def _create_socket(self) -> Any:
        return ReadAheadSocket(super()._create_socket())


HOOKED = callable(getattr(paho.Client, "_create_socket", None))
"""Whether this paho creates its sockets where :class:`ReadAheadClient` can wrap them."""
