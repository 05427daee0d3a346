"""Fixtures shared by the whole suite: real brokers and isolated topic roots."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.databases import temporary_database
from tests.support.mosquitto import (
    SYSTEM_HOST,
    SYSTEM_PORT,
    PrivateBroker,
    private_broker,
    wait_for_port,
)


@pytest.fixture
def topic_root() -> str:
    """A topic root of this test's own, so tests on the shared broker never see each other."""
    return f"t{secrets.token_hex(4)}/vivant/v1"


@pytest.fixture
def system_broker_url() -> str:
    """The machine's Mosquitto on 127.0.0.1:1883 (started before the suite, as in production)."""
    try:
        wait_for_port(SYSTEM_HOST, SYSTEM_PORT, timeout=3)
    except TimeoutError:
        pytest.fail("Mosquitto is not running on 127.0.0.1:1883: run the README test command")
    return f"mqtt://{SYSTEM_HOST}:{SYSTEM_PORT}"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[PrivateBroker]:
    """A private Mosquitto on a free port that the test may stop and restart."""
    with private_broker(tmp_path / "mosquitto") as running:
        yield running


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: every storage test runs on SQLite and on PostgreSQL."""
    with temporary_database(request.param, tmp_path) as url:
        yield url
