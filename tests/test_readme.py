"""The configuration examples in README.md are valid configurations (docs cannot drift)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from edge.config import EdgeConfig
from hub.config import HubConfig
from vivant.config_file import parse_yaml

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def block_after(marker: str) -> str:
    match = re.search(re.escape(marker) + r".*?```yaml\n(.*?)```", README, re.S)
    assert match, f"README.md lost the YAML example after {marker!r}"
    return match.group(1)


@pytest.fixture(autouse=True)
def secrets_in_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VIVANT_MQTT_PASSWORD", "broker-password")
    monkeypatch.setenv("VIVANT_EKILIBRE_ICAL", "https://calendar.invalid/private.ics")
    monkeypatch.setenv("VIVANT_INFLUX_TOKEN", "influx-token")


def test_hub_example_is_valid() -> None:
    config = parse_yaml(block_after("A hub (`vivant hub --config hub.yaml`)"), HubConfig, "README")
    assert config.sites[0].calendar_feeds[0].room == "cuisine"


def test_optional_hub_sections_are_valid() -> None:
    hub = block_after("A hub (`vivant hub --config hub.yaml`)")
    optional = block_after("Optional hub sections")
    config = parse_yaml(optional + hub, HubConfig, "README")
    assert config.home_assistant_discovery
    assert config.thirdparty.espresense[0].room == "cuisine"


def test_edge_example_is_valid(tmp_path: Path) -> None:
    text = block_after("An edge agent (`vivant edge --config edge.yaml`")
    (tmp_path / "secret").write_text("a-credential-key-long-enough\n", encoding="utf-8")
    text = text.replace("/etc/vivant/credential-key", str(tmp_path / "secret"))
    text = text.replace("/etc/vivant/mqtt-password", str(tmp_path / "secret"))
    config = parse_yaml(text, EdgeConfig, "README")
    assert config.node == "entree"
