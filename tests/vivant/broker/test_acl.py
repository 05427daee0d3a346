"""The generated ACL, enforced by a real Mosquitto: each node its own topics, the hub everything."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.mosquitto import PrivateBroker
from tests.support.mqtt_probe import SUBACK_FAILURE, Probe, logged_in
from tests.vivant.broker.conftest import SecuredBroker, generate_files
from vivant.broker.accounts import Account, AccountError
from vivant.broker.acl import render_acl

pytestmark = pytest.mark.mosquitto

ENTREE = "vivant/v1/ekilibre/entree"
CUISINE = "vivant/v1/ekilibre/cuisine"
VIRY = "vivant/v1/rooftop-viry/entree"
NOT_AUTHORIZED = 135  # paho's reason code for MQTT 3.1.1's CONNACK 5


def badge(seq: int) -> str:
    return json.dumps({"id": f"b{seq}", "seq": seq})


def test_a_node_publishes_only_its_own_topics(secured: SecuredBroker) -> None:
    with (
        logged_in(secured.port, **secured.login("hub")) as hub,
        logged_in(secured.port, **secured.login("ekilibre-entree")) as node,
    ):
        assert hub.subscribe("vivant/v1/#") == 1
        # Forgeries first, then a message of its own: the broker keeps one client's order, so
        # once the last one is in, any forgery that got through would be in too.
        node.publish(f"{CUISINE}/badge", badge(1))  # another node of the same site
        node.publish(f"{VIRY}/badge", badge(2))  # another site
        node.publish(f"{ENTREE}/config", "{}", retain=True)  # its own config: the hub's topic
        node.publish("vivant/v1/hub/status", "offline", retain=True)  # the hub's status
        node.publish(f"{ENTREE}/badge", badge(3))
        hub.wait_for(f"{ENTREE}/badge")
        assert [m.topic for m in hub.messages()] == [f"{ENTREE}/badge"]


def test_the_hub_reads_and_writes_everything_under_the_root(secured: SecuredBroker) -> None:
    with (
        logged_in(secured.port, **secured.login("hub")) as hub,
        logged_in(secured.port, **secured.login("ekilibre-entree")) as node,
    ):
        assert node.subscribe(f"{ENTREE}/config") == 1
        assert node.subscribe(f"{ENTREE}/command") == 1
        hub.publish(f"{ENTREE}/config", '{"v": 1}', retain=True)
        hub.publish(f"{CUISINE}/config", '{"v": 2}', retain=True)
        hub.publish(f"{ENTREE}/command", '{"c": 1}')
        node.wait_for(f"{ENTREE}/command")
        assert {m.topic for m in node.messages()} == {f"{ENTREE}/config", f"{ENTREE}/command"}
        # Third-party topics the hub maps, and its Home Assistant discovery topics.
        assert hub.subscribe("espresense/devices/+/kitchen") == 1
        hub.publish("homeassistant/sensor/vivant_ekilibre_cuisine_occupancy/config", "{}")


@pytest.mark.parametrize(
    "topic_filter",
    ["#", "vivant/#", "vivant/v1/#", "vivant/v1/ekilibre/#", "vivant/v1/+/+/+", "$SYS/#"],
)
def test_a_node_subscribed_to_a_wildcard_gets_only_its_own_topics(
    secured: SecuredBroker, topic_filter: str
) -> None:
    with (
        logged_in(secured.port, **secured.login("hub")) as hub,
        logged_in(secured.port, **secured.login("ekilibre-cuisine")) as other,
        logged_in(secured.port, **secured.login("ekilibre-entree")) as spy,
    ):
        # Mosquitto 2.0 grants the subscription and then delivers only what the ACL lets the
        # client read (later versions may refuse it outright with 0x80): either way, nothing
        # but the node's own config and command may arrive.
        assert spy.subscribe(topic_filter) in (1, SUBACK_FAILURE)
        assert spy.subscribe(f"{ENTREE}/command") == 1
        hub.publish(f"{CUISINE}/config", '{"v": 2}', retain=True)
        hub.publish(f"{VIRY}/command", '{"c": 0}')
        hub.publish("vivant/v1/ekilibre/occupancy/accueil", '{"count": 3}', retain=True)
        other.publish(f"{CUISINE}/badge", badge(1))
        other.publish(f"{CUISINE}/status", "online", retain=True)
        hub.publish(f"{ENTREE}/command", '{"c": 1}')
        spy.wait_for(f"{ENTREE}/command")
        assert {m.topic for m in spy.messages()} == {f"{ENTREE}/command"}
        # Retained messages are checked too when a new subscription would replay them.
        assert spy.subscribe(f"{CUISINE}/config") in (1, SUBACK_FAILURE)
        assert spy.subscribe("vivant/v1/ekilibre/occupancy/#") in (1, SUBACK_FAILURE)
        hub.publish(f"{ENTREE}/command", '{"c": 2}')
        spy.wait_for(f"{ENTREE}/command", count=2)
        assert {m.topic for m in spy.messages()} == {f"{ENTREE}/command"}


def test_a_node_cannot_read_what_other_nodes_publish(secured: SecuredBroker) -> None:
    with (
        logged_in(secured.port, **secured.login("hub")) as hub,
        logged_in(secured.port, **secured.login("ekilibre-cuisine")) as other,
        logged_in(secured.port, **secured.login("ekilibre-entree")) as spy,
    ):
        for topic_filter in (f"{CUISINE}/badge", "vivant/v1/+/+/badge", f"{ENTREE}/badge"):
            spy.subscribe(topic_filter)
        assert spy.subscribe(f"{ENTREE}/config") == 1
        other.publish(f"{CUISINE}/badge", badge(1))
        spy.client.publish(f"{ENTREE}/badge", badge(2), qos=1).wait_for_publish(5)
        hub.publish(f"{ENTREE}/config", '{"v": 1}')
        spy.wait_for(f"{ENTREE}/config")
        assert {m.topic for m in spy.messages()} == {f"{ENTREE}/config"}


def test_the_hub_reads_nothing_beyond_its_root_and_mapped_topics(secured: SecuredBroker) -> None:
    with logged_in(secured.port, **secured.login("hub")) as hub:
        hub.subscribe("#")
        discovery = "homeassistant/sensor/vivant_ekilibre_cuisine_occupancy/config"
        hub.publish(discovery, "{}")  # write-only for the hub
        hub.publish(f"{ENTREE}/command", '{"c": 1}')
        hub.wait_for(f"{ENTREE}/command")
        assert {m.topic for m in hub.messages()} == {f"{ENTREE}/command"}


@pytest.mark.parametrize(
    "login",
    [
        {},  # anonymous
        {"username": "ekilibre-entree", "password": "wrong-password-123"},
        {"username": "ekilibre-entree"},  # no password
        {"username": "intruder", "password": "whatever-password"},
    ],
)
def test_anonymous_and_wrong_logins_are_refused(
    secured: SecuredBroker, login: dict[str, Any]
) -> None:
    probe = Probe(secured.port, **login)
    assert probe.connect().value == NOT_AUTHORIZED


def test_hand_made_accounts_for_third_party_devices(tmp_path: Path) -> None:
    appendix = "user espresense-kitchen\ntopic write espresense/devices/+/kitchen\n"
    files = generate_files(
        tmp_path / "files", appendix=appendix, extra_users=("espresense-kitchen",)
    )
    assert files.acl.read_text(encoding="utf-8").endswith(appendix)
    broker = PrivateBroker(
        tmp_path / "mosquitto", allow_anonymous=False, extra_config=files.mosquitto_lines()
    )
    broker.start()
    try:
        login = {
            "username": "espresense-kitchen",
            "password": files.passwords["espresense-kitchen"],
        }
        with (
            logged_in(broker.port, username="hub", password=files.passwords["hub"]) as hub,
            logged_in(broker.port, **login) as device,
        ):
            hub.subscribe("espresense/devices/+/kitchen")  # a mapped room: the hub may read it
            hub.subscribe("vivant/v1/#")
            device.publish(f"{ENTREE}/badge", badge(1))  # not a Vivant node
            device.publish("espresense/devices/irk:alice/kitchen", '{"rssi": -60}')
            hub.wait_for("espresense/devices/irk:alice/kitchen")
            assert len(hub.messages()) == 1
    finally:
        broker.stop()


def test_two_accounts_with_one_name_are_refused() -> None:
    # Site "a-b" node "c" and site "a" node "b-c" would both be "a-b-c".
    clash = [Account("a-b-c", "node c at a-b"), Account("a-b-c", "node b-c at a")]
    with pytest.raises(AccountError, match="would share the user name 'a-b-c'"):
        render_acl(clash)


def test_the_acl_file_grants_nothing_to_anonymous_clients(secured: SecuredBroker) -> None:
    lines = [
        line
        for line in secured.files.acl.read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    ]
    assert lines[0] == "user hub", "any line before the first user would apply to anonymous"
    wildcards = [line for line in lines if line.startswith("topic") and "#" in line]
    assert wildcards == ["topic readwrite vivant/v1/#"], "only the hub has a '#'"
