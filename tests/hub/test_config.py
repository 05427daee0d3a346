"""Hub configuration: references between sites, rooms, nodes and screens are checked."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hub.config import HubConfig
from vivant.config_file import ConfigError, parse_yaml

VALID = """\
sites:
  - id: ekilibre
    name: éKilibre
    rooms:
      - {id: accueil, name: Accueil, kind: lobby}
      - {id: cuisine, name: Cuisine, kind: community, capacity: 16}
    nodes:
      - {id: entree, rooms: [accueil]}
    screens:
      - {id: hall}
"""


def error_of(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_yaml(text, HubConfig, "hub.yaml")
    return str(caught.value)


def test_valid_configuration_and_defaults() -> None:
    config = parse_yaml(VALID, HubConfig)
    site = config.sites[0]
    assert site.timezone == "Europe/Paris"
    screen = site.screen("hall")
    assert screen is not None
    assert screen.language == "fr"
    assert config.database.url == "sqlite:///vivant.db"
    assert config.mqtt.topic_root == "vivant/v1"


def test_wrong_room_kind_is_reported_with_its_line() -> None:
    message = error_of(VALID.replace("kind: community", "kind: kitchen"))
    assert message.startswith("hub.yaml:6: sites.0.rooms.1.kind: Input should be 'desk'")


def test_node_serving_an_unknown_room_is_refused() -> None:
    message = error_of(VALID.replace("rooms: [accueil]", "rooms: [rooftop]"))
    assert "node 'entree' serves unknown room 'rooftop'" in message


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("id: ekilibre", "id: hub"), "site id 'hub' is reserved"),
        (("id: entree", "id: occupancy"), "node id 'occupancy' is reserved"),
        (("id: cuisine", "id: Cuisine"), "room id 'Cuisine' must match"),
        (("name: éKilibre", "name: éKilibre\n    timezone: Europe/Pariss"), "unknown time zone"),
        # A zone directory, not a zone (found by tests/vivant/test_config_fuzz.py).
        (("name: éKilibre", "name: éKilibre\n    timezone: Europe"), "unknown time zone"),
        (("id: cuisine", "id: accueil"), "duplicate room id 'accueil'"),
    ],
)
def test_invalid_references(change: tuple[str, str], expected: str) -> None:
    assert expected in error_of(VALID.replace(*change, 1))


def test_cli_check_config_exits_2_with_the_line(tmp_path: Path) -> None:
    path = tmp_path / "hub.yaml"
    path.write_text(VALID.replace("name: Cuisine", "nom: Cuisine"), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "vivant", "hub", "--config", str(path), "check-config"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert f"{path}:6: sites.0.rooms.1.nom: Extra inputs are not permitted" in result.stderr
    path.write_text(VALID, encoding="utf-8")
    ok = subprocess.run(
        [sys.executable, "-m", "vivant", "hub", "--config", str(path), "check-config"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr


def test_channels_and_nudges_settings() -> None:
    text = VALID + (
        "channels:\n"
        "  sites:\n"
        "    ekilibre: {apprise_urls: ['ntfy://ntfy.sh/ekilibre-staff']}\n"
        "  email_url: {env: VIVANT_MAIL_URL_NOT_SET}\n"
        "nudges: {tick_s: 10, rules_file: /etc/vivant/nudges.yaml}\n"
    )
    assert "VIVANT_MAIL_URL_NOT_SET" in error_of(text)  # a secret from an unset variable
    text = text.replace("{env: VIVANT_MAIL_URL_NOT_SET}", "'mailto://h:p@x.org'")
    config = parse_yaml(text, HubConfig)
    assert config.nudges.tick_s == 10
    assert str(config.nudges.rules_file) == "/etc/vivant/nudges.yaml"
    assert "channels.sites names unknown site 'rooftop'" in error_of(
        text.replace("    ekilibre: {apprise", "    rooftop: {apprise")
    )
