"""Why a message is rejected: a closed set of reasons, counted one by one at the hub."""

from __future__ import annotations

from enum import StrEnum


class RejectReason(StrEnum):
    """Reason a message was not accepted; used as a metric label, so the set stays small."""

    TOO_LARGE = "too_large"
    MALFORMED_JSON = "malformed_json"
    INVALID_PAYLOAD = "invalid_payload"
    UNKNOWN_TOPIC = "unknown_topic"
    UNKNOWN_NODE = "unknown_node"
    ROOM_MISMATCH = "room_mismatch"


class Rejected(ValueError):
    """A message that does not follow the contract: a reason for counting, a detail for logs."""

    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail
