"""An operator's existing ESPresense node plugs in unchanged: its messages on Mosquitto make an
enrolled member present, and unknown devices are only counted."""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path

import paho.mqtt.publish as publish
from sqlalchemy import select

from hub.config import HubConfig
from hub.db.models import Credential, CredentialKind, PresenceSession
from hub.members import add_member
from tests.support.hub_server import hub_config, running_hub
from tests.support.waiting import wait_until

TAG = "iBeacon:e2c56db5-dffb-48d2-b060-d0f5a71096e0-100-7"


def test_espresense_sighting_of_an_enrolled_tag_makes_the_member_present(
    system_broker_url: str, topic_root: str, tmp_path: Path
) -> None:
    base = f"t{secrets.token_hex(4)}/espresense"  # a base topic of this test's own
    data = hub_config(
        system_broker_url, topic_root, f"sqlite:///{tmp_path / 'hub.db'}",
        client_id=f"hub-{topic_root[:9]}",
    ).model_dump(mode="json")  # fmt: skip
    data["mqtt"].pop("password", None)
    data["thirdparty"] = {
        "espresense": [
            {
                "espresense_room": "kitchen",
                "site": "ekilibre",
                "room": "cuisine",
                "base_topic": base,
            }
        ]
    }
    config = HubConfig.model_validate(data)
    with running_hub(config) as hub:
        with hub.runtime.sessions.begin() as session:
            member = add_member(session, "Nora")
            member.credentials.append(
                Credential(
                    kind=CredentialKind.BLE_TAG.value, value=TAG, created_at=member.created_at
                )
            )
        beacon = {"id": "iBeacon:E2C56DB5-DFFB-48D2-B060-D0F5A71096E0-100-7", "idType": 180,
                  "rssi": -64, "distance": 1.2, "mac": "d0b5c2a1f3e4"}  # fmt: skip
        stranger = {"id": "d0b5c2a1f3e9", "rssi": -80, "mac": "d0b5c2a1f3e9"}
        for _ in range(6):  # the locator places a tag after a few sightings, seconds apart
            time.sleep(0.3)
            for device in (beacon, stranger):
                publish.single(f"{base}/devices/{device['id']}/kitchen", json.dumps(device),
                               hostname="127.0.0.1", port=1883)  # fmt: skip

        def present() -> bool:
            with hub.runtime.sessions() as session:
                return session.scalar(select(PresenceSession)) is not None

        wait_until(present, within=10, what="presence from ESPresense")
        with hub.runtime.sessions() as session:
            visit = session.scalars(select(PresenceSession)).one()
        assert (visit.arrival_source, visit.site_id) == ("ble", "ekilibre")
        assert hub.runtime.live.sites["ekilibre"].locator.room_of(TAG) == "cuisine"
        registry = hub.runtime.metrics.registry
        wait_until(
            lambda: (
                registry.get_sample_value("vivant_messages_accepted_total", {"kind": "thirdparty"})
                == 12
            ),
            what="all 12 ESPresense messages accepted",
        )
