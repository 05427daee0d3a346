"""Broker settings shared by edge and hub."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from vivant.mqtt import MqttSettings, new_client


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
