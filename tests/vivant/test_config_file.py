"""YAML configuration: errors name the file and the line; secrets stay secret."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import Field

from vivant.config_file import ConfigError, Secret, StrictModel, load_yaml, parse_yaml


class Room(StrictModel):
    id: str
    capacity: int = 1


class Example(StrictModel):
    name: str
    key: Secret
    rooms: list[Room] = Field(default_factory=list)


def error_of(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_yaml(text, Example, "site.yaml")
    return str(caught.value)


def test_valid_file_loads() -> None:
    config = parse_yaml("name: a\nkey: s3cret-value\nrooms:\n  - id: x\n", Example)
    assert config.rooms[0].id == "x"
    assert config.key.get_secret_value() == "s3cret-value"


def test_unknown_key_names_file_line_and_path() -> None:
    message = error_of("name: a\nkey: k\nrooms:\n  - id: x\n  - id: y\n    capacty: 3\n")
    assert message == "site.yaml:6: rooms.1.capacty: Extra inputs are not permitted"


def test_wrong_type_names_its_line() -> None:
    message = error_of("name: a\nkey: k\nrooms:\n  - id: x\n    capacity: many\n")
    assert message.startswith("site.yaml:5: rooms.0.capacity: Input should be a valid integer")


def test_missing_field_points_at_its_parent() -> None:
    assert error_of("name: a\nkey: k\nrooms:\n  - capacity: 2\n") == (
        "site.yaml:4: rooms.0.id: Field required"
    )


def test_several_errors_are_all_reported() -> None:
    message = error_of("nme: a\nkey: k\n")
    assert "site.yaml:1: nme: Extra inputs are not permitted" in message
    assert "name: Field required" in message


def test_duplicate_key_is_an_error_not_a_silent_override() -> None:
    assert error_of("name: a\nkey: k\nname: b\n") == "site.yaml:3: duplicate key 'name'"


def test_invalid_yaml_and_empty_file() -> None:
    assert error_of("name: [a\n").startswith("site.yaml:2: invalid YAML")
    assert error_of("") == "site.yaml: the file is empty"


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_yaml(tmp_path / "missing.yaml", Example)


def test_secret_from_environment_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIVANT_TEST_KEY", "from-env")
    (tmp_path / "key").write_text("from-file\n", encoding="utf-8")
    by_env = parse_yaml("name: a\nkey: {env: VIVANT_TEST_KEY}\n", Example)
    by_file = parse_yaml(f"name: a\nkey: {{file: {tmp_path / 'key'}}}\n", Example)
    assert by_env.key.get_secret_value() == "from-env"
    assert by_file.key.get_secret_value() == "from-file"


def test_missing_secret_source_is_a_clear_error(tmp_path: Path) -> None:
    assert "environment variable VIVANT_NOPE is not set" in error_of(
        "name: a\nkey: {env: VIVANT_NOPE}\n"
    )
    assert "cannot read secret file" in error_of(f"name: a\nkey: {{file: {tmp_path}/nope}}\n")
    assert "a secret is a string" in error_of("name: a\nkey: {vault: x}\n")


def test_secret_never_appears_in_repr_or_dump() -> None:
    config = parse_yaml("name: a\nkey: hunter2-very-secret\n", Example)
    assert "hunter2" not in repr(config)
    assert "hunter2" not in str(config.model_dump())
    assert "hunter2" not in config.model_dump_json()
