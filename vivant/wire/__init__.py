"""Wire contract v1: the only code both the edge agent and the hub import.

Topics (:mod:`.topics`), payload models (:mod:`.payloads`), badge credentials
(:mod:`.credential`), encoding and rejection rules (:mod:`.codec`, :mod:`.errors`). The human
description for firmware authors is ``firmware-config/PROTOCOL.md``; the JSON Schemas in
``firmware-config/schemas/`` are generated from these models.
"""

from vivant.wire.codec import decode_command, decode_config, decode_edge, decode_status, encode
from vivant.wire.credential import credential_for, normalise_uid
from vivant.wire.errors import Rejected, RejectReason
from vivant.wire.payloads import (
    MAX_PAYLOAD_BYTES,
    Badge,
    BleWindow,
    Command,
    EnrolModeCommand,
    Feedback,
    FeedbackCommand,
    NodeConfig,
    Occupancy,
    Sensor,
    SensorKind,
    Status,
    TagReading,
    Telemetry,
)
from vivant.wire.topics import (
    DEFAULT_ROOT,
    EdgeKind,
    HubKind,
    HubStatusTopic,
    NodeTopic,
    OccupancyTopic,
    TopicError,
    Topics,
)

CONTRACT_VERSION = 1

__all__ = [
    "CONTRACT_VERSION",
    "DEFAULT_ROOT",
    "MAX_PAYLOAD_BYTES",
    "Badge",
    "BleWindow",
    "Command",
    "EdgeKind",
    "EnrolModeCommand",
    "Feedback",
    "FeedbackCommand",
    "HubKind",
    "HubStatusTopic",
    "NodeConfig",
    "NodeTopic",
    "Occupancy",
    "OccupancyTopic",
    "RejectReason",
    "Rejected",
    "Sensor",
    "SensorKind",
    "Status",
    "TagReading",
    "Telemetry",
    "TopicError",
    "Topics",
    "credential_for",
    "decode_command",
    "decode_config",
    "decode_edge",
    "decode_status",
    "encode",
    "normalise_uid",
]
