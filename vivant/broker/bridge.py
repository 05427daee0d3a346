"""Mosquitto bridge from a site's broker to the central broker (``vivant mqtt gen-bridge``).

Each site keeps its own broker so the entrance, the lobby screen and the nodes keep working when
the internet drops; the bridge carries the site's topics to the central broker and brings back
what the hub sends the site's nodes:

- ``<root>/<site>/#`` **out**: everything the site's nodes publish (and the site's retained
  states) reaches the central broker, and only this site's topics;
- ``<root>/<site>/+/config`` and ``<root>/<site>/+/command`` **in**: the hub's messages to this
  site's nodes, and nothing meant for another site.

Nothing is lost while the link is down: the bridge holds a persistent session on both sides
(``cleansession false``, ``local_cleansession false``), so the site broker queues every QoS 1
message for the central one (up to its ``max_queued_messages``) and sends them on reconnection,
and the central broker keeps the bridge's subscriptions and queues what the hub sends meanwhile.
``try_private`` tells a Mosquitto central broker that this client is a bridge, which stops
messages from looping back. TLS is mandatory: the link crosses the internet.

The file holds the bridge's password in clear (Mosquitto has no other way): it is written with
mode 0600, to be owned by the ``mosquitto`` user.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field, model_validator

from vivant.broker.accounts import bridge_username
from vivant.config_file import StrictModel
from vivant.mqtt import MqttSettings
from vivant.wire.topics import HubKind, SiteId

_NO_SPACE = re.compile(r"^\S+$")


class BridgeSettings(StrictModel):
    """A site broker's bridge to the central broker."""

    site: SiteId = Field(description="The site whose broker this is.")
    central: MqttSettings = Field(
        description="The central broker: mqtts:// URL, CA, bridge account (bridge-<site>)."
    )
    reconnect_min_s: int = Field(default=5, ge=1, le=3600, description="First reconnect delay.")
    reconnect_max_s: int = Field(default=60, ge=1, le=3600, description="Longest reconnect delay.")

    @model_validator(mode="after")
    def _secure(self) -> BridgeSettings:
        central = self.central
        if not central.tls:
            raise ValueError("the central broker must be reached over TLS (mqtts://)")
        if central.password is None and central.cert_file is None:
            raise ValueError("the bridge needs a password or a client certificate")
        if central.password is not None:
            secret = central.password.get_secret_value()
            if not _NO_SPACE.fullmatch(secret):
                raise ValueError("the bridge password must not contain spaces or line breaks")
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must be at least reconnect_min_s")
        return self

    @property
    def username(self) -> str:
        """The bridge's account at the central broker (``bridge-<site>`` by default)."""
        return self.central.username or bridge_username(self.site)

    @property
    def connection(self) -> str:
        """Name of the bridge, also its client id at the central broker."""
        return f"vivant-bridge-{self.site}"


def bridge_topics(settings: BridgeSettings) -> list[tuple[str, str]]:
    """``(filter, direction)`` pairs of the bridge: the site's topics out, its nodes' in."""
    root = f"{settings.central.topic_root}/{settings.site}"
    return [
        (f"{root}/#", "out"),
        *((f"{root}/+/{kind.value}", "in") for kind in HubKind),
    ]


def _path(value: Path) -> str:
    text = str(value.absolute())
    if not _NO_SPACE.fullmatch(text):
        raise ValueError(f"{text}: Mosquitto paths must not contain spaces")
    return text


def render_bridge(settings: BridgeSettings) -> str:
    """The text of a Mosquitto configuration file (``conf.d/``) declaring the bridge."""
    central = settings.central
    lines = [
        f"# Bridge of site {settings.site} to the central broker, written by",
        "# `vivant mqtt gen-bridge`. Holds a password: mode 0600, owned by mosquitto.",
        f"connection {settings.connection}",
        f"address {central.host}:{central.port}",
        "bridge_protocol_version mqttv311",
        "try_private true",
        f"remote_clientid {settings.connection}",
        f"local_clientid {settings.connection}-local",
        "cleansession false",
        "local_cleansession false",
        "start_type automatic",
        f"restart_timeout {settings.reconnect_min_s} {settings.reconnect_max_s}",
        f"keepalive_interval {central.keepalive_s}",
        # The bridge's up/down state on the site broker only ($SYS/broker/connection/…/state):
        # the central broker's ACL gives the bridge nothing outside its site.
        "notifications true",
        "notifications_local_only true",
        "bridge_outgoing_retain true",
        f"remote_username {settings.username}",
    ]
    if central.password is not None:
        lines.append(f"remote_password {central.password.get_secret_value()}")
    if central.ca_file is not None:
        lines.append(f"bridge_cafile {_path(central.ca_file)}")
    else:
        lines.append("bridge_capath /etc/ssl/certs")
    if central.cert_file is not None:
        lines.append(f"bridge_certfile {_path(central.cert_file)}")
    if central.key_file is not None:
        lines.append(f"bridge_keyfile {_path(central.key_file)}")
    lines += ["bridge_insecure false", "bridge_tls_version tlsv1.2"]
    lines += [f"topic {topic} {direction} 1" for topic, direction in bridge_topics(settings)]
    return "\n".join(lines) + "\n"
