"""A TCP proxy the test controls, to cut a link between two real components and restore it.

Put it between a client and its server (an edge agent and Mosquitto, the hub and PostgreSQL) and
point the client at :attr:`TcpProxy.port`. :meth:`TcpProxy.cut` drops every open connection with
a reset and then either *refuses* new ones (nothing listens on the port, as when a host is down)
or *blackholes* them (accepted, then silence: bytes go nowhere and nothing comes back, as when a
cable is pulled somewhere along the way). :meth:`TcpProxy.restore` forwards again on the same
port. Threads, not asyncio, so it serves sync and async tests alike.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Iterator
from enum import StrEnum

from tests.support.mosquitto import free_port

CHUNK = 65536


class CutMode(StrEnum):
    """What a client trying to connect during a cut sees."""

    REFUSE = "refuse"  # connection refused: nothing listens
    BLACKHOLE = "blackhole"  # accepted, then silence


def _reset(sock: socket.socket) -> None:
    """Close with a RST (SO_LINGER 0), as a crashed peer or a dropped NAT entry would.

    ``shutdown(SHUT_RD)`` first wakes a thread blocked in ``recv`` on it (a bare ``close`` from
    another thread would not, and the RST would wait for that ``recv`` to return).
    """
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RD)
    with contextlib.suppress(OSError):
        sock.close()


class TcpProxy:
    """Forwards ``127.0.0.1:<port>`` to *target*; :meth:`cut` and :meth:`restore` at will."""

    def __init__(self, target_host: str, target_port: int, port: int | None = None) -> None:
        self.target = (target_host, target_port)
        self.port = port or free_port()
        self.mode: CutMode | None = None  # None: forwarding
        self.accepted = 0  # connections accepted while forwarding
        self.dropped = 0  # connections reset by cut()
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._held: list[socket.socket] = []  # blackholed connections
        self._listener: socket.socket | None = None
        self._reserved: socket.socket | None = None  # bound, not listening (refusing)
        self._thread: threading.Thread | None = None
        self._closed = False

    @property
    def connections(self) -> int:
        """Connections being forwarded right now."""
        with self._lock:
            return len(self._pairs)

    @property
    def held(self) -> int:
        """Connections accepted into the blackhole right now."""
        with self._lock:
            return len(self._held)

    def url(self, scheme: str) -> str:
        """``<scheme>://127.0.0.1:<port>``."""
        return f"{scheme}://127.0.0.1:{self.port}"

    def start(self) -> TcpProxy:
        """Listen and forward."""
        self._listen()
        return self

    def _bound(self) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        return sock

    def _listen(self) -> None:
        listener, self._reserved = self._reserved or self._bound(), None
        listener.listen(64)
        self._listener = listener
        self._thread = threading.Thread(
            target=self._accept_loop, args=(listener,), name=f"proxy-{self.port}", daemon=True
        )
        self._thread.start()

    def _stop_listening(self, *, reserve: bool) -> None:
        listener, thread = self._listener, self._thread
        self._listener = self._thread = None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        if thread is not None:
            thread.join(timeout=5)
        if reserve and self._reserved is None:
            # Bound but not listening: a connection attempt is refused, and the kernel cannot
            # hand the port to some other socket as its ephemeral port meanwhile.
            self._reserved = self._bound()

    def _accept_loop(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # the listener was closed
            with self._lock:
                mode = self.mode
                if mode is CutMode.BLACKHOLE:
                    self._held.append(client)
                    threading.Thread(target=self._swallow, args=(client,), daemon=True).start()
                    continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                _reset(client)  # the server itself is down: the client sees its link fail
                continue
            with self._lock:
                if self.mode is not None or self._closed:
                    _reset(client)
                    _reset(upstream)
                    continue
                self._pairs.append((client, upstream))
                self.accepted += 1
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(
                    target=self._pump, args=(source, sink, client, upstream), daemon=True
                ).start()

    def _pump(
        self, source: socket.socket, sink: socket.socket, client: socket.socket, up: socket.socket
    ) -> None:
        try:
            while data := source.recv(CHUNK):
                sink.sendall(data)
        except OSError:
            pass
        # One side finished or failed: end the pair (both ways), once.
        with self._lock:
            if (client, up) not in self._pairs:
                return
            self._pairs.remove((client, up))
        for sock in (client, up):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _swallow(self, sock: socket.socket) -> None:
        """Read and discard until the connection is closed: a blackhole answers nothing."""
        with contextlib.suppress(OSError):
            while sock.recv(CHUNK):
                pass

    def _drop_all(self) -> None:
        with self._lock:
            pairs, self._pairs = self._pairs, []
            held, self._held = self._held, []
            self.dropped += len(pairs)
        for client, upstream in pairs:
            _reset(client)
            _reset(upstream)
        for sock in held:
            _reset(sock)

    def cut(self, mode: CutMode = CutMode.REFUSE) -> None:
        """Reset every open connection; refuse or blackhole new ones until :meth:`restore`."""
        with self._lock:
            self.mode = mode
        if mode is CutMode.REFUSE:
            self._stop_listening(reserve=True)
        elif self._listener is None:
            self._listen()
        self._drop_all()

    def restore(self) -> None:
        """Forward again (blackholed connections are reset: their clients reconnect)."""
        with self._lock:
            was, self.mode = self.mode, None
        if was is None:
            return
        self._drop_all()
        if self._listener is None:
            self._listen()

    def close(self) -> None:
        """Stop listening and reset everything."""
        with self._lock:
            self._closed = True
        self._stop_listening(reserve=False)
        if self._reserved is not None:
            self._reserved.close()
            self._reserved = None
        self._drop_all()


@contextlib.contextmanager
def tcp_proxy(target_host: str, target_port: int) -> Iterator[TcpProxy]:
    """A started :class:`TcpProxy`, closed on exit."""
    proxy = TcpProxy(target_host, target_port).start()
    try:
        yield proxy
    finally:
        proxy.close()
