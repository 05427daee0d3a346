"""Optional Home Assistant MQTT discovery: each room's occupancy appears as an HA sensor.

Many operators already run Home Assistant on the same broker (their ESPresense and Theengs nodes
often feed it). Discovery lets HA build the entities itself from retained config messages on
``<prefix>/sensor/<object_id>/config`` (HA's MQTT discovery: ``<discovery_prefix>/<component>/
[<node_id>/]<object_id>/config``, ``object_id`` in ``[a-zA-Z0-9_-]``), so nothing is typed by
hand and nothing drifts when a room is added.

Each room becomes one sensor whose state is ``count`` read from the room's retained occupancy
topic; ``confidence``, ``flags`` and ``updated`` become attributes from the same topic. The
entity is available while the hub's status topic says ``online`` (the hub's Last Will says
``offline``), so HA greys the value out instead of showing a stale count. Rooms are grouped
into one HA device per site.

Publish every message **retained** (QoS 1) when the hub starts and after each reconnect. To
remove the entities, publish the :func:`removal_messages` (empty retained payloads).
"""

from __future__ import annotations

import json

from hub.config import HubConfig, RoomSettings, SiteSettings
from vivant import __version__
from vivant.wire.payloads import Status
from vivant.wire.topics import Topics

DEFAULT_PREFIX = "homeassistant"
COMPONENT = "sensor"
VALUE_TEMPLATE = "{{ value_json.count }}"
ATTRIBUTES_TEMPLATE = (
    "{{ {'confidence': value_json.confidence, 'flags': value_json.flags,"
    " 'updated': value_json.updated} | tojson }}"
)


def _check_prefix(prefix: str) -> str:
    levels = prefix.split("/")
    if any(not level or set(level) & {"+", "#", "\0"} for level in levels):
        raise ValueError(f"discovery prefix {prefix!r} must be MQTT topic levels, no wildcards")
    return prefix


def object_id(site: SiteSettings, room: RoomSettings) -> str:
    """HA object id and unique id of a room's occupancy sensor."""
    return f"vivant_{site.id}_{room.id}_occupancy"


def config_topic(site: SiteSettings, room: RoomSettings, prefix: str = DEFAULT_PREFIX) -> str:
    """Discovery topic of a room's occupancy sensor."""
    return f"{_check_prefix(prefix)}/{COMPONENT}/{object_id(site, room)}/config"


def sensor_config(topics: Topics, site: SiteSettings, room: RoomSettings) -> dict[str, object]:
    """Discovery payload (as a dict) of one room's occupancy sensor."""
    state_topic = topics.occupancy(site.id, room.id)
    return {
        "name": room.name,
        "has_entity_name": True,
        "unique_id": object_id(site, room),
        "state_topic": state_topic,
        "value_template": VALUE_TEMPLATE,
        "unit_of_measurement": "people",
        "state_class": "measurement",
        "icon": "mdi:account-group",
        "json_attributes_topic": state_topic,
        "json_attributes_template": ATTRIBUTES_TEMPLATE,
        "availability_topic": topics.hub_status,
        "payload_available": Status.ONLINE.value,
        "payload_not_available": Status.OFFLINE.value,
        "device": {
            "identifiers": [f"vivant_{site.id}"],
            "name": site.name,
            "manufacturer": "Vivant",
            "model": "Coworking site",
            "sw_version": __version__,
        },
        "origin": {"name": "Vivant", "sw_version": __version__},
    }


def discovery_messages(config: HubConfig, prefix: str = DEFAULT_PREFIX) -> list[tuple[str, bytes]]:
    """(topic, payload) of every room's discovery config; publish them retained."""
    topics = Topics(config.mqtt.topic_root)
    return [
        (
            config_topic(site, room, prefix),
            json.dumps(sensor_config(topics, site, room), ensure_ascii=False).encode("utf-8"),
        )
        for site in config.sites
        for room in site.rooms
    ]


def removal_messages(config: HubConfig, prefix: str = DEFAULT_PREFIX) -> list[tuple[str, bytes]]:
    """(topic, empty payload) that make HA delete the sensors; publish them retained."""
    return [(config_topic(site, room, prefix), b"") for site in config.sites for room in site.rooms]
