"""Hub test fixtures: a migrated database with the test site."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session, sessionmaker

from hub.config import HubConfig
from hub.db.engine import make_engine, make_sessionmaker
from hub.db.migrate import upgrade
from hub.sites import sync_sites
from tests.support.hub_server import hub_config


@pytest.fixture
def site_config(db_url: str) -> HubConfig:
    """The one-site test configuration on this test's database, the site in Paris.

    The tests using it work on fixed dates (daylight saving and week boundaries in Paris), not
    on the wall clock: see :data:`tests.support.hub_server.SITE_ZONE`.
    """
    return hub_config("mqtt://127.0.0.1:1883", "vivant/v1", db_url, timezone="Europe/Paris")


@pytest.fixture
def sessions(site_config: HubConfig) -> Iterator[sessionmaker[Session]]:
    """Sessions on a migrated database (SQLite and PostgreSQL) holding the test site."""
    engine = make_engine(site_config.database.url)
    upgrade(engine)
    factory = make_sessionmaker(engine)
    with factory.begin() as session:
        sync_sites(session, site_config)
    yield factory
    engine.dispose()
