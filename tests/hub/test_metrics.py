"""Rejections are logged without flooding the journal."""

from __future__ import annotations

import logging

import pytest

from hub.metrics import LogLimiter


def test_log_limiter_logs_a_few_then_summarises(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    limiter = LogLimiter(logging.getLogger("test.limiter"), per_period=3, period_s=60)
    limiter._clock = lambda: now[0]
    with caplog.at_level(logging.WARNING, logger="test.limiter"):
        for index in range(100):
            limiter.warning("malformed_json", "rejected %d", index)
        assert [r.getMessage() for r in caplog.records] == [
            "rejected 0",
            "rejected 1",
            "rejected 2",
        ]
        now[0] = 61.0
        limiter.warning("malformed_json", "rejected %d", 100)
    assert [r.getMessage() for r in caplog.records][3:] == [
        "97 more malformed_json messages in the last 61 s",
        "rejected 100",
    ]


def test_log_limiter_counts_each_key_on_its_own(caplog: pytest.LogCaptureFixture) -> None:
    limiter = LogLimiter(logging.getLogger("test.limiter"), per_period=1)
    with caplog.at_level(logging.WARNING, logger="test.limiter"):
        for _ in range(5):
            limiter.warning("too_large", "too large")
            limiter.warning("unknown_node", "unknown node")
    assert [r.getMessage() for r in caplog.records] == ["too large", "unknown node"]
