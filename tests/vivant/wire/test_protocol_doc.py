"""PROTOCOL.md cannot drift from the code: its examples and test vectors are checked here.

Every fenced ``json`` block of the page follows a marker line ``<!-- example: <kind> -->`` and is
decoded, byte for byte as printed, by the decoder the hub or a node uses for that payload. The
credential table after ``<!-- credential-vectors -->`` is recomputed with ``credential_for``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from hub.config import HubConfig
from vivant.wire import (
    MAX_PAYLOAD_BYTES,
    Badge,
    BleWindow,
    EdgeKind,
    EnrolModeCommand,
    FeedbackCommand,
    HubKind,
    HubStatusTopic,
    NodeTopic,
    Occupancy,
    OccupancyTopic,
    Sensor,
    Topics,
    credential_for,
    decode_command,
    decode_config,
    decode_edge,
    normalise_uid,
)

FOLDER = Path(__file__).resolve().parents[3] / "firmware-config"
DOC = FOLDER / "PROTOCOL.md"

_FENCE = re.compile(r"^```(?P<lang>[A-Za-z0-9_-]*)\s*$")
_MARKER = re.compile(r"^<!--\s*(?P<name>[a-z-]+)(?::\s*(?P<arg>[a-z_]+))?\s*-->$")


def _decode_occupancy(raw: bytes) -> Occupancy:
    # Nodes never decode occupancy; screens and dashboards do, under the same size rule.
    assert len(raw) <= MAX_PAYLOAD_BYTES
    return Occupancy.model_validate_json(raw)


DECODERS: dict[str, Callable[[bytes], BaseModel]] = {
    "badge": lambda raw: decode_edge(EdgeKind.BADGE, raw),
    "ble": lambda raw: decode_edge(EdgeKind.BLE, raw),
    "sensor": lambda raw: decode_edge(EdgeKind.SENSOR, raw),
    "telemetry": lambda raw: decode_edge(EdgeKind.TELEMETRY, raw),
    "config": decode_config,
    "command": decode_command,
    "occupancy": _decode_occupancy,
}


@dataclass(frozen=True, slots=True)
class Block:
    """A fenced code block of the page, with the marker line just above it (if any)."""

    line: int
    lang: str
    body: str
    marker: str | None
    marker_arg: str | None


def read_doc() -> str:
    return DOC.read_text(encoding="utf-8")


def fenced_blocks(text: str) -> list[Block]:
    """Every fenced block, in order; the marker is the last non-blank line before the fence."""
    lines = text.splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        end = next(j for j in range(index + 1, len(lines)) if lines[j].startswith("```"))
        before = next((lines[j] for j in range(index - 1, -1, -1) if lines[j].strip()), "")
        marker = _MARKER.match(before.strip())
        blocks.append(
            Block(
                line=index + 1,
                lang=opening["lang"],
                body="\n".join(lines[index + 1 : end]) + "\n",
                marker=marker["name"] if marker else None,
                marker_arg=marker["arg"] if marker else None,
            )
        )
        index = end + 1
    return blocks


def json_examples() -> list[Block]:
    return [b for b in fenced_blocks(read_doc()) if b.lang == "json"]


def block_after(marker: str) -> Block:
    found = [b for b in fenced_blocks(read_doc()) if b.marker == marker]
    assert len(found) == 1, f"expected one block after <!-- {marker} -->"
    return found[0]


def credential_vectors() -> list[tuple[str, str, str, str]]:
    """Rows (key, UID as read, normalised UID, credential) of the table after the marker."""
    lines = read_doc().splitlines()
    start = lines.index("<!-- credential-vectors -->") + 1
    rows: list[tuple[str, str, str, str]] = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        cells = [cell.strip().strip("`") for cell in line.strip().strip("|").split("|")]
        if set("".join(cells)) <= set("-: ") or cells[0] == "Site credential key":
            continue  # separator or header row
        assert len(cells) == 4, f"credential vector row has {len(cells)} cells: {line}"
        rows.append((cells[0], cells[1], cells[2], cells[3]))
    return rows


def decoded_examples() -> list[tuple[Block, BaseModel]]:
    return [(b, DECODERS[b.marker_arg or ""](b.body.encode("utf-8"))) for b in json_examples()]


def test_every_json_block_is_a_marked_example() -> None:
    blocks = json_examples()
    assert blocks, "PROTOCOL.md has no JSON example"
    for block in blocks:
        assert block.marker == "example", f"PROTOCOL.md:{block.line}: JSON block without marker"
        assert block.marker_arg in DECODERS, f"PROTOCOL.md:{block.line}: unknown example kind"


def test_every_example_marker_introduces_a_json_block() -> None:
    markers = sum(1 for line in read_doc().splitlines() if line.startswith("<!-- example:"))
    assert markers == len(json_examples())


@pytest.mark.parametrize("block", json_examples(), ids=lambda b: f"{b.marker_arg}@{b.line}")
def test_example_is_accepted_by_the_code(block: Block) -> None:
    decoder = DECODERS[block.marker_arg or ""]
    decoder(block.body.encode("utf-8"))  # raises Rejected (or ValidationError) when it drifts


def test_examples_cover_every_payload() -> None:
    decoded = decoded_examples()
    kinds = {block.marker_arg for block, _ in decoded}
    assert kinds == set(DECODERS)
    models = [model for _, model in decoded]
    assert any(isinstance(m, FeedbackCommand) for m in models)
    assert any(isinstance(m, EnrolModeCommand) for m in models)
    assert any(isinstance(m, BleWindow) and m.tags for m in models)
    assert len({m.kind for m in models if isinstance(m, Sensor)}) >= 3


def test_example_messages_would_reach_the_hub() -> None:
    """The examples' rooms are served by the example node of the hub configuration snippet."""
    block = block_after("hub-config-example")
    config = HubConfig.model_validate(yaml.safe_load(block.body))
    node = config.sites[0].nodes[0]
    for _, model in decoded_examples():
        if isinstance(model, Badge | BleWindow | Sensor):
            assert model.room in node.rooms


def test_example_badge_credential_is_a_test_vector() -> None:
    credentials = {row[3] for row in credential_vectors()}
    badges = [m for _, m in decoded_examples() if isinstance(m, Badge)]
    assert badges
    assert all(b.credential in credentials for b in badges)


def test_example_feedback_answers_the_example_badge() -> None:
    models = [m for _, m in decoded_examples()]
    badge_ids = {m.id for m in models if isinstance(m, Badge)}
    feedback = [m for m in models if isinstance(m, FeedbackCommand)]
    assert feedback
    assert all(f.badge_id in badge_ids for f in feedback)


def test_topic_examples_parse() -> None:
    topics = Topics()
    parsed = [topics.parse(line) for line in block_after("topic-examples").body.split()]
    node_kinds = {p.kind for p in parsed if isinstance(p, NodeTopic)}
    assert node_kinds == {*EdgeKind, *HubKind}
    assert HubStatusTopic() in parsed
    assert any(isinstance(p, OccupancyTopic) for p in parsed)


def test_schema_links_point_at_committed_schemas() -> None:
    linked = set(re.findall(r"\(schemas/([a-z]+\.schema\.json)\)", read_doc()))
    committed = {p.name for p in (FOLDER / "schemas").glob("*.schema.json")}
    assert linked == committed


def test_credential_table_has_enough_vectors() -> None:
    rows = credential_vectors()
    assert len(rows) >= 3
    assert len({row[0] for row in rows}) >= 2, "vectors should use more than one key"
    assert any(row[1] != row[2] for row in rows), "a vector should show normalisation"


@pytest.mark.parametrize(("key", "uid", "message", "credential"), credential_vectors())
def test_credential_vector(key: str, uid: str, message: str, credential: str) -> None:
    assert normalise_uid(uid) == message
    assert credential_for(key, uid) == credential
    assert credential_for(key, bytes.fromhex(message)) == credential
