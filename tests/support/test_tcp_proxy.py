"""The test TCP proxy itself: it forwards both ways, cuts (refusing or blackholing) and restores."""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
from collections.abc import Iterator

import pytest

from tests.support.tcp_proxy import CutMode, TcpProxy, tcp_proxy
from tests.support.waiting import wait_until


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(4096):
            self.request.sendall(data.upper())


class _EchoServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@pytest.fixture
def echo() -> Iterator[int]:
    """A real TCP server answering every chunk in upper case; yields its port."""
    server = _EchoServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def proxy(echo: int) -> Iterator[TcpProxy]:
    with tcp_proxy("127.0.0.1", echo) as running:
        yield running


def connect(proxy: TcpProxy, timeout: float = 2.0) -> socket.socket:
    return socket.create_connection(("127.0.0.1", proxy.port), timeout=timeout)


def exchange(sock: socket.socket, data: bytes) -> bytes:
    sock.sendall(data)
    got = b""
    while len(got) < len(data):
        chunk = sock.recv(4096)
        if not chunk:
            break
        got += chunk
    return got


def test_forwards_both_ways_including_large_payloads(proxy: TcpProxy) -> None:
    with connect(proxy) as sock:
        assert exchange(sock, b"hello") == b"HELLO"
        big = bytes(range(97, 123)) * 20_000  # 520 kB, many chunks each way
        assert exchange(sock, big) == big.upper()
    assert proxy.accepted == 1


def test_cut_resets_open_connections_and_refuses_new_ones(proxy: TcpProxy) -> None:
    sock = connect(proxy)
    assert exchange(sock, b"a") == b"A"
    proxy.cut()
    with contextlib.closing(sock), pytest.raises(ConnectionResetError):
        sock.recv(10)
    with pytest.raises(ConnectionRefusedError):
        connect(proxy)
    assert proxy.dropped == 1
    proxy.restore()
    with connect(proxy) as again:
        assert exchange(again, b"back") == b"BACK"


def test_blackhole_accepts_and_answers_nothing(proxy: TcpProxy) -> None:
    proxy.cut(CutMode.BLACKHOLE)
    with connect(proxy, timeout=0.3) as sock:
        sock.sendall(b"anyone?")
        with pytest.raises(TimeoutError):
            sock.recv(10)
    assert proxy.accepted == 0
    proxy.restore()
    with connect(proxy) as sock:
        assert exchange(sock, b"yes") == b"YES"


def test_a_blackholed_connection_is_reset_on_restore(proxy: TcpProxy) -> None:
    proxy.cut(CutMode.BLACKHOLE)
    sock = connect(proxy, timeout=2)
    wait_until(lambda: proxy.held == 1, what="connection in the blackhole")
    proxy.restore()
    with contextlib.closing(sock), contextlib.suppress(ConnectionResetError):
        assert sock.recv(10) == b""  # the client learns its link is gone, and reconnects


def test_a_peer_closing_ends_the_pair(proxy: TcpProxy) -> None:
    with connect(proxy) as sock:
        assert exchange(sock, b"x") == b"X"
        assert proxy.connections == 1
    wait_until(lambda: proxy.connections == 0, what="pair closed")


def test_server_down_behind_the_proxy_fails_the_client(echo: int) -> None:
    # Nothing listens on port 1. The reset may come before connect() returns, or on the read.
    with (
        tcp_proxy("127.0.0.1", 1) as proxy,
        contextlib.suppress(ConnectionResetError),
        connect(proxy) as sock,
    ):
        assert sock.recv(10) == b""
    assert proxy.accepted == 0


def test_close_stops_everything(echo: int) -> None:
    proxy = TcpProxy("127.0.0.1", echo).start()
    sock = connect(proxy)
    proxy.close()
    with contextlib.closing(sock), contextlib.suppress(ConnectionResetError):
        assert sock.recv(10) == b""
    with pytest.raises(ConnectionRefusedError):
        connect(proxy)


def test_the_port_stays_reserved_while_refusing(proxy: TcpProxy) -> None:
    proxy.cut()
    other = socket.socket()
    with contextlib.closing(other), pytest.raises(OSError, match="in use"):
        other.bind(("127.0.0.1", proxy.port))  # nobody can take it (not even as ephemeral port)
    proxy.restore()
    with connect(proxy) as sock:
        assert exchange(sock, b"mine") == b"MINE"
