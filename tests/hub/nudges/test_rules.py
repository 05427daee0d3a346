"""The rules file: the shipped defaults validate, and a staff mistake names its line."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import pytest

from hub.nudges.rules import (
    MEMBER_KINDS,
    STAFF_KINDS,
    Channel,
    NudgeKind,
    RulesConfig,
    default_rules,
    load_rules,
)
from vivant.config_file import ConfigError, parse_yaml

DEFAULTS = resources.files("hub.nudges").joinpath("defaults.yaml").read_text(encoding="utf-8")


def line_of(text: str, needle: str) -> int:
    """1-based line of the first line containing *needle*."""
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_defaults_load_with_the_documented_guardrails() -> None:
    config = default_rules()
    assert config.caps.per_day == 1
    assert config.caps.per_week == 3
    assert config.quiet_hours is not None
    assert config.quiet_hours.label() == "20:00–08:00"
    assert not config.paused
    assert not config.dry_run
    assert config.rules.moment_soon.lead_minutes == 10
    assert config.rules.low_attendance_staff.after_start_minutes == 5
    assert load_rules(None) == config


@pytest.mark.parametrize("kind", sorted(MEMBER_KINDS))
def test_member_rules_rotate_at_least_three_wordings_in_both_languages(kind: NudgeKind) -> None:
    rule = default_rules().rules.get(kind)
    assert len(rule.variants) >= 3
    assert rule.holdout_share == pytest.approx(0.2)
    assert all(v.fr.strip() and v.en.strip() and v.fr != v.en for v in rule.variants)


@pytest.mark.parametrize("kind", sorted(STAFF_KINDS))
def test_staff_rules_only_reach_staff(kind: NudgeKind) -> None:
    assert default_rules().rules.get(kind).channels == [Channel.STAFF]


def test_a_typo_fails_with_file_and_line() -> None:
    text = DEFAULTS.replace("per_week: 3", "per_wek: 3")
    with pytest.raises(ConfigError) as error:
        parse_yaml(text, RulesConfig, "nudges.yaml")
    assert f"nudges.yaml:{line_of(text, 'per_wek')}: caps.per_wek" in str(error.value)


def test_an_unknown_placeholder_fails_with_its_line(tmp_path: Path) -> None:
    text = DEFAULTS.replace("Il reste de la place !", "Il reste {seats} places !")
    path = tmp_path / "nudges.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_rules(path)
    message = str(error.value)
    assert "{seats}" in message
    assert f"{path}:{line_of(text, '{seats}')}: rules.moment_soon.variants.0.fr:" in message


def test_attribute_lookups_in_wording_are_refused() -> None:
    text = DEFAULTS.replace('"Bonjour {first_name} !"', '"Bonjour {first_name.__class__} !"')
    with pytest.raises(ConfigError, match="unknown placeholder"):
        parse_yaml(text, RulesConfig, "nudges.yaml")


def test_a_member_rule_cannot_write_to_staff_and_vice_versa() -> None:
    text = DEFAULTS.replace(
        "channels: [apprise, email]\n    lead_minutes", "channels: [staff]\n    lead_minutes"
    )
    with pytest.raises(ConfigError, match=r"moment_soon cannot use staff"):
        parse_yaml(text, RulesConfig, "nudges.yaml")
    text = DEFAULTS.replace(
        "channels: [staff]\n    after_start", "channels: [email]\n    after_start"
    )
    with pytest.raises(ConfigError, match=r"low_attendance_staff cannot use email"):
        parse_yaml(text, RulesConfig, "nudges.yaml")


def test_an_invitation_cannot_be_delayed_past_the_start() -> None:
    text = DEFAULTS.replace("delay_minutes: {min: 1, max: 3}", "delay_minutes: {min: 1, max: 12}")
    with pytest.raises(ConfigError, match="would arrive after the start"):
        parse_yaml(text, RulesConfig, "nudges.yaml")


def test_inverted_delay_window_is_refused() -> None:
    text = DEFAULTS.replace("delay_minutes: {min: 5, max: 20}", "delay_minutes: {min: 30, max: 20}")
    with pytest.raises(ConfigError, match="delay min"):
        parse_yaml(text, RulesConfig, "nudges.yaml")


def test_quiet_hours_can_be_switched_off_but_not_left_empty() -> None:
    off = re.sub(r"quiet_hours:.*\n.*\n.*\n", "quiet_hours: null\n", DEFAULTS, count=1)
    assert parse_yaml(off, RulesConfig, "n.yaml").quiet_hours is None
    empty = DEFAULTS.replace('end: "08:00"', 'end: "20:00"')
    with pytest.raises(ConfigError, match="quiet hours start and end are equal"):
        parse_yaml(empty, RulesConfig, "n.yaml")


def test_every_rule_is_required() -> None:
    text = DEFAULTS.split("  welcome_back:")[0]
    with pytest.raises(ConfigError, match=r"rules\.welcome_back: Field required"):
        parse_yaml(text, RulesConfig, "nudges.yaml")
