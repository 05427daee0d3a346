"""What the latency benchmarks share: percentiles, the broker's own hop, the greeted member.

``tap_to_greeting``, ``reader_feedback`` and ``screens_fanout`` time a badge tap through the
hub; each prints its figures beside the raw publish → subscribe hop of the same broker, and each
taps the badge of the same member, who allowed the lobby screen to greet her.
"""

from __future__ import annotations

import secrets
import statistics
import threading
import time
from urllib.parse import urlsplit

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy.orm import Session

from hub.db.models import Consent, Member
from hub.members import add_member
from vivant.wire import credential_for

MEMBER_UID = "04A1B2C3D4E5F6"


def quantiles_ms(samples: list[float]) -> tuple[float, float, float]:
    """p50, p95, p99 of *samples* (seconds), in milliseconds."""
    q = statistics.quantiles(samples, n=100)
    return q[49] * 1000, q[94] * 1000, q[98] * 1000


def percentiles(samples: list[float]) -> str:
    """p50 / p95 / p99 in milliseconds, as printed."""
    p50, p95, p99 = quantiles_ms(samples)
    return f"p50 {p50:6.2f} ms   p95 {p95:6.2f} ms   p99 {p99:6.2f} ms"


def greeted_member(session: Session, key: str, uid: str = MEMBER_UID) -> Member:
    """Camille, whose badge *uid* is enrolled and who allowed the screens to greet her."""
    return add_member(
        session, "Camille", consents=[Consent.SCREEN_DISPLAY], badges=[credential_for(key, uid)]
    )


def raw_hop(broker_url: str, count: int) -> list[float]:
    """Publish → subscribe latency of the broker alone (QoS 1), *count* messages 10 ms apart."""
    parts = urlsplit(broker_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 1883
    topic = f"bench/{secrets.token_hex(4)}/hop"
    received: dict[str, float] = {}
    done = threading.Event()

    def on_message(_c: paho.Client, _u: object, message: paho.MQTTMessage) -> None:
        received[message.payload.decode()] = time.perf_counter()
        if len(received) == count:
            done.set()

    subscriber = paho.Client(
        CallbackAPIVersion.VERSION2, client_id=f"bench-sub-{secrets.token_hex(3)}"
    )
    subscriber.on_message = on_message
    subscriber.connect(host, port)
    subscriber.subscribe(topic, qos=1)
    subscriber.loop_start()
    publisher = paho.Client(
        CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{secrets.token_hex(3)}"
    )
    publisher.connect(host, port)
    publisher.loop_start()
    time.sleep(0.3)
    sent: dict[str, float] = {}
    for index in range(count):
        key = str(index)
        sent[key] = time.perf_counter()
        publisher.publish(topic, key, qos=1).wait_for_publish(5)
        time.sleep(0.01)
    done.wait(10)
    for client in (publisher, subscriber):
        client.loop_stop()
        client.disconnect()
    return [received[k] - sent[k] for k in sent if k in received]
