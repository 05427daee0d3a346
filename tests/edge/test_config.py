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
    assert (
        error_of(text)
        == "edge.yaml:16: badge_readers.1.id: id 'entrance' is used twice on this node"
    )


def test_bad_uid_names_its_line() -> None:
    text = VALID.replace('"04B2C3D4"', '"04B2C3D"')
    assert error_of(text).startswith("edge.yaml:13: badge_readers.0.uids.1: Value error")


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("node: entrance-pi", "node: Entrance", "edge.yaml:2: node: Value error, node id"),
        ("node: entrance-pi", "node: occupancy", "edge.yaml:2: node: Value error, node id"),
        ("site: viry", "site: hub", "edge.yaml:1: site: Value error, site id 'hub' is reserved"),
        ("kind: fake", "kind: nfc", "edge.yaml:18: badge_readers.1.kind: Input should be"),
        (
            "kind: fake",
            "kind: evdev",
            "edge.yaml:16: badge_readers.1.evdev: a reader of kind 'evdev' needs its 'evdev:'",
        ),
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
    from edge import source_settings
    from edge.config import BadgeReaderSettings, OutboxSettings, ReconnectSettings
    from vivant.config_file import StrictModel

    sections: list[type[StrictModel]] = []
    for value in vars(source_settings).values():
        if isinstance(value, type) and issubclass(value, StrictModel) and value is not StrictModel:
            sections.append(value)
    assert len(sections) >= 10
    models: list[type[StrictModel]] = [EdgeConfig, BadgeReaderSettings, OutboxSettings]
    models.append(ReconnectSettings)
    for model in models + sections:
        undocumented = [name for name, f in model.model_fields.items() if not f.description]
        assert undocumented == [], model.__name__


HARDWARE = """\
site: ekilibre
node: accueil-pi
rooms: [accueil, cuisine]
credential_key: {env: VIVANT_TEST_KEY}
outbox: {path: /var/lib/vivant/outbox.sqlite3}
badge_readers:
  - id: porte
    room: accueil
    kind: evdev
    evdev: {device: /dev/input/by-id/usb-reader-event-kbd, uid_format: decimal}
    feedback: {green_led: 5, red_led: 6, buzzer: 13}
  - id: cafe
    room: cuisine
    kind: serial
    serial: {port: /dev/serial0}
  - id: badgeuse
    room: accueil
    kind: pcsc
ble:
  room: cuisine
  enrolled_tags: ["mac:c2a1b2c3d4e5", "irk:camille-phone"]
  irks:
    - {id: camille-phone, key: {env: VIVANT_TEST_IRK}}
gpio:
  motion:
    - {id: pir, room: cuisine, pin: 4, hold_s: 60}
  doors:
    - {id: porte-contact, room: accueil, pin: 17}
  people_counters:
    - {id: seuil, room: accueil, outer_pin: 23, inner_pin: 24}
environment:
  interval_s: 30
  sensors:
    - {id: co2, room: cuisine, kind: scd4x}
    - {id: bme, room: accueil, kind: bme280, address: 0x77}
"""


@pytest.fixture
def _irk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIVANT_TEST_IRK", "ec0234a357c8ad05341010a60a397d9b")


@pytest.mark.usefixtures("_irk")
def test_a_node_with_every_kind_of_hardware() -> None:
    config = parse(HARDWARE)
    porte = config.reader("porte")
    assert porte.evdev is not None
    assert porte.evdev.uid_format == "decimal"
    assert porte.feedback is not None
    assert porte.feedback.pins() == {"green_led": 5, "red_led": 6, "buzzer": 13}
    assert config.reader("badgeuse").pcsc is not None, "pcsc works with its defaults"
    assert config.ble is not None
    assert config.ble.irks[0].key_bytes().hex() == "ec0234a357c8ad05341010a60a397d9b"
    assert "ec0234" not in repr(config), "an IRK is a secret"
    assert config.environment.sensors[1].address == 0x77
    assert config.gpio.people_counters[0].broken_when == "low"


@pytest.mark.usefixtures("_irk")
@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "{id: pir, room: cuisine, pin: 4,",
            "{id: pir, room: cuisine, pin: 17,",
            "edge.yaml:28: gpio.doors.0.pin: GPIO17 is already used by gpio.motion.0.pin",
        ),
        (
            "inner_pin: 24}",
            "inner_pin: 6}",
            "edge.yaml:30: gpio.people_counters.0.inner_pin: GPIO6 is already used by "
            "badge_readers.0.feedback.red_led",
        ),
        (
            "  room: cuisine\n  enrolled_tags",
            "  room: rooftop\n  enrolled_tags",
            "edge.yaml:20: ble.room: room 'rooftop' is not one of this node's rooms",
        ),
        (
            "{id: co2, room: cuisine, kind: scd4x}",
            "{id: pir, room: cuisine, kind: scd4x}",
            "edge.yaml:34: environment.sensors.0.id: id 'pir' is used twice on this node",
        ),
        (
            "    serial: {port: /dev/serial0}\n",
            "    serial: {port: /dev/serial0}\n    evdev: {device: /dev/input/event0}\n",
            "edge.yaml:16: badge_readers.1.evdev: 'evdev:' is for readers of kind 'evdev'",
        ),
        (
            '["mac:c2a1b2c3d4e5"',
            '["c2a1b2c3d4e5"',
            "edge.yaml:21: ble.enrolled_tags.0: String should match pattern",
        ),
        ("pin: 4,", "pin: 40,", "edge.yaml:26: gpio.motion.0.pin: Input should be less than"),
        (
            "kind: bme280",
            "kind: dht22",
            "edge.yaml:35: environment.sensors.1.kind: Input should be",
        ),
    ],
)
def test_hardware_mistakes_name_their_line(old: str, new: str, expected: str) -> None:
    assert old in HARDWARE
    assert error_of(HARDWARE.replace(old, new)).startswith(expected)


def test_an_irk_must_be_sixteen_bytes_of_hex(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIVANT_TEST_IRK", "not-a-key")
    message = error_of(HARDWARE)
    assert message.startswith("edge.yaml:23: ble.irks.0.key: Value error, an IRK is 32 hex digits")
    assert "not-a-key" not in message
