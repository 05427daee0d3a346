"""Epoch milliseconds, exactly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from edge.clock import epoch_ms, utc_now


def test_epoch_ms_is_exact() -> None:
    at = datetime(2025, 3, 14, 9, 30, 0, 123_999, tzinfo=UTC)
    assert epoch_ms(at) == 1_741_944_600_123
    paris = at.astimezone(timezone(timedelta(hours=1)))
    assert epoch_ms(paris) == 1_741_944_600_123


def test_epoch_ms_refuses_naive_times() -> None:
    with pytest.raises(ValueError, match="naive"):
        epoch_ms(datetime(2025, 3, 14))


def test_utc_now_is_aware() -> None:
    assert utc_now().tzinfo is UTC
