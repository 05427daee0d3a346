"""Through the whole hub: sensor readings on Mosquitto become a retained occupancy message and
time series in a real VictoriaMetrics server (InfluxDB write protocol)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import paho.mqtt.client as paho
import paho.mqtt.publish as publish
from paho.mqtt.enums import CallbackAPIVersion

from hub.config import HubConfig
from tests.support.hub_server import SITE, hub_config, running_hub
from tests.support.victoria import victoria_metrics
from tests.support.waiting import wait_until


def config_with_timeseries(broker: str, root: str, tmp_path: Path, vm_url: str) -> HubConfig:
    data = hub_config(broker, root, f"sqlite:///{tmp_path / 'hub.db'}", client_id=f"hub-{root[:9]}")
    raw = data.model_dump(mode="json")
    raw["mqtt"].pop("password", None)
    raw["live_tick_s"] = 0.5
    raw["sites"][0]["nodes"].append({"id": "pi-cuisine", "rooms": ["cuisine"]})
    raw["timeseries"] = {
        "url": vm_url,
        "server": "victoriametrics",
        "flush_interval_s": 0.2,
        "spool_path": str(tmp_path / "spool.db"),
    }
    return HubConfig.model_validate(raw)


def test_sensor_readings_reach_occupancy_topic_and_time_series(
    system_broker_url: str, topic_root: str, tmp_path: Path
) -> None:
    retained: list[dict[str, object]] = []
    got = threading.Event()

    def on_message(_c: paho.Client, _u: object, message: paho.MQTTMessage) -> None:
        retained.append(json.loads(message.payload))
        got.set()

    with victoria_metrics(tmp_path / "vm") as vm:
        config = config_with_timeseries(system_broker_url, topic_root, tmp_path, vm.url)
        with running_hub(config):
            now = int(time.time() * 1000)
            readings = [("motion", 1), ("people_in", 2), ("co2", 612.0), ("temperature", 21.5)]
            for index, (kind, value) in enumerate(readings):
                body = {"id": f"s{index}", "ts": now + index, "room": "cuisine", "kind": kind,
                        "value": value}  # fmt: skip
                publish.single(f"{topic_root}/{SITE}/pi-cuisine/sensor", json.dumps(body), qos=1,
                               hostname="127.0.0.1", port=1883)  # fmt: skip
            co2 = vm.wait_for_samples('sensor_co2{site="ekilibre",room="cuisine"}', 1, within=15)
            # The first ticks may write the empty room before the readings are applied.
            selector = 'occupancy_count{room="cuisine"}'
            wait_until(
                lambda: any(s.values and s.values[-1] == 2 for s in vm.export(selector)),
                within=15,
                what="the room's count of 2 in the time series",
            )
            occupancy = vm.export(selector)
        # A late subscriber still gets the room's occupancy: it is retained.
        subscriber = paho.Client(CallbackAPIVersion.VERSION2)
        subscriber.on_message = on_message
        subscriber.connect("127.0.0.1", 1883)
        subscriber.subscribe(f"{topic_root}/{SITE}/occupancy/cuisine", qos=1)
        subscriber.loop_start()
        try:
            wait_until(got.is_set, what="retained occupancy")
        finally:
            subscriber.loop_stop()
            subscriber.disconnect()
        # Leave nothing retained behind on the shared broker.
        publish.single(f"{topic_root}/{SITE}/occupancy/cuisine", b"", retain=True,
                       hostname="127.0.0.1", port=1883)  # fmt: skip
    assert co2[0].values == [612.0]
    assert co2[0].timestamps_ms == [now + 2]
    assert co2[0].labels["node"] == "pi-cuisine"
    assert occupancy[-1].values[-1] == 2
    assert retained[0]["count"] == 2
    assert 0 < float(retained[0]["confidence"]) <= 1  # type: ignore[arg-type]
