"""Turning bytes on the wire into payload models and back, with the contract's rejections."""

from __future__ import annotations

import json
from typing import Final, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

from vivant.wire.errors import Rejected, RejectReason
from vivant.wire.payloads import (
    MAX_PAYLOAD_BYTES,
    Badge,
    BleWindow,
    Command,
    NodeConfig,
    Sensor,
    Status,
    Telemetry,
)
from vivant.wire.topics import EdgeKind

EdgePayload = Badge | BleWindow | Sensor | Telemetry
_EDGE_MODELS: Final[dict[EdgeKind, type[EdgePayload]]] = {
    EdgeKind.BADGE: Badge,
    EdgeKind.BLE: BleWindow,
    EdgeKind.SENSOR: Sensor,
    EdgeKind.TELEMETRY: Telemetry,
}
M = TypeVar("M", bound=BaseModel)
_COMMAND: Final[TypeAdapter[Command]] = TypeAdapter(Command)


def encode(payload: BaseModel) -> bytes:
    """Serialise a payload model as compact JSON (``None`` fields left out)."""
    return payload.model_dump_json(exclude_none=True).encode("utf-8")


def _check_size(raw: bytes) -> None:
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise Rejected(RejectReason.TOO_LARGE, f"{len(raw)} bytes > {MAX_PAYLOAD_BYTES}")


def _summary(error: ValidationError) -> str:
    """A short, log-safe description: field paths and messages, never the input values."""
    parts = []
    for item in error.errors(include_input=False, include_url=False)[:5]:
        where = ".".join(str(p) for p in item["loc"]) or "payload"
        message = item["msg"]
        if item["type"] == "union_tag_invalid":  # pydantic quotes the input tag in its message
            context = item.get("ctx") or {}
            message = (
                f"{context.get('discriminator')} must be one of {context.get('expected_tags')}"
            )
        parts.append(f"{where}: {message}")
    return "; ".join(parts)


def _rejection(error: ValidationError) -> Rejected:
    if any(e["type"] == "json_invalid" for e in error.errors()):
        return Rejected(RejectReason.MALFORMED_JSON, _summary(error))
    return Rejected(RejectReason.INVALID_PAYLOAD, _summary(error))


def _validate(model: type[M], raw: bytes) -> M:
    _check_size(raw)
    try:
        return model.model_validate_json(raw)
    except ValidationError as error:
        raise _rejection(error) from None


def decode_status(raw: bytes) -> Status:
    """Decode a plain-text ``online`` / ``offline`` status."""
    _check_size(raw)
    try:
        return Status(raw.decode("utf-8").strip())
    except (UnicodeDecodeError, ValueError):
        raise Rejected(RejectReason.INVALID_PAYLOAD, "status must be online or offline") from None


def decode_edge(kind: EdgeKind, raw: bytes) -> EdgePayload:
    """Decode what a node published on a ``badge``, ``ble``, ``sensor`` or ``telemetry`` topic."""
    model = _EDGE_MODELS.get(kind)
    if model is None:
        raise ValueError(f"{kind.value} is not a JSON edge payload")
    return _validate(model, raw)


def decode_config(raw: bytes) -> NodeConfig:
    """Decode a node's retained ``config``."""
    return _validate(NodeConfig, raw)


def decode_command(raw: bytes) -> Command:
    """Decode a ``command`` sent by the hub to a node."""
    _check_size(raw)
    try:
        return _COMMAND.validate_json(raw)
    except ValidationError as error:
        raise _rejection(error) from None


def dumps_schema(model: type[BaseModel] | TypeAdapter[Command]) -> str:
    """JSON Schema of a payload, as committed under ``firmware-config/schemas/``."""
    schema = model.json_schema() if isinstance(model, TypeAdapter) else model.model_json_schema()
    return json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
