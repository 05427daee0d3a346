"""Broker accounts from the hub configuration (what ``gen-acl`` / ``gen-passwd`` write)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from hub.broker_accounts import PLACEHOLDER, broker_accounts, load_for_accounts
from hub.config import HubConfig
from tests.vivant.broker.conftest import hub_config_data
from vivant.broker.accounts import AccountError, node_username
from vivant.config_file import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def config(**changes: Any) -> HubConfig:
    return HubConfig.model_validate(hub_config_data() | changes)


def test_the_hub_gets_its_root_its_mapped_topics_and_its_discovery_topics() -> None:
    data = hub_config_data()
    data["thirdparty"]["theengs"] = [
        {"gateway": "TheengsGateway", "site": "ekilibre", "room": "accueil"}
    ]
    hub = broker_accounts(HubConfig.model_validate(data))[0]
    assert hub.username == "hub"
    assert hub.readwrite == ("vivant/v1/#",)
    assert hub.read == (
        "espresense/devices/+/kitchen",
        "home/TheengsGateway/BTtoMQTT/+",
    )
    assert "homeassistant/sensor/vivant_rooftop-viry_accueil_occupancy/config" in hub.write
    assert broker_accounts(config(home_assistant_discovery=False))[0].write == ()


def test_each_node_gets_exactly_its_own_topics() -> None:
    accounts = {a.username: a for a in broker_accounts(config())}
    entree = accounts["ekilibre-entree"]
    assert entree.readwrite == ()
    assert set(entree.write) == {
        f"vivant/v1/ekilibre/entree/{kind}"
        for kind in ("status", "telemetry", "badge", "ble", "sensor")
    }
    assert entree.read == ("vivant/v1/ekilibre/entree/config", "vivant/v1/ekilibre/entree/command")


def test_topic_root_sites_and_bridges() -> None:
    data = hub_config_data()
    data["mqtt"] = {"username": "vivant-hub", "topic_root": "acme/vivant/v1"}
    accounts = broker_accounts(HubConfig.model_validate(data), sites=["rooftop-viry"], bridges=True)
    assert [a.username for a in accounts] == [
        "vivant-hub",
        "rooftop-viry-entree",
        "bridge-rooftop-viry",
    ]
    assert accounts[0].readwrite == ("acme/vivant/v1/#",)
    assert accounts[2].write == ("acme/vivant/v1/rooftop-viry/#",)
    assert accounts[2].read == (
        "acme/vivant/v1/rooftop-viry/+/config",
        "acme/vivant/v1/rooftop-viry/+/command",
    )
    with pytest.raises(AccountError, match="unknown site"):
        broker_accounts(config(), sites=["nowhere"])


def test_two_devices_never_share_an_account() -> None:
    data = hub_config_data()
    data["sites"] += [
        {
            "id": "a-b",
            "name": "A-B",
            "rooms": [{"id": "r", "name": "R", "kind": "desk"}],
            "nodes": [{"id": "c", "rooms": ["r"]}],
        },
        {
            "id": "a",
            "name": "A",
            "rooms": [{"id": "r", "name": "R", "kind": "desk"}],
            "nodes": [{"id": "b-c", "rooms": ["r"]}],
        },
    ]
    with pytest.raises(AccountError, match="node b-c at a and node c at a-b"):
        broker_accounts(HubConfig.model_validate(data))
    with pytest.raises(AccountError, match="'ekilibre-entree'"):
        broker_accounts(config(mqtt={"username": "ekilibre-entree"}))


def test_secrets_not_available_here_do_not_stop_the_generation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VIVANT_TEST_NOT_SET", raising=False)
    data = hub_config_data()
    data["mqtt"]["password"] = {"env": "VIVANT_TEST_NOT_SET"}
    data["sites"][0]["calendar_feeds"] = [
        {"url": {"file": str(tmp_path / "missing")}, "room": "cuisine"}
    ]
    path = tmp_path / "hub.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    loaded, missing = load_for_accounts(path)
    assert missing == ["$VIVANT_TEST_NOT_SET", str(tmp_path / "missing")]
    assert loaded.mqtt.password is not None
    assert loaded.mqtt.password.get_secret_value() == PLACEHOLDER
    # Any other mistake is reported with its line, as check-config does.
    data["sites"][0]["rooms"][0]["kind"] = "attic"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"hub\.yaml:\d+: sites\.0\.rooms\.0\.kind"):
        load_for_accounts(path)


@pytest.mark.parametrize(
    "path",
    sorted((ROOT / "firmware-config" / "nodes").glob("*/*.yaml")),
    ids=lambda p: f"{p.parent.name}/{p.stem}",
)
def test_the_example_nodes_log_in_with_the_generated_user_names(path: Path) -> None:
    node = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert node["mqtt"]["username"] == node_username(node["site"], node["node"])
    assert node["mqtt"]["url"].startswith("mqtts://")
