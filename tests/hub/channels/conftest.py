"""Real local receivers for the channel tests: an HTTP server and an SMTP server, each in a thread.

Nothing here mocks HTTP or SMTP: Apprise, urllib3, smtplib and httpx talk to real sockets on
127.0.0.1, and the receivers record what arrived.
"""

from __future__ import annotations

import asyncio
import email
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from hub.channels.base import OutboundMessage, RecipientKind, Target
from hub.channels.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature


@dataclass(frozen=True)
class Received:
    """One HTTP request as the receiver saw it."""

    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool | None


@dataclass
class HttpReceiver:
    """A local HTTP server answering the scripted statuses in order, then 200."""

    statuses: list[int] = field(default_factory=list)
    secret: str | None = None
    """When set, the receiver checks the Vivant signature and answers 401 on a bad one."""
    extra_headers: dict[str, str] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    port: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, scheme: str, path: str) -> str:
        """The URL of *path* on this receiver."""
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def respond(self, handler: BaseHTTPRequestHandler) -> None:
        """Record the request and answer the next scripted status."""
        length = int(handler.headers.get("Content-Length", "0"))
        body = handler.rfile.read(length)
        verified: bool | None = None
        if self.secret is not None:
            verified = verify_signature(
                self.secret,
                body,
                handler.headers.get(TIMESTAMP_HEADER, ""),
                handler.headers.get(SIGNATURE_HEADER, ""),
            )
        with self.lock:
            self.received.append(Received(handler.path, dict(handler.headers), body, verified))
            status = self.statuses.pop(0) if self.statuses else 200
        if verified is False:
            status = 401
        handler.send_response(status)
        for name, value in self.extra_headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", "0")
        handler.end_headers()


@pytest.fixture
def http_receiver() -> Iterator[HttpReceiver]:
    """A running :class:`HttpReceiver`, shut down and closed after the test."""
    receiver = HttpReceiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            receiver.respond(self)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.port = server.server_port
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), name="test-http-receiver")
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class SmtpReceiver:
    """A local aiosmtpd server keeping every message it accepts."""

    port: int = 0
    envelopes: list[Envelope] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """Keep the message."""
        self.envelopes.append(envelope)
        return "250 OK"

    def messages(self) -> list[EmailMessage]:
        """The received messages, parsed."""
        parsed = []
        for envelope in self.envelopes:
            content = envelope.original_content or b""
            message = email.message_from_bytes(content, policy=policy.default)
            assert isinstance(message, EmailMessage)
            parsed.append(message)
        return parsed


@pytest.fixture
def smtp_receiver() -> Iterator[SmtpReceiver]:
    """A running plain-SMTP server on 127.0.0.1 (no TLS, no authentication)."""
    receiver = SmtpReceiver(port=free_port())
    controller = Controller(receiver, hostname="127.0.0.1", port=receiver.port)
    controller.start()
    try:
        yield receiver
    finally:
        controller.stop()


class FakeSleep:
    """Records the waits asked for and returns at once (yielding to the loop)."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        await asyncio.sleep(0)


@pytest.fixture
def fake_sleep() -> FakeSleep:
    """A :class:`FakeSleep`."""
    return FakeSleep()


def message(target: Target, id: str = "m1", **overrides: Any) -> OutboundMessage:
    """A French message to a member, with nudge metadata."""
    fields: dict[str, Any] = {
        "id": id,
        "recipient_kind": RecipientKind.MEMBER,
        "language": "fr",
        "subject": "Petit-déjeuner à 9h30",
        "body": "Café et croissants en cuisine, ça commence bientôt !",
        "target": target,
        "metadata": {"nudge_id": "n42", "rule": "moment_soon", "variant": "b"},
    }
    fields.update(overrides)
    return OutboundMessage(**fields)
