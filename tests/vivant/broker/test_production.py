"""The shipped ``deploy/mosquitto/mosquitto.conf`` with the generated files and a test CA.

Only the paths and ports change (and the TLS listener binds the loopback): what is tested is the
file an installer copies. The hub's and the edge's own clients log in over TLS with the accounts
``gen-passwd`` made, and the ACL lets through everything they need.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from edge.agent import EdgeAgent
from edge.config import EdgeConfig
from edge.sources.badge import FakeBadgeReader
from hub.inbox import Inbox
from hub.mqtt_link import HubMqtt
from tests.edge.conftest import running
from tests.support.mosquitto import PrivateBroker, free_port
from tests.support.mqtt_probe import Probe, logged_in
from tests.support.tls import TestCa
from tests.support.waiting import eventually
from tests.vivant.broker.conftest import SecuredFiles, generate_files
from vivant.mqtt import MqttSettings, new_client

pytestmark = pytest.mark.mosquitto

ROOT = Path(__file__).resolve().parents[3]
CONF = ROOT / "deploy" / "mosquitto" / "mosquitto.conf"
NOT_AUTHORIZED = 135


@dataclass
class Production:
    """The production broker running in a test directory."""

    broker: PrivateBroker
    files: SecuredFiles
    ca: TestCa
    tls_port: int

    @property
    def plain_port(self) -> int:
        """The loopback-only plain listener."""
        return self.broker.port

    def settings(self, user: str, **extra: Any) -> MqttSettings:
        """Broker settings of *user* over TLS, trusting the test CA."""
        data = {
            "url": f"mqtts://127.0.0.1:{self.tls_port}",
            "ca_file": str(self.ca.cert),
            "username": user,
            "password": self.files.passwords[user],
            "keepalive_s": 5,
        }
        return MqttSettings.model_validate(data | extra)


def production_config(
    workdir: Path, files: SecuredFiles, ca: TestCa, tls_port: int, plain_port: int
) -> str:
    """The shipped file with this test's paths and ports."""
    server = ca.server()
    include = workdir / "conf.d"
    include.mkdir(parents=True)
    replacements = {
        "/etc/mosquitto/vivant/passwd": str(files.passwd),
        "/etc/mosquitto/vivant/acl": str(files.acl),
        "/var/lib/mosquitto/": f"{workdir}/",
        "/etc/mosquitto/certs/server.pem": str(server.cert),
        "/etc/mosquitto/certs/server.key": str(server.key),
        "/etc/mosquitto/conf.d": str(include),
        "listener 8883\n": f"listener {tls_port} 127.0.0.1\n",
        "listener 1883 127.0.0.1\n": f"listener {plain_port} 127.0.0.1\n",
    }
    text = CONF.read_text(encoding="utf-8")
    for old, new in replacements.items():
        assert old in text, f"{CONF.name} no longer has {old!r}: update this test"
        text = text.replace(old, new)
    directives = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert "allow_anonymous false" in directives
    assert not [line for line in directives if "/etc/" in line or "/var/" in line]
    return text


@pytest.fixture
def production(tmp_path: Path) -> Iterator[Production]:
    files = generate_files(tmp_path / "files")
    ca = TestCa(tmp_path / "ca", "site")
    tls_port, plain_port = free_port(), free_port()
    workdir = tmp_path / "mosquitto"
    broker = PrivateBroker(
        workdir,
        port=plain_port,
        extra_ports=(tls_port,),
        config=production_config(workdir, files, ca, tls_port, plain_port),
    )
    broker.start()
    try:
        yield Production(broker, files, ca, tls_port)
    finally:
        broker.stop()


def tls_context(ca: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca))


def test_anonymous_is_refused_on_both_listeners(production: Production) -> None:
    plain = Probe(production.plain_port)
    assert plain.connect().value == NOT_AUTHORIZED
    secure = Probe(production.tls_port, tls=tls_context(production.ca.cert))
    assert secure.connect().value == NOT_AUTHORIZED
    # The same accounts work on both.
    with logged_in(
        production.plain_port, username="hub", password=production.files.passwords["hub"]
    ):
        pass


# paho drops the socket of a failed TLS handshake without closing it (the garbage collector does,
# with a ResourceWarning): not the behaviour under test.
@pytest.mark.filterwarnings(
    "ignore:Exception ignored in. <ssl.SSLSocket:pytest.PytestUnraisableExceptionWarning"
)
def test_tls_with_the_test_ca_works_and_a_wrong_ca_fails(
    production: Production, tmp_path: Path
) -> None:
    login: dict[str, Any] = {"username": "hub", "password": production.files.passwords["hub"]}
    for host in ("127.0.0.1", "localhost"):  # the certificate names both
        with logged_in(
            production.tls_port, host=host, tls=tls_context(production.ca.cert), **login
        ):
            pass
    impostor = TestCa(tmp_path / "other-ca", "impostor")
    with pytest.raises(ssl.SSLCertVerificationError):
        Probe(production.tls_port, tls=tls_context(impostor.cert), **login).connect()
    # The real client, built from the settings, refuses it too.
    wrong = production.settings("hub", ca_file=str(impostor.cert))
    client = new_client(wrong, "vivant-hub")
    with pytest.raises(ssl.SSLCertVerificationError):
        client.connect(wrong.host, wrong.port, wrong.keepalive_s)


def test_a_node_cannot_take_over_the_hubs_session(production: Production) -> None:
    hub_login = {"username": "hub", "password": production.files.passwords["hub"]}
    with logged_in(production.plain_port, client_id="vivant-hub", **hub_login) as hub:
        impostor = Probe(
            production.tls_port,
            tls=tls_context(production.ca.cert),
            client_id="vivant-hub",
            username="ekilibre-entree",
            password=production.files.passwords["ekilibre-entree"],
        )
        assert not impostor.connect().is_failure
        try:
            time.sleep(0.5)
            assert hub.disconnects == 0, "the hub was kicked off by a node using its client id"
            assert "already connected, closing old connection" not in production.broker.log()
        finally:
            impostor.close()


def edge_config(production: Production, tmp_path: Path) -> EdgeConfig:
    settings = production.settings("ekilibre-entree")
    return EdgeConfig.model_validate(
        {
            "site": "ekilibre",
            "node": "entree",
            "rooms": ["accueil"],
            "mqtt": settings.model_dump(mode="json")
            | {"password": production.files.passwords["ekilibre-entree"]},
            "credential_key": "test-site-credential-key",
            "outbox": {"path": str(tmp_path / "outbox.sqlite3")},
            "reconnect": {"min_s": 0.05, "max_s": 0.3},
            "shutdown_flush_s": 2.0,
            "badge_readers": [{"id": "porte", "room": "accueil", "kind": "fake"}],
        }
    )


async def test_the_hub_and_the_edge_talk_over_tls_through_the_acl(
    production: Production, tmp_path: Path
) -> None:
    inbox = Inbox(1000)
    hub = HubMqtt(production.settings("hub"), inbox, client_id="vivant-hub")
    hub.start()
    try:
        await asyncio.to_thread(hub.connected.wait, 10)
        assert hub.connected.is_set(), "the hub could not log in over TLS"
        agent = EdgeAgent(edge_config(production, tmp_path))
        received: list[str] = []

        def drain() -> bool:
            for message in inbox.take(1000):
                hub.ack([message])
                received.append(message.topic)
            return "vivant/v1/ekilibre/entree/badge" in received

        async with running(agent):
            reader = agent.readers["porte"]
            assert isinstance(reader, FakeBadgeReader)
            reader.tap("04A1B2C3D4E5F6")
            await eventually(drain, within=10, what="the badge at the hub")
            # And back: the hub's retained config reaches the node through its read ACL.
            config = b'{"ts": 1764000000000, "rooms": ["accueil"], "ble_window_s": 8}'
            hub.publish("vivant/v1/ekilibre/entree/config", config, retain=True)
            await eventually(lambda: agent.node_config is not None, within=10, what="config")
        assert agent.node_config is not None
        assert agent.node_config.ble_window_s == 8
        assert "vivant/v1/ekilibre/entree/status" in received
    finally:
        hub.stop()
