"""Home Assistant discovery: one retained sensor config per room, well-formed for HA."""

from __future__ import annotations

import json
import re

import pytest

from hub.config import HubConfig
from hub.ha_discovery import (
    ATTRIBUTES_TEMPLATE,
    VALUE_TEMPLATE,
    config_topic,
    discovery_messages,
    removal_messages,
)
from vivant.config_file import parse_yaml
from vivant.wire.topics import Topics

CONFIG = parse_yaml(
    """\
mqtt: {topic_root: coworking/vivant/v1}
sites:
  - id: ekilibre
    name: éKilibre
    rooms:
      - {id: accueil, name: Accueil, kind: lobby}
      - {id: cuisine, name: Cuisine, kind: community, capacity: 16}
  - id: viry
    name: Le Rooftop de Viry
    rooms:
      - {id: rooftop, name: Rooftop, kind: community, capacity: 40}
""",
    HubConfig,
)
# HA: <discovery_prefix>/<component>/[<node_id>/]<object_id>/config, ids in [a-zA-Z0-9_-].
TOPIC = re.compile(r"^[^+#]+/sensor/[a-zA-Z0-9_-]+/config$")
REQUIRED = {
    "name",
    "unique_id",
    "state_topic",
    "value_template",
    "unit_of_measurement",
    "json_attributes_topic",
    "availability_topic",
    "payload_available",
    "payload_not_available",
    "device",
}


def payloads() -> dict[str, dict[str, object]]:
    return {topic: json.loads(payload) for topic, payload in discovery_messages(CONFIG)}


def test_one_sensor_per_room_on_well_formed_topics() -> None:
    messages = payloads()
    assert sorted(messages) == [
        "homeassistant/sensor/vivant_ekilibre_accueil_occupancy/config",
        "homeassistant/sensor/vivant_ekilibre_cuisine_occupancy/config",
        "homeassistant/sensor/vivant_viry_rooftop_occupancy/config",
    ]
    assert all(TOPIC.fullmatch(topic) for topic in messages)


def test_sensor_reads_the_room_occupancy_topic_and_the_hub_status() -> None:
    topics = Topics("coworking/vivant/v1")
    config = payloads()["homeassistant/sensor/vivant_ekilibre_cuisine_occupancy/config"]
    assert set(config) >= REQUIRED
    assert config["state_topic"] == topics.occupancy("ekilibre", "cuisine")
    assert config["json_attributes_topic"] == config["state_topic"]
    assert config["value_template"] == VALUE_TEMPLATE == "{{ value_json.count }}"
    assert config["json_attributes_template"] == ATTRIBUTES_TEMPLATE
    assert config["unit_of_measurement"] == "people"
    assert config["state_class"] == "measurement"
    assert config["availability_topic"] == "coworking/vivant/v1/hub/status"
    assert (config["payload_available"], config["payload_not_available"]) == ("online", "offline")
    assert config["unique_id"] == "vivant_ekilibre_cuisine_occupancy"
    assert config["name"] == "Cuisine"


def test_rooms_are_grouped_into_one_device_per_site() -> None:
    devices = {topic: config["device"] for topic, config in payloads().items()}
    ekilibre = [d for t, d in devices.items() if "_ekilibre_" in t]
    assert len(ekilibre) == 2
    assert ekilibre[0] == ekilibre[1]
    assert isinstance(ekilibre[0], dict)
    assert ekilibre[0]["identifiers"] == ["vivant_ekilibre"]
    assert ekilibre[0]["name"] == "éKilibre"
    viry = devices["homeassistant/sensor/vivant_viry_rooftop_occupancy/config"]
    assert isinstance(viry, dict)
    assert viry["identifiers"] == ["vivant_viry"]


def test_unique_ids_are_unique() -> None:
    ids = [config["unique_id"] for config in payloads().values()]
    assert len(ids) == len(set(ids))


def test_payloads_are_utf8_json_objects() -> None:
    for _topic, payload in discovery_messages(CONFIG):
        assert isinstance(json.loads(payload.decode("utf-8")), dict)
    assert "éKilibre".encode() in discovery_messages(CONFIG)[0][1]


def test_custom_prefix_and_removal() -> None:
    messages = discovery_messages(CONFIG, prefix="ha/discovery")
    assert all(topic.startswith("ha/discovery/sensor/") for topic, _ in messages)
    removal = removal_messages(CONFIG, prefix="ha/discovery")
    assert [topic for topic, _ in removal] == [topic for topic, _ in messages]
    assert all(payload == b"" for _, payload in removal)


@pytest.mark.parametrize("prefix", ["", "home/+", "#", "a//b"])
def test_invalid_prefixes_are_refused(prefix: str) -> None:
    site = CONFIG.sites[0]
    with pytest.raises(ValueError, match="prefix"):
        config_topic(site, site.rooms[0], prefix)
