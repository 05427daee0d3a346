"""A site broker bridged to a central one with the file ``vivant mqtt gen-bridge`` writes.

Two real Mosquitto processes: the central one with the generated ACL and password file (the
site's ``bridge-<site>`` account) and a TLS listener signed by a test CA; the site one with the
generated bridge. Messages carry sequence numbers, so a loss or a duplicate shows.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.mosquitto import PrivateBroker, free_port
from tests.support.mqtt_probe import Probe, logged_in
from tests.support.tls import TestCa
from tests.support.waiting import wait_until
from tests.vivant.broker.conftest import SecuredFiles, generate_files
from vivant.broker.bridge import BridgeSettings, render_bridge
from vivant.cli import main

pytestmark = pytest.mark.mosquitto

SITE = "ekilibre"
BADGE = f"vivant/v1/{SITE}/entree/badge"
CONFIG = f"vivant/v1/{SITE}/entree/config"
STATE = f"$SYS/broker/connection/vivant-bridge-{SITE}/state"


@dataclass
class Network:
    """A central broker and one site broker bridged to it."""

    central: PrivateBroker
    site: PrivateBroker
    files: SecuredFiles
    bridge_conf: Path

    def hub(self, client_id: str | None = None, clean_session: bool = True) -> Probe:
        """A client of the central broker logged in as the hub (not yet connected)."""
        return Probe(
            self.central.port,
            username="hub",
            password=self.files.passwords["hub"],
            client_id=client_id,
            clean_session=clean_session,
        )


def seqs(probe: Probe, topic: str) -> list[int]:
    return [json.loads(m.payload)["seq"] for m in probe.messages(topic)]


@pytest.fixture
def network(tmp_path: Path) -> Iterator[Network]:
    files = generate_files(tmp_path / "files", bridges=True)
    ca = TestCa(tmp_path / "ca", "central")
    server = ca.server()
    tls_port = free_port()
    central = PrivateBroker(
        tmp_path / "central",
        allow_anonymous=False,
        extra_ports=(tls_port,),
        extra_config=(
            files.mosquitto_lines()
            + f"listener {tls_port} 127.0.0.1\ncertfile {server.cert}\nkeyfile {server.key}\n"
        ),
    )
    bridge_conf = tmp_path / "site" / "conf.d" / "bridge.conf"
    code = main(
        [
            "mqtt",
            "gen-bridge",
            "--site",
            SITE,
            "--central",
            f"mqtts://127.0.0.1:{tls_port}",
            "--ca-file",
            str(ca.cert),
            "--password-file",
            str(tmp_path / "files" / "secrets" / f"bridge-{SITE}"),
            "--reconnect-min-s",
            "1",
            "--reconnect-max-s",
            "2",
            "-o",
            str(bridge_conf),
        ]
    )
    assert code == 0
    site = PrivateBroker(tmp_path / "site", extra_config=bridge_conf.read_text(encoding="utf-8"))
    central.start()
    site.start()
    try:
        yield Network(central, site, files, bridge_conf)
    finally:
        site.stop()
        central.stop()


def wait_bridge_up(site_port: int) -> None:
    with logged_in(site_port) as watcher:
        watcher.subscribe(STATE)
        wait_until(
            lambda: [m.payload for m in watcher.messages(STATE)][-1:] == [b"1"],
            within=15,
            what="the bridge connected",
        )


def test_the_bridge_carries_only_the_sites_topics_each_way(network: Network) -> None:
    wait_bridge_up(network.site.port)
    hub = network.hub()
    assert not hub.connect().is_failure
    try:
        assert hub.subscribe("vivant/v1/#") == 1
        with logged_in(network.site.port) as local:
            local.subscribe("vivant/v1/+/+/config")
            # Out: another site's topic stays on this site's broker; this site's goes up.
            local.publish("vivant/v1/rooftop-viry/entree/badge", json.dumps({"seq": -1}))
            local.publish(BADGE, json.dumps({"seq": 0}))
            hub.wait_for(BADGE)
            assert {m.topic for m in hub.messages()} == {BADGE}
            # In: the hub's config for this site's node comes down, another site's does not.
            hub.publish("vivant/v1/rooftop-viry/entree/config", "{}")
            hub.publish(CONFIG, json.dumps({"seq": 1}), retain=True)
            local.wait_for(CONFIG)
            # No loop: the config that came down is not sent back up.
            local.publish(BADGE, json.dumps({"seq": 2}))
            hub.wait_for(BADGE, count=2)
            assert len(hub.messages(CONFIG)) == 1
            assert {m.topic for m in local.messages()} == {CONFIG}
    finally:
        hub.close()


def test_a_site_cut_from_the_central_broker_queues_then_catches_up(network: Network) -> None:
    wait_bridge_up(network.site.port)
    # The hub's persistent session at the central broker: what arrives while it is away waits.
    hub = network.hub(client_id="vivant-hub", clean_session=False)
    assert not hub.connect().is_failure
    assert hub.subscribe(f"vivant/v1/{SITE}/#") == 1
    try:
        with logged_in(network.site.port) as node:
            for seq in range(50):
                node.publish(BADGE, json.dumps({"seq": seq}))
            hub.wait_for(BADGE, count=50, within=15)
            network.central.stop()  # the internet drops
            for seq in range(50, 200):
                node.publish(BADGE, json.dumps({"seq": seq}))  # the site keeps working
            network.central.start()
            wait_until(
                lambda: len(set(seqs(hub, BADGE))) >= 200,
                within=30,
                what="every message after the central broker came back",
            )
        received = seqs(hub, BADGE)
        assert sorted(set(received)) == list(range(200)), "missing messages"
        # QoS 1 is at least once: what was in flight when the link broke may come twice (the
        # hub drops a repeated (node, id)); at most Mosquitto's in-flight windows of 20 messages,
        # the bridge's and the hub's session's.
        assert len(received) - 200 <= 40, f"{len(received) - 200} duplicates"
    finally:
        hub.close()


def test_the_bridge_file_is_private_and_scoped(network: Network) -> None:
    text = network.bridge_conf.read_text(encoding="utf-8")
    assert network.bridge_conf.stat().st_mode & 0o077 == 0
    assert network.files.passwords[f"bridge-{SITE}"] in text
    topics = [line for line in text.splitlines() if line.startswith("topic ")]
    assert topics == [
        f"topic vivant/v1/{SITE}/# out 1",
        f"topic vivant/v1/{SITE}/+/config in 1",
        f"topic vivant/v1/{SITE}/+/command in 1",
    ]
    assert "cleansession false" in text.splitlines()


def test_a_bridge_without_tls_or_credentials_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="over TLS"):
        BridgeSettings.model_validate(
            {
                "site": SITE,
                "central": {"url": "mqtt://central", "username": "b", "password": "x" * 20},
            }
        )
    with pytest.raises(ValueError, match="password or a client certificate"):
        BridgeSettings.model_validate({"site": SITE, "central": {"url": "mqtts://central"}})
    settings = BridgeSettings.model_validate(
        {
            "site": SITE,
            "central": {
                "url": "mqtts://central.example",
                "cert_file": str(tmp_path / "site.pem"),
                "key_file": str(tmp_path / "site.key"),
            },
        }
    )
    text = render_bridge(settings)
    assert "address central.example:8883" in text
    assert "bridge_capath /etc/ssl/certs" in text
    assert "remote_password" not in text
