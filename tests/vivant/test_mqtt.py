"""Broker settings shared by edge and hub."""

from __future__ import annotations

import socket
import uuid

import pytest
from pydantic import ValidationError

from vivant.config_file import ConfigError, parse_yaml
from vivant.mqtt import MqttSettings, new_client
from vivant.mqtt_read_ahead import ReadAheadSocket


def test_defaults_and_url_parts() -> None:
    plain = MqttSettings()
    assert (plain.host, plain.port, plain.tls) == ("127.0.0.1", 1883, False)
    secure = MqttSettings(url="mqtts://broker.local")
    assert (secure.host, secure.port, secure.tls) == ("broker.local", 8883, True)


@pytest.mark.parametrize("url", ["http://broker", "mqtt://", "mqtt://host:99999", "broker:1883"])
def test_bad_urls_are_refused(url: str) -> None:
    with pytest.raises(ValidationError):
        MqttSettings(url=url)


@pytest.mark.parametrize("field", ["client_id", "username"])
@pytest.mark.parametrize("value", ["node+1", "all#", "a/b"])
def test_wildcards_in_identities_are_refused(field: str, value: str) -> None:
    # %c and %u in a Mosquitto ACL would turn into wildcards.
    with pytest.raises(ValidationError, match="must not contain"):
        MqttSettings.model_validate({field: value})


def test_bad_topic_root_is_refused() -> None:
    with pytest.raises(ValidationError):
        MqttSettings(topic_root="Vivant/v1")


def test_client_carries_credentials_without_exposing_them() -> None:
    settings = MqttSettings.model_validate({"username": "hub", "password": "pw-secret-123"})
    client = new_client(settings, "vivant-hub")
    assert "pw-secret-123" not in repr(settings)
    assert client._username == b"hub"  # paho keeps them as bytes for CONNECT
    assert client._password == b"pw-secret-123"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"ca_file": "/etc/vivant/ca.crt"}, "ca_file need an mqtts:// url"),
        (
            {"url": "mqtts://broker", "key_file": "/etc/vivant/node.key"},
            "key_file needs cert_file",
        ),
        ({"password": "a-password-alone"}, "password needs username"),
    ],
)
def test_inconsistent_tls_and_credentials_are_refused(data: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        MqttSettings.model_validate(data)


@pytest.mark.parametrize(
    ("side", "text"),
    [
        ("hub", "mqtt:\n  username: 'hub#'\nsites:\n  - {id: s, name: S, rooms: []}\n"),
        ("edge", "site: s\nnode: n\nrooms: [r]\nmqtt:\n  client_id: 'node+1'\n"),
    ],
)
def test_hub_and_edge_files_with_a_wildcard_identity_fail_at_the_line(side: str, text: str) -> None:
    from edge.config import EdgeConfig
    from hub.config import HubConfig

    model = HubConfig if side == "hub" else EdgeConfig
    with pytest.raises(ConfigError) as error:
        parse_yaml(text, model, f"{side}.yaml")
    assert any(
        line.startswith(f"{side}.yaml:") and "must not contain '+', '#' or '/'" in line
        for line in str(error.value).splitlines()
    ), str(error.value)


@pytest.mark.mosquitto
@pytest.mark.parametrize("read_ahead", [False, True])
def test_a_client_sends_each_packet_at_once(system_broker_url: str, read_ahead: bool) -> None:
    """Nagle's algorithm is off: a packet never waits for the broker to acknowledge the last."""
    settings = MqttSettings(url=system_broker_url)
    client = new_client(
        settings, f"nodelay-{uuid.uuid4().hex[:8]}", clean_session=True, read_ahead=read_ahead
    )
    client.connect(settings.host, settings.port)
    try:
        sock = client.socket()
        if read_ahead:
            assert isinstance(sock, ReadAheadSocket)
            sock = sock.raw
        assert isinstance(sock, socket.socket)
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        client.disconnect()
