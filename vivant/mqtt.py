"""MQTT connection settings and client construction shared by the edge agent and the hub.

Both sides speak MQTT 3.1.1 (what every broker and ESP32 firmware supports), QoS 1, with a
persistent session (``clean_session=False``) and a stable client id, so that what is sent to a
node or to the hub while it is away waits for it at the broker.

Imports paho-mqtt, which both the ``edge`` and ``hub`` extras install.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from pydantic import Field, field_validator, model_validator

from vivant.config_file import Secret, StrictModel
from vivant.mqtt_read_ahead import ReadAheadClient
from vivant.wire.topics import DEFAULT_ROOT, Topics

_SCHEMES = {"mqtt": (1883, False), "mqtts": (8883, True)}


class MqttSettings(StrictModel):
    """How to reach the broker."""

    url: str = Field(
        default="mqtt://127.0.0.1:1883",
        description="mqtt://host:port, or mqtts://host:port for TLS.",
    )
    username: str | None = Field(default=None, description="Broker account name.")
    password: Secret | None = Field(default=None, description="{env: NAME} or {file: PATH}.")
    ca_file: Path | None = Field(
        default=None, description="CA bundle for mqtts (system CAs if unset)."
    )
    cert_file: Path | None = Field(default=None, description="Client certificate (TLS auth).")
    key_file: Path | None = Field(default=None, description="Client certificate's private key.")
    client_id: str | None = Field(default=None, description="Stable client id; derived if unset.")
    keepalive_s: int = Field(default=30, ge=5, le=3600)
    topic_root: str = Field(default=DEFAULT_ROOT, description="Root of every Vivant topic.")

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in _SCHEMES or not parts.hostname:
            raise ValueError("must look like mqtt://host:1883 or mqtts://host:8883")
        try:
            _ = parts.port
        except ValueError:
            raise ValueError("port must be a number from 1 to 65535") from None
        return value

    @field_validator("client_id", "username")
    @classmethod
    def _no_wildcards(cls, value: str | None) -> str | None:
        # A '+' or '#' in a client id or user name would turn an ACL pattern (%c, %u) into a
        # wildcard that grants far more than one node's topics.
        if value is not None and ("+" in value or "#" in value or "/" in value):
            raise ValueError("must not contain '+', '#' or '/'")
        return value

    @model_validator(mode="after")
    def _tls_files(self) -> MqttSettings:
        # A CA or a certificate on a plain mqtt:// URL means someone believes the link is
        # encrypted when it is not: say so instead of silently ignoring the files.
        files = [n for n in ("ca_file", "cert_file", "key_file") if getattr(self, n) is not None]
        if files and not self.tls:
            raise ValueError(f"{', '.join(files)} need an mqtts:// url (TLS)")
        if self.key_file is not None and self.cert_file is None:
            raise ValueError("key_file needs cert_file (the client certificate)")
        if self.password is not None and self.username is None:
            raise ValueError("password needs username")
        return self

    @field_validator("topic_root")
    @classmethod
    def _valid_root(cls, value: str) -> str:
        Topics(value)
        return value

    @property
    def host(self) -> str:
        """Broker host name."""
        return urlsplit(self.url).hostname or "127.0.0.1"

    @property
    def port(self) -> int:
        """Broker port (the scheme's default when the URL has none)."""
        parts = urlsplit(self.url)
        return parts.port or _SCHEMES[parts.scheme][0]

    @property
    def tls(self) -> bool:
        """Whether the connection uses TLS."""
        return _SCHEMES[urlsplit(self.url).scheme][1]

    @property
    def topics(self) -> Topics:
        """Topic builder for this root."""
        return Topics(self.topic_root)


def new_client(
    settings: MqttSettings,
    client_id: str,
    *,
    clean_session: bool = False,
    read_ahead: bool = False,
) -> paho.Client:
    """A paho client configured from *settings* (credentials, TLS); not yet connected.

    *read_ahead* reads the broker in large chunks (:mod:`vivant.mqtt_read_ahead`): for a client
    that receives a lot and runs paho's own loop (``loop_start``), not for one that runs its own
    ``select`` around ``loop_read``.
    """
    client = (ReadAheadClient if read_ahead else paho.Client)(
        CallbackAPIVersion.VERSION2,
        client_id=settings.client_id or client_id,
        clean_session=clean_session,
        protocol=paho.MQTTv311,
    )
    if settings.username is not None:
        password = settings.password.get_secret_value() if settings.password else None
        client.username_pw_set(settings.username, password)
    if settings.tls:
        context = ssl.create_default_context(
            cafile=str(settings.ca_file) if settings.ca_file else None
        )
        if settings.cert_file is not None:
            context.load_cert_chain(
                str(settings.cert_file), str(settings.key_file) if settings.key_file else None
            )
        client.tls_set_context(context)
    client.on_socket_open = _send_at_once
    return client


def _send_at_once(_client: paho.Client, _userdata: Any, sock: Any) -> None:
    """Turn Nagle's algorithm off on a new connection (paho leaves it on).

    With it on, a small packet written while an earlier one is unacknowledged waits for that
    acknowledgement, which the broker's kernel delays by up to 40 ms: a hub's reader verdict
    written just after its PUBACK of the tap, or an edge agent's badge after its previous packet,
    reached the broker about 40 ms late. MQTT packets are small and latency matters more here.
    Sockets without the option (a Unix socket, a WebSocket wrapper) are left as they are.
    """
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
