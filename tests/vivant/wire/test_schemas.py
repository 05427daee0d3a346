"""The JSON Schemas committed for firmware authors are exactly what the code generates."""

from __future__ import annotations

import json
from pathlib import Path

from vivant.wire.schemas import render, stale

SCHEMAS = Path(__file__).resolve().parents[3] / "firmware-config" / "schemas"


def test_committed_schemas_match_the_code() -> None:
    # On failure: .venv/bin/python -m vivant.wire.schemas firmware-config/schemas
    assert stale(Path("firmware-config/schemas")) == []
    assert stale(SCHEMAS) == []


def test_no_orphan_schema_files() -> None:
    assert sorted(p.name for p in SCHEMAS.glob("*.json")) == sorted(render())


def test_schemas_are_json_objects() -> None:
    for path in SCHEMAS.glob("*.json"):
        schema = json.loads(path.read_text(encoding="utf-8"))
        assert isinstance(schema, dict)
        assert "properties" in schema or "oneOf" in schema, path.name
