"""Loading YAML configuration into pydantic models, with errors a person can act on.

An unknown key, a wrong type or a missing field stops the program with the file, the line and
what is wrong (``hub.yaml:14: sites.0.rooms.2.kind: Input should be 'desk', …``). Models use
``extra="forbid"`` (see :class:`StrictModel`) so a typo is an error, not a silently ignored key.

Secrets (MQTT passwords, credential keys) are never written in the file in production: a secret
field takes ``{env: NAME}`` or ``{file: /run/secrets/name}`` and is held as a ``SecretStr`` so it
does not appear in logs or reprs. A plain string is accepted for demos and tests.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, SecretStr, ValidationError

M = TypeVar("M", bound=BaseModel)
Path_ = tuple[str | int, ...]


class ConfigError(Exception):
    """A configuration file cannot be used; the message names the file and the line."""


class StrictModel(BaseModel):
    """Base of every configuration model: unknown keys are errors; values are checked on set."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=True)


def _resolve_secret(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return value
    if isinstance(value, dict):
        if set(value) == {"env"} and isinstance(value["env"], str):
            name = value["env"]
            if name not in os.environ:
                raise ValueError(f"environment variable {name} is not set")
            return SecretStr(os.environ[name])
        if set(value) == {"file"} and isinstance(value["file"], str):
            try:
                return SecretStr(Path(value["file"]).read_text(encoding="utf-8").strip())
            except OSError as error:
                raise ValueError(
                    f"cannot read secret file {value['file']}: {error.strerror}"
                ) from None
        raise ValueError("a secret is a string, {env: NAME} or {file: PATH}")
    if isinstance(value, str):
        return SecretStr(value)
    raise ValueError("a secret is a string, {env: NAME} or {file: PATH}")


Secret = Annotated[SecretStr, BeforeValidator(_resolve_secret)]
"""A secret value: a literal string, ``{env: NAME}`` or ``{file: PATH}``."""


MAX_NODES = 100_000  # values in one file, aliases counted each time they are used


def _walk(node: yaml.Node, path: Path_, lines: dict[Path_, int], source: str) -> None:
    lines[path] = node.start_mark.line + 1
    if len(lines) > MAX_NODES:  # nine levels of nine aliases would be 387 million values
        raise ConfigError(f"{source}: more than {MAX_NODES} values (aliases used in a loop?)")
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                line = key_node.start_mark.line + 1
                raise ConfigError(f"{source}:{line}: a key must be a plain value")
            key = key_node.value
            if key in seen:
                raise ConfigError(f"{source}:{key_node.start_mark.line + 1}: duplicate key {key!r}")
            seen.add(key)
            _walk(value_node, (*path, key), lines, source)
            lines[(*path, key)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, index), lines, source)


def _line_of(loc: Path_, lines: dict[Path_, int]) -> int:
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return 1


def parse_yaml(text: str, model: type[M], source: str = "<config>") -> M:
    """Validate YAML *text* against *model*; errors name *source* and the line."""
    try:
        loader = yaml.SafeLoader(text)
    except yaml.reader.ReaderError as error:  # a character YAML does not allow (NUL, …)
        raise ConfigError(f"{source}: invalid YAML: {_reader_problem(error)}") from None
    try:
        node = loader.get_single_node()
        if node is None:
            raise ConfigError(f"{source}: the file is empty")
        lines: dict[Path_, int] = {}
        _walk(node, (), lines, source)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{source}{line}: invalid YAML: {error.problem or error}") from None
    except yaml.reader.ReaderError as error:
        raise ConfigError(f"{source}: invalid YAML: {_reader_problem(error)}") from None
    except RecursionError:
        raise ConfigError(f"{source}: invalid YAML: nested too deeply") from None
    except (ValueError, TypeError, OverflowError) as error:  # e.g. a date 2026-02-30
        raise ConfigError(f"{source}: invalid YAML value: {error}") from None
    finally:
        loader.dispose()
    try:
        return model.model_validate(data)
    except ValidationError as error:
        messages = []
        for item in error.errors(include_url=False, include_input=False):
            loc = tuple(item["loc"])
            where = ".".join(str(p) for p in loc) or "(top level)"
            messages.append(f"{source}:{_line_of(loc, lines)}: {where}: {item['msg']}")
        raise ConfigError("\n".join(messages)) from None


def _reader_problem(error: yaml.reader.ReaderError) -> str:
    return f"character #x{error.character:04x} is not allowed (position {error.position})"


def load_yaml(path: Path, model: type[M]) -> M:
    """Read and validate a YAML configuration file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror}") from None
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not UTF-8 text (byte {error.start})") from None
    return parse_yaml(text, model, str(path))
