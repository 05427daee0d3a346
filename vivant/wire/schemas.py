"""JSON Schemas of every payload, generated from the models for firmware authors.

``python -m vivant.wire.schemas DIR`` writes them; ``--check`` exits 1 when the committed files
differ from the code (the test suite runs the same comparison).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pydantic import BaseModel, TypeAdapter

from vivant.wire.codec import dumps_schema
from vivant.wire.payloads import (
    Badge,
    BleWindow,
    Command,
    NodeConfig,
    Occupancy,
    Sensor,
    Telemetry,
)

SCHEMA_SOURCES: dict[str, type[BaseModel] | TypeAdapter[Command]] = {
    "badge": Badge,
    "ble": BleWindow,
    "sensor": Sensor,
    "telemetry": Telemetry,
    "config": NodeConfig,
    "command": TypeAdapter(Command),
    "occupancy": Occupancy,
}


def render() -> dict[str, str]:
    """File name → schema text for every payload of the contract."""
    return {f"{name}.schema.json": dumps_schema(src) for name, src in SCHEMA_SOURCES.items()}


def stale(directory: Path) -> list[str]:
    """Names of schema files in *directory* that are missing or differ from the code."""
    out = []
    for name, text in render().items():
        path = directory / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            out.append(name)
    return out


def main(argv: list[str] | None = None) -> int:
    """Write (or with ``--check``, verify) the schema files."""
    parser = argparse.ArgumentParser(prog="python -m vivant.wire.schemas")
    parser.add_argument("directory", type=Path)
    parser.add_argument("--check", action="store_true", help="only report stale files")
    args = parser.parse_args(argv)
    if args.check:
        names = stale(args.directory)
        for name in names:
            sys.stderr.write(f"stale schema: {args.directory / name}\n")
        return 1 if names else 0
    args.directory.mkdir(parents=True, exist_ok=True)
    for name, text in render().items():
        (args.directory / name).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
