"""Fuzzing the YAML configuration loaders with the hub's and the edge's models (and the nudge
rules): a file gives a model or a :class:`ConfigError` naming the file, and a secret written in
it never shows in the message, whatever is wrong around it.

Sizes: see :mod:`tests.support.fuzzing` (a sample here; ``./run fuzz`` for the long run).
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from edge.config import EdgeConfig
from hub.config import HubConfig
from hub.nudges.rules import RulesConfig
from tests.edge.conftest import edge_config_data
from tests.support.fuzzing import CANARY, attempt, fuzz, junk, mutated, wrong_json
from vivant.config_file import ConfigError, load_yaml, parse_yaml

SECRET = f"{CANARY}-secret-value-0123456789"  # long enough for a credential key
SOURCE = "fuzz.yaml"


def hub_data() -> dict[str, Any]:
    return {
        "mqtt": {"url": "mqtt://127.0.0.1:1883", "client_id": "vivant-hub", "password": SECRET,
                 "username": "hub"},
        "database": {"url": "sqlite:///hub.db"},
        "http": {"port": 8080},
        "secret_key": SECRET,
        "sites": [
            {"id": "ekilibre", "name": "éKilibre", "timezone": "Europe/Paris",
             "rooms": [{"id": "accueil", "name": "Accueil", "kind": "lobby"},
                       {"id": "cuisine", "name": "Cuisine", "kind": "community", "capacity": 20}],
             "nodes": [{"id": "entree", "rooms": ["accueil"]}],
             "screens": [{"id": "hall", "name": "Hall"}],
             "calendar_feeds": [{"name": "google", "url": SECRET, "room": "cuisine"}]},
        ],
    }  # fmt: skip


def edge_data() -> dict[str, Any]:
    data = edge_config_data("mqtt://127.0.0.1:1883", "vivant/v1", Path("/tmp/outbox.sqlite3"))
    data["credential_key"] = SECRET
    data["mqtt"]["password"] = SECRET
    data["mqtt"]["username"] = "ekilibre-entree"  # a password needs its user name
    data["gpio"] = {"doors": [{"id": "door", "room": "lobby", "pin": 17}]}
    return data


RULES_TEXT = (Path(__file__).resolve().parents[2] / "hub" / "nudges" / "defaults.yaml").read_text(
    encoding="utf-8"
)
MODELS: dict[str, tuple[type[BaseModel], list[dict[str, Any]]]] = {
    "hub": (HubConfig, [hub_data()]),
    "edge": (EdgeConfig, [edge_data()]),
    "rules": (RulesConfig, [yaml.safe_load(RULES_TEXT)]),
}


def seed_texts(name: str) -> list[bytes]:
    _, seeds = MODELS[name]
    texts = [yaml.safe_dump(s, allow_unicode=True).encode() for s in seeds]
    return [*texts, RULES_TEXT.encode()] if name == "rules" else texts


SECRET_KEYS = {"password", "secret_key", "credential_key", "url"}


def secrets_in_place(text: str) -> bool:
    """Whether the secret is only where a secret belongs (a byte mutation may move it into a
    room id, say, which the loader then rightly quotes as a bad id)."""
    try:
        data = yaml.safe_load(text)
    except (yaml.YAMLError, RecursionError):
        return False

    def fine(node: object, key: object) -> bool:
        if isinstance(node, dict):
            return all(CANARY not in str(k) and fine(v, k) for k, v in node.items())
        if isinstance(node, list):
            return all(fine(item, key) for item in node)
        return CANARY not in str(node) or key in SECRET_KEYS

    return fine(data, None)


def check_config(name: str, text: str) -> None:
    """The property of :func:`parse_yaml`: a model, or a clean :class:`ConfigError`."""
    model, _ = MODELS[name]
    result = attempt(lambda: parse_yaml(text, model, SOURCE), ConfigError)
    if isinstance(result, ConfigError):
        message = str(result)
        assert message.startswith(SOURCE), "the message names the file (and the line)"
        if secrets_in_place(text):
            assert CANARY not in message, "a secret shows in the message"
        return
    assert isinstance(result, model)
    assert CANARY not in repr(result), "secrets are held as SecretStr"


def test_the_seeds_are_valid() -> None:
    for name in MODELS:
        for text in seed_texts(name):
            check_config(name, text.decode())
            assert isinstance(parse_yaml(text.decode(), MODELS[name][0]), MODELS[name][0])


@pytest.mark.parametrize("name", sorted(MODELS))
@fuzz
@given(raw=junk())
def test_generated_text(name: str, raw: bytes) -> None:
    check_config(name, raw.decode("utf-8", "replace"))


@pytest.mark.parametrize("name", sorted(MODELS))
@fuzz
@given(data=st.data())
def test_mutated_valid_files(name: str, data: st.DataObject) -> None:
    check_config(name, data.draw(mutated(seed_texts(name))).decode("utf-8", "replace"))


@pytest.mark.parametrize("name", sorted(MODELS))
@fuzz
@given(data=st.data(), style=st.sampled_from(["yaml", "json", "flow"]))
def test_structured_but_wrong(name: str, data: st.DataObject, style: str) -> None:
    """Valid YAML of the wrong shape: values of other types, keys dropped or added."""
    body = json.loads(data.draw(wrong_json(MODELS[name][1], canary=False)))
    if style == "json":
        text = json.dumps(body)
    else:
        text = yaml.safe_dump(body, allow_unicode=True, default_flow_style=style == "flow")
    check_config(name, text)


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as name:
        yield Path(name)


@pytest.mark.parametrize("name", ["hub", "edge"])
@fuzz
@given(data=st.data())
def test_files_of_any_bytes(name: str, scratch: Path, data: st.DataObject) -> None:
    """:func:`load_yaml` reads the file itself: bytes that are not UTF-8 are a ConfigError too."""
    raw = data.draw(st.one_of(junk(), mutated(seed_texts(name))))
    path = scratch / f"{name}.yaml"
    path.write_bytes(raw)
    model, _ = MODELS[name]
    result = attempt(lambda: load_yaml(path, model), ConfigError)
    if isinstance(result, ConfigError):
        assert str(result).startswith(str(path))
        if secrets_in_place(raw.decode("utf-8", "replace")):
            assert CANARY not in str(result)
    else:
        assert isinstance(result, model)


def test_an_alias_bomb_is_refused_quickly() -> None:
    """Nine levels of nine aliases (a "billion laughs") must not hang the loader."""
    lines = ['a0: &a0 ["lol"]']
    for level in range(1, 10):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 9) + "]")
    lines.append("sites: *a9")
    started = time.monotonic()
    with pytest.raises(ConfigError, match=SOURCE):
        parse_yaml("\n".join(lines), HubConfig, SOURCE)
    assert time.monotonic() - started < 5
