"""The read-ahead socket: paho's small reads served from one large read, nothing left waiting."""

from __future__ import annotations

import select
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.support.mosquitto import PrivateBroker, private_broker
from tests.support.waiting import wait_until
from vivant.mqtt import MqttSettings, new_client
from vivant.mqtt_read_ahead import HOOKED, ReadAheadClient, ReadAheadSocket


@pytest.fixture
def pair() -> Iterator[tuple[ReadAheadSocket, socket.socket]]:
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    wrapped = ReadAheadSocket(ours)
    yield wrapped, theirs
    wrapped.close()
    theirs.close()


class CountingSocket:
    """A socket that counts the reads asked of it."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.reads = 0

    def recv(self, size: int) -> bytes:
        self.reads += 1
        return self.sock.recv(size)


def test_small_reads_are_served_from_one_read_of_the_kernel() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        counting = CountingSocket(ours)
        wrapped = ReadAheadSocket(counting)
        packets = [bytes([0x30, 3]) + b"abc", bytes([0x30, 2]) + b"de"]
        theirs.sendall(b"".join(packets))
        got = [wrapped.recv(1), wrapped.recv(1), wrapped.recv(3), wrapped.recv(1), wrapped.recv(1)]
        assert wrapped.pending() == 2
        got.append(wrapped.recv(2))
        assert b"".join(got) == b"".join(packets)
        assert counting.reads == 1
        assert wrapped.pending() == 0


def test_a_read_larger_than_what_is_buffered_returns_the_rest_first(
    pair: tuple[ReadAheadSocket, socket.socket],
) -> None:
    wrapped, theirs = pair
    theirs.sendall(b"0123456789")
    assert wrapped.recv(4) == b"0123"
    assert wrapped.recv(100) == b"456789"  # a short read, as a socket's: paho asks again
    theirs.sendall(b"xyz")
    wait_until(lambda: _readable(wrapped), within=5, what="bytes on the socket")
    assert wrapped.recv(100) == b"xyz"


def test_nothing_to_read_and_the_end_of_the_stream_reach_paho_as_from_a_socket(
    pair: tuple[ReadAheadSocket, socket.socket],
) -> None:
    wrapped, theirs = pair
    with pytest.raises(BlockingIOError):
        wrapped.recv(1)
    theirs.sendall(b"ab")
    theirs.shutdown(socket.SHUT_WR)
    wait_until(lambda: _readable(wrapped), within=5, what="bytes on the socket")
    assert wrapped.recv(1) == b"a"
    assert wrapped.recv(1) == b"b"
    assert wrapped.recv(1) == b""  # paho: connection lost


def test_the_socket_options_reach_the_socket_underneath(
    pair: tuple[ReadAheadSocket, socket.socket],
) -> None:
    wrapped, _ = pair
    assert isinstance(wrapped.raw, socket.socket)
    assert wrapped.fileno() == wrapped.raw.fileno()
    # A Unix socket has no TCP options: the same error as without the wrapper.
    with pytest.raises(OSError, match="not supported"):
        wrapped.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def test_this_paho_creates_its_sockets_where_the_client_wraps_them() -> None:
    """Fails when an upgrade of paho removes ``Client._create_socket``: the hub would still
    work, reading a few bytes at a time again (see vivant.mqtt_read_ahead)."""
    assert HOOKED


@pytest.fixture
def queueing_broker(tmp_path: Path) -> Iterator[PrivateBroker]:
    """A broker that queues a whole burst for a subscriber (Mosquitto's default drops messages
    past 1000 queued for one client, whoever the client is)."""
    with private_broker(tmp_path / "mosquitto", "max_queued_messages 0\n") as broker:
        yield broker


@pytest.mark.mosquitto
@pytest.mark.parametrize("qos", [0, 1])
def test_a_burst_is_delivered_whole_and_in_order(queueing_broker: PrivateBroker, qos: int) -> None:
    """A burst arrives in a few large reads; the last packets, already read when no more bytes
    come, are handled at once (paho asks ``pending()``), not at the next keepalive (60 s)."""
    settings = MqttSettings(url=queueing_broker.url, keepalive_s=60)
    topic = f"t{uuid.uuid4().hex[:8]}/burst"
    count = 3000
    received: list[bytes] = []
    subscribed, done = threading.Event(), threading.Event()

    def on_message(_c: paho.Client, _u: object, message: paho.MQTTMessage) -> None:
        received.append(bytes(message.payload))
        if len(received) == count:
            done.set()

    client = new_client(settings, f"read-ahead-{qos}", clean_session=True, read_ahead=True)
    assert isinstance(client, ReadAheadClient)
    client.on_message = on_message
    client.on_subscribe = lambda *_: subscribed.set()
    client.connect(settings.host, settings.port)
    client.subscribe(topic, qos=1)
    client.loop_start()
    publisher = paho.Client(CallbackAPIVersion.VERSION2, clean_session=True)
    try:
        assert subscribed.wait(10)
        assert isinstance(client.socket(), ReadAheadSocket)
        publisher.max_inflight_messages_set(1000)
        publisher.connect(settings.host, settings.port)
        publisher.loop_start()
        for i in range(count):
            publisher.publish(topic, b"%d" % i, qos=qos)
        assert done.wait(20), f"{len(received)} of {count} messages after 20 s"
        assert received == [b"%d" % i for i in range(count)]
    finally:
        publisher.disconnect()
        publisher.loop_stop()
        client.disconnect()
        client.loop_stop()


def _readable(wrapped: ReadAheadSocket) -> bool:
    return bool(select.select([wrapped], [], [], 0)[0])
