"""Wall-clock time as the edge sees it, injectable so tests and demos control it.

Every observation is stamped with an aware UTC datetime when it happens (a tap), and turned into
epoch milliseconds only when its wire payload is built, possibly hours later from the outbox.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)

Clock = Callable[[], datetime]
"""Returns the current time as an aware UTC datetime."""


def utc_now() -> datetime:
    """The system clock, as an aware UTC datetime."""
    return datetime.now(UTC)


def epoch_ms(at: datetime) -> int:
    """Epoch milliseconds of an aware datetime (``ValueError`` if it is naive)."""
    if at.tzinfo is None:
        raise ValueError("a naive datetime has no defined epoch time")
    # Integer arithmetic: float timestamps can round 0.123 s down to 122 ms.
    return (at - _EPOCH) // _MS
