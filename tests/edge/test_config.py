"""Edge configuration: a valid file loads; mistakes name their line."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.config import EdgeConfig, load_edge_config
from vivant.config_file import ConfigError, parse_yaml

VALID = """\
site: viry
node: entrance-pi
rooms: [lobby, kitchen]
mqtt:
  url: mqtt://broker.local:1883
credential_key: {env: VIVANT_TEST_KEY}
outbox:
  path: /var/lib/vivant/outbox.sqlite3
badge_readers:
  - id: entrance
    room: lobby
    kind: simulated
    uids: ["04:a1:b2:c3", "04B2C3D4"]
    mean_interval_s: 10
    seed: 7
  - id: coffee
    room: kitchen
    kind: fake
"""


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIVANT_TEST_KEY", "a-key-of-enough-length")


def parse(text: str) -> EdgeConfig:
    return parse_yaml(text, EdgeConfig, "edge.yaml")


def error_of(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        parse(text)
    return str(caught.value)


def test_valid_file_with_defaults() -> None:
    config = parse(VALID)
    assert config.credential_key.get_secret_value() == "a-key-of-enough-length"
    assert "a-key-of-enough-length" not in repr(config)
    assert config.outbox.max_messages == 100_000
    assert config.outbox.max_age_h == 168
    assert config.telemetry_interval_s == 60
    assert config.client_id == "vivant-edge-viry-entrance-pi"
    entrance = config.reader("entrance")
    assert entrance.uids == ["04A1B2C3", "04B2C3D4"]
    assert entrance.debounce_s == 2.0
    assert config.reader("coffee").kind == "fake"


def test_load_from_file(tmp_path: Path) -> None:
    path = tmp_path / "edge.yaml"
    path.write_text(VALID, encoding="utf-8")
    assert load_edge_config(path).node == "entrance-pi"


def test_unknown_key_names_its_line() -> None:
    text = VALID.replace("    kind: fake\n", "    kind: fake\n    colour: blue\n")
    assert error_of(text) == "edge.yaml:19: badge_readers.1.colour: Extra inputs are not permitted"


def test_reader_room_must_be_served_by_the_node() -> None:
    text = VALID.replace("    room: kitchen\n", "    room: rooftop\n")
    message = error_of(text)
    assert message.startswith("edge.yaml:17: badge_readers.1.room: room 'rooftop' is not one of")
    assert "lobby, kitchen" in message


def test_duplicate_reader_ids() -> None:
    text = VALID.replace("  - id: coffee\n", "  - id: entrance\n")
    assert error_of(text).startswith("edge.yaml:16: badge_readers.1.id: reader id 'entrance'")


def test_bad_uid_names_its_line() -> None:
    text = VALID.replace('"04B2C3D4"', '"04B2C3D"')
    assert error_of(text).startswith("edge.yaml:13: badge_readers.0.uids.1: Value error")


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("node: entrance-pi", "node: Entrance", "edge.yaml:2: node: Value error, node id"),
        ("node: entrance-pi", "node: occupancy", "edge.yaml:2: node: Value error, node id"),
        ("site: viry", "site: hub", "edge.yaml:1: site: Value error, site id 'hub' is reserved"),
        ("kind: fake", "kind: evdev", "edge.yaml:18: badge_readers.1.kind: Input should be"),
        ("rooms: [lobby, kitchen]", "rooms: [lobby, lobby]", "edge.yaml:3: rooms: Value error"),
    ],
)
def test_invalid_values(old: str, new: str, expected: str) -> None:
    assert error_of(VALID.replace(old, new)).startswith(expected)


def test_short_credential_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIVANT_TEST_KEY", "short")
    assert error_of(VALID).startswith("edge.yaml:6: credential_key: Value error, must be at least")


def test_missing_secret_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VIVANT_TEST_KEY")
    assert "VIVANT_TEST_KEY is not set" in error_of(VALID)


def test_every_field_is_described() -> None:
    from edge.config import BadgeReaderSettings, OutboxSettings, ReconnectSettings

    for model in (EdgeConfig, BadgeReaderSettings, OutboxSettings, ReconnectSettings):
        undocumented = [name for name, f in model.model_fields.items() if not f.description]
        assert undocumented == [], model.__name__
